"""The README's screenshot of the web demo, taken with a real model.

    .venv/bin/python bench/demo_screenshot.py --model bench/runs/snips-mre-0/model-best

Serves the model on a free loopback port (the same app as ``mrekit serve``), types
a SNIPS-like sentence into the page in headless Chromium (``/usr/bin/chromium``,
driven by Playwright) and writes ``docs/demo.png``.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

import mrekit
from mrekit.server.app import create_app

ROOT = Path(__file__).resolve().parent
SENTENCE = "add the new album by sabrina salerno to my grime instrumentals playlist"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "runs" / "snips-mre-0" / "model-best")
    parser.add_argument("--text", default=SENTENCE)
    parser.add_argument("--out", type=Path, default=ROOT.parent / "docs" / "demo.png")
    args = parser.parse_args()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(mrekit.load(args.model)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 900, "height": 560})
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#text-input", args.text)
            page.click("#extract-button")
            page.wait_for_selector("#rendered mark.entity", timeout=15_000)
            page.hover("#rendered mark.entity >> nth=0")
            args.out.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
