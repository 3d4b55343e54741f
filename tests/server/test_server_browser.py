"""End to end: uvicorn serving a tiny model, the demo page driven by headless Chromium.

Needs ``/usr/bin/chromium`` (``.ci/install-browser.sh``) and the ``playwright`` package;
Playwright's own browser downloads are never used. Set ``MREKIT_SAVE_SCREENSHOT=1`` to
also write the screenshot to ``docs/demo.png``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (uvicorn) is not installed")

from browser_support import CHROMIUM, CHROMIUM_ARGS, require_browser, serving  # noqa: E402

import mrekit  # noqa: E402
from mrekit.encoder.model import MREModel  # noqa: E402
from mrekit.server.app import create_app  # noqa: E402
from mrekit.trainer import TrainingArguments  # noqa: E402

SENTENCE = "add sabrina salerno to the grime instrumentals playlist"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "demo.png"
ARGS = TrainingArguments(
    epochs=25, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3, threads=1
)


@pytest.fixture(scope="module")
def server_url(snips_mini, tiny_encoder, tmp_path_factory):
    """uvicorn on 127.0.0.1 (a free port) in a background thread, serving a tiny trained model."""
    require_browser()
    import torch

    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("browser-run")
    model = MREModel(mode="mre", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=ARGS, output_dir=out)
    app = create_app(mrekit.load(model.save(out / "model")))
    with serving(app, "mrekit-test-server") as url:
        yield url
    torch.set_num_threads(threads)


def test_demo_page_shows_label_banner_and_highlighted_spans(server_url, tmp_path):
    sync_playwright = require_browser()
    outside_requests: list[str] = []
    console_errors: list[str] = []  # e.g. a Content-Security-Policy violation
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 640})
            page.on("request", lambda r: None if r.url.startswith(server_url) else outside_requests.append(r.url))
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            response = page.goto(server_url + "/")
            assert "script-src 'self'" in response.headers["content-security-policy"]
            page.fill("#text-input", SENTENCE)
            page.click("#extract-button")
            page.wait_for_selector("#rendered mark.entity", timeout=15_000)

            banner = page.inner_text("#labels-banner")
            assert "AddToPlaylist" in banner and "%" in banner
            marks = page.locator("#rendered mark.entity")
            found = [
                (marks.nth(i).locator(".entity-text").inner_text(), marks.nth(i).get_attribute("data-label"))
                for i in range(marks.count())
            ]
            assert ("sabrina salerno", "artist") in found
            assert ("grime instrumentals", "playlist") in found
            artist = page.locator('#rendered mark.entity[data-label="artist"]').first
            assert artist.locator(".entity-label").inner_text().lower() == "artist"
            assert artist.get_attribute("title").startswith("artist · score 0.")
            colours = {m.get_attribute("data-label"): m.evaluate("e => e.style.background") for m in marks.all()}
            assert colours["artist"] and colours["artist"] != colours["playlist"]
            # the whole text is still there, spans in place
            assert page.inner_text("#rendered").replace("ARTIST", "").replace("PLAYLIST", "").split() == (
                SENTENCE.split()
            )

            shot = tmp_path / "demo.png"
            page.screenshot(path=str(shot), full_page=True)  # the raw JSON still folded away
            assert not page.is_visible("#raw-json")
            page.click("#raw summary")
            assert '"AddToPlaylist"' in page.inner_text("#raw-json")
        finally:
            browser.close()
    assert outside_requests == []
    assert console_errors == []  # the page runs under the server's Content-Security-Policy
    assert shot.stat().st_size > 10_000
    if os.environ.get("MREKIT_SAVE_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_demo_page_shows_api_errors(server_url):
    sync_playwright = require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(server_url + "/")
            page.fill("#text-input", "x" * 5001)
            page.click("#extract-button")
            page.wait_for_selector("#error:not([hidden])", timeout=15_000)
            assert "422" in page.inner_text("#error") and "limit of 5000" in page.inner_text("#error")
        finally:
            browser.close()
