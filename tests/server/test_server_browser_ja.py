"""End to end in Japanese: uvicorn serving a tiny model, the demo page driven by headless Chromium.

Set up as in ``test_server_browser.py`` (``/usr/bin/chromium`` and the ``playwright``
package, never Playwright's own browser downloads; skipped without them). The model is
trained on the Japanese fixture sentences, so its spans are whatever it predicts: the test
with the real model checks only that the page and the API agree. For known spans, the
model's ``predict`` answers the texts of :data:`MOCKED` (deterministic) and passes every
other text to the real model.

Offsets in the API are Python ``str`` indices (code points); the page slices the text
in JavaScript, whose string indices are UTF-16 units: the two agree only while no
character before or inside a span lies outside the BMP ("𠮷", emoji).
"""

from __future__ import annotations

import copy
import json
import urllib.request

import pytest

pytest.importorskip("fastapi", reason="the server extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (uvicorn) is not installed")

from browser_support import CHROMIUM, CHROMIUM_ARGS, require_browser, serving  # noqa: E402

import mrekit  # noqa: E402
from mrekit import Example, Span  # noqa: E402
from mrekit.encoder.model import MREModel  # noqa: E402
from mrekit.server.app import create_app  # noqa: E402
from mrekit.trainer import TrainingArguments  # noqa: E402

SENTENCE = "東京都に住む山田さん"
#: BMP only: full-width digits and half-width katakana, which JavaScript counts as Python does.
BMP_SENTENCE = "２０２４年にｶﾀｶﾅの東京都へ行った山田さん"
#: "𠮷" (U+20BB7) and "🍜" (U+1F35C) are one code point each but two UTF-16 units.
ASTRAL_SENTENCE = "𠮷野家で🍜を食べた山田さん"
ARGS = TrainingArguments(
    epochs=15, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=0, threads=1
)


def _span(text: str, surface: str, label: str, score: float) -> Span:
    start = text.index(surface)
    return Span(start, start + len(surface), label, score=score)


def _mocked(text: str, spans: list[tuple[str, str, float]]) -> Example:
    return Example(
        text,
        labels=["住所"],
        label_scores={"住所": 0.91, "食事": 0.09},
        spans=[_span(text, surface, label, score) for surface, label, score in spans],
    )


MOCKED = {
    SENTENCE: _mocked(SENTENCE, [("東京都", "地名", 0.97), ("山田", "人名", 0.88)]),
    BMP_SENTENCE: _mocked(
        BMP_SENTENCE,
        [("２０２４年", "日付", 0.9), ("ｶﾀｶﾅ", "MISC", 0.8), ("東京都", "地名", 0.95), ("山田", "人名", 0.7)],
    ),
    ASTRAL_SENTENCE: _mocked(ASTRAL_SENTENCE, [("𠮷野家", "店名", 0.9), ("🍜", "料理", 0.8), ("山田", "人名", 0.7)]),
}
#: Texts the real model answers (not in MOCKED).
REAL_SENTENCE = "大阪府に住む佐藤さん"

# The text shown in #rendered without the label chips, and the number of times the
# visible page (labels, the textarea, scripts and the folded raw JSON left out) holds it.
_DISPLAYED_JS = """el => {
  const clone = el.cloneNode(true);
  clone.querySelectorAll('.entity-label').forEach(n => n.remove());
  return clone.textContent;
}"""
_COUNT_JS = """text => {
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll('.entity-label, textarea, script, #raw').forEach(n => n.remove());
  return clone.textContent.split(text).length - 1;
}"""


def test_mocked_offsets_are_literal():
    assert [s.key for s in MOCKED[SENTENCE].spans] == [(0, 3, "地名"), (6, 8, "人名")]
    assert [s.key for s in MOCKED[ASTRAL_SENTENCE].spans] == [(0, 3, "店名"), (4, 5, "料理"), (9, 11, "人名")]
    assert [s.key for s in MOCKED[BMP_SENTENCE].spans] == [
        (0, 5, "日付"),
        (6, 10, "MISC"),
        (11, 14, "地名"),
        (18, 20, "人名"),
    ]
    assert REAL_SENTENCE not in MOCKED


@pytest.fixture(scope="module")
def server_url(ja_examples, tiny_encoder, tmp_path_factory):
    """uvicorn on 127.0.0.1 (a free port) serving a tiny model trained on Japanese, MOCKED patched in."""
    require_browser()
    import torch

    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("browser-run-ja")
    model = MREModel(mode="shared", encoder=tiny_encoder).fit(ja_examples, ja_examples, args=ARGS, output_dir=out)
    loaded = mrekit.load(model.save(out / "model"))
    real_predict = loaded.predict

    def predict(texts, **options):
        rest = [text for text in texts if text not in MOCKED]
        answers = iter(real_predict(rest, **options) if rest else [])
        return [copy.deepcopy(MOCKED[text]) if text in MOCKED else next(answers) for text in texts]

    loaded.predict = predict  # before create_app, which hands model.predict to its batcher
    app = create_app(loaded)
    with serving(app, "mrekit-test-server-ja") as url:
        yield url
    torch.set_num_threads(threads)


def _post(url: str, text: str) -> dict:
    request = urllib.request.Request(
        url + "/v1/extract",
        data=json.dumps({"text": text}, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read().decode("utf-8"))


def _drawn(spans: list[dict]) -> list[dict]:
    """The spans the page draws: by start, longest first, later overlapping ones left out (app.js)."""
    drawn, cursor = [], 0
    for span in sorted(spans, key=lambda s: (s["start"], -s["end"])):
        if span["start"] >= cursor:
            drawn.append(span)
            cursor = span["end"]
    return drawn


class _Page:
    """One headless Chromium page on the demo, recording outside requests and console errors."""

    def __init__(self, p, server_url: str):
        self.server_url = server_url
        self.outside: list[str] = []
        self.console_errors: list[str] = []
        self.browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        self.page = self.browser.new_page(viewport={"width": 900, "height": 640}, locale="ja-JP")
        self.page.on("request", lambda r: None if r.url.startswith(server_url) else self.outside.append(r.url))
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.page.goto(server_url + "/")

    def extract(self, text: str, *, typed: bool = False) -> dict:
        """Enter ``text``, submit, wait for the result; the JSON body the page received."""
        page = self.page
        if typed:
            page.click("#text-input")
            page.keyboard.type(text)
        else:
            page.fill("#text-input", text)
        assert page.input_value("#text-input") == text
        with page.expect_response(lambda r: r.url == self.server_url + "/v1/extract") as info:
            page.click("#extract-button")
        response = info.value
        assert response.ok
        assert response.headers["content-type"].startswith("application/json")
        page.wait_for_selector("#result:not([hidden])", timeout=15_000)
        return json.loads(response.body().decode("utf-8"))

    def marks(self) -> list[tuple[str, str, str]]:
        """``(displayed span text, data-label, label chip text)`` of every highlighted span."""
        marks = self.page.locator("#rendered mark.entity")
        return [
            (
                marks.nth(i).locator(".entity-text").text_content(),
                marks.nth(i).get_attribute("data-label"),
                marks.nth(i).locator(".entity-label").text_content(),
            )
            for i in range(marks.count())
        ]

    def check_text_shown_once(self, text: str) -> None:
        page = self.page
        assert page.locator("#rendered").evaluate(_DISPLAYED_JS) == text  # unchanged, no inserted spaces
        assert page.evaluate(_COUNT_JS, text) == 1
        body = page.inner_text("body")
        assert "\ufffd" not in body and "ã" not in body and "æ" not in body  # no mojibake

    def close(self) -> None:
        self.browser.close()
        assert self.outside == []
        assert self.console_errors == []


def _check_consistent(page: _Page, text: str, body: dict) -> None:
    """The page shows exactly the spans the API returned, each at its offsets in ``text``."""
    assert body["text"] == text
    for span in body.get("spans") or []:
        assert 0 <= span["start"] < span["end"] <= len(text)
        assert span["text"] == text[span["start"] : span["end"]]  # the API's own surface, in code points
    expected = [(text[s["start"] : s["end"]], s["label"], s["label"]) for s in _drawn(body.get("spans") or [])]
    assert page.marks() == expected
    page.check_text_shown_once(text)
    raw = page.page.locator("#raw-json").text_content()
    assert json.loads(raw) == body


def test_real_model_on_typed_japanese_agrees_with_the_api(server_url, tmp_path):
    sync_playwright = require_browser()
    with sync_playwright() as p:
        page = _Page(p, server_url)
        try:
            body = page.extract(REAL_SENTENCE, typed=True)
            _check_consistent(page, REAL_SENTENCE, body)
            direct = _post(server_url, REAL_SENTENCE)  # the same text sent straight to the API
            assert [(s["start"], s["end"], s["label"]) for s in direct.get("spans") or []] == [
                (s["start"], s["end"], s["label"]) for s in body.get("spans") or []
            ]
            shot = tmp_path / "demo-ja-model.png"
            page.page.screenshot(path=str(shot), full_page=True)
        finally:
            page.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 0


def test_known_japanese_spans_are_highlighted_in_place(server_url, tmp_path):
    sync_playwright = require_browser()
    with sync_playwright() as p:
        page = _Page(p, server_url)
        try:
            body = page.extract(SENTENCE)
            assert body == MOCKED[SENTENCE].to_dict()
            assert [(s["start"], s["end"], s["text"]) for s in body["spans"]] == [(0, 3, "東京都"), (6, 8, "山田")]
            _check_consistent(page, SENTENCE, body)
            assert page.marks() == [("東京都", "地名", "地名"), ("山田", "人名", "人名")]
            # Spans and their chips in text order, nothing in between.
            assert page.page.inner_text("#rendered") == "東京都地名に住む山田人名さん"
            tokyo = page.page.locator('#rendered mark.entity[data-label="地名"]')
            assert tokyo.get_attribute("title") == "地名 · score 0.970"
            colours = {
                m.get_attribute("data-label"): m.evaluate("e => e.style.background")
                for m in page.page.locator("#rendered mark.entity").all()
            }
            assert colours["地名"] and colours["地名"] != colours["人名"]
            banner = page.page.inner_text("#labels-banner")
            assert "住所" in banner and "91.0%" in banner and "食事" in banner
            shot = tmp_path / "demo-ja.png"
            page.page.screenshot(path=str(shot), full_page=True)
        finally:
            page.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 0


def test_full_width_digits_and_half_width_katakana_are_highlighted_in_place(server_url):
    sync_playwright = require_browser()
    with sync_playwright() as p:
        page = _Page(p, server_url)
        try:
            body = page.extract(BMP_SENTENCE)
            _check_consistent(page, BMP_SENTENCE, body)
            assert [m[0] for m in page.marks()] == ["２０２４年", "ｶﾀｶﾅ", "東京都", "山田"]
        finally:
            page.close()


def test_spans_after_characters_outside_the_bmp_are_highlighted_in_place(server_url, tmp_path):
    sync_playwright = require_browser()
    with sync_playwright() as p:
        page = _Page(p, server_url)
        try:
            body = page.extract(ASTRAL_SENTENCE)
            assert [(s["start"], s["end"], s["text"]) for s in body["spans"]] == [
                (0, 3, "𠮷野家"),
                (4, 5, "🍜"),
                (9, 11, "山田"),
            ]
            page.page.screenshot(path=str(tmp_path / "demo-ja-astral.png"), full_page=True)
            assert page.marks() == [("𠮷野家", "店名", "店名"), ("🍜", "料理", "料理"), ("山田", "人名", "人名")]
            page.check_text_shown_once(ASTRAL_SENTENCE)
        finally:
            page.close()
