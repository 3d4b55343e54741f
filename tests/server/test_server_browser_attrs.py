"""End to end: the demo page shows span and text-label attributes (ABSA polarity) with their scores.

Set up as in ``test_server_browser.py`` (``/usr/bin/chromium`` and the ``playwright``
package, never Playwright's own browser downloads; skipped without them). No model is
trained: the server wraps a fake model whose ``predict`` answers fixed examples, so the
attributes, their scores and the colours the page must show are known.
"""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("fastapi", reason="the server extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (uvicorn) is not installed")

from browser_support import CHROMIUM, CHROMIUM_ARGS, require_browser, serving  # noqa: E402

from mrekit import Example, Span  # noqa: E402
from mrekit.server.app import create_app  # noqa: E402

ABSA = "The pizza was great but the waiter was rude."
#: "🍜" is one code point but two UTF-16 units: the spans after it must not shift.
ASTRAL = "🍜の麺は最高だが、店員は無愛想。"
PLAIN = "play muse"


def _span(text: str, surface: str, label: str, **kwargs) -> Span:
    start = text.index(surface)
    return Span(start, start + len(surface), label, **kwargs)


ANSWERS = {
    ABSA: Example(
        ABSA,
        labels=["food", "service", "ambience"],
        label_scores={"food": 0.93, "service": 0.81, "ambience": 0.66, "price": 0.05},
        label_attrs={
            "food": {"polarity": "positive"},
            "service": {"polarity": "negative"},
            "ambience": {"polarity": "conflict"},
        },
        label_attr_scores={
            "food": {"polarity": {"positive": 0.8, "negative": 0.15, "neutral": 0.05}},
            "service": {"polarity": {"negative": 0.7, "positive": 0.2, "neutral": 0.1}},
            "ambience": {"polarity": {"conflict": 0.55, "positive": 0.45}},
        },
        spans=[
            _span(ABSA, "pizza", "aspect", score=0.97, attrs={"polarity": "positive"},
                  attr_scores={"polarity": {"positive": 0.88, "negative": 0.07, "neutral": 0.05}}),
            _span(ABSA, "great", "opinion", score=0.6, attrs={"tense": "past"}),
            _span(ABSA, "waiter", "aspect", score=0.9, attrs={"polarity": "negative"},
                  attr_scores={"polarity": {"negative": 0.91, "positive": 0.06, "neutral": 0.03}}),
            _span(ABSA, "rude", "opinion", score=0.7),
        ],
    ),
    ASTRAL: Example(
        ASTRAL,
        labels=["料理"],
        label_scores={"料理": 0.9},
        label_attrs={"料理": {"polarity": "positive"}},
        label_attr_scores={"料理": {"polarity": {"positive": 0.75, "negative": 0.25}}},
        spans=[
            _span(ASTRAL, "麺", "aspect", attrs={"polarity": "positive"}, attr_scores={"polarity": {"positive": 0.8}}),
            _span(ASTRAL, "店員", "aspect", attrs={"polarity": "neutral"}, attr_scores={"polarity": {"neutral": 0.6}}),
        ],
    ),
    PLAIN: Example(PLAIN, labels=["PlayMusic"], label_scores={"PlayMusic": 0.9},
                   spans=[Span(5, 9, "artist", score=0.5)]),
}  # fmt: skip


class FixedModel:
    """Answers the texts of :data:`ANSWERS` with copies of their examples."""

    def predict(self, texts: list[str]) -> list[Example]:
        return [copy.deepcopy(ANSWERS[text]) for text in texts]


# The text shown in #rendered without the label chips and the attribute badges.
_DISPLAYED_JS = """el => {
  const clone = el.cloneNode(true);
  clone.querySelectorAll('.entity-label, .attr').forEach(n => n.remove());
  return clone.textContent;
}"""


def test_fixed_answers_are_literal():
    assert [(ABSA[s.start : s.end], s.start) for s in ANSWERS[ABSA].spans] == [
        ("pizza", 4),
        ("great", 14),
        ("waiter", 28),
        ("rude", 39),
    ]
    assert [(s.start, s.end) for s in ANSWERS[ASTRAL].spans] == [(2, 3), (9, 11)]


@pytest.fixture(scope="module")
def server_url():
    """uvicorn on 127.0.0.1 (a free port) in a background thread, serving :class:`FixedModel`."""
    require_browser()
    with serving(create_app(FixedModel()), "mrekit-test-server-attrs") as url:
        yield url


@pytest.fixture
def page(server_url):
    """A headless Chromium page on the demo; no outside requests and no console errors allowed."""
    sync_playwright = require_browser()
    outside: list[str] = []
    console_errors: list[str] = []  # e.g. a Content-Security-Policy violation
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 640})
            page.on("request", lambda r: None if r.url.startswith(server_url) else outside.append(r.url))
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.goto(server_url + "/")
            yield page
        finally:
            browser.close()
    assert outside == []
    assert console_errors == []


def _extract(page, text: str) -> None:
    page.fill("#text-input", text)
    page.click("#extract-button")
    page.wait_for_selector("#result:not([hidden])", timeout=15_000)
    page.wait_for_function("t => document.getElementById('raw-json').textContent.includes(t)", arg=text[:5])


def _badges(locator) -> list[tuple[str, str, str, str]]:
    """``(text, data-attr, class, title)`` of every attribute badge under ``locator``."""
    found = locator.locator(".attr")
    return [
        (
            found.nth(i).inner_text(),
            found.nth(i).get_attribute("data-attr"),
            found.nth(i).get_attribute("class"),
            found.nth(i).get_attribute("title"),
        )
        for i in range(found.count())
    ]


def _rgb(locator) -> tuple[int, ...]:
    colour = locator.evaluate("e => getComputedStyle(e).backgroundColor")  # "rgb(r, g, b)"
    return tuple(int(part) for part in colour[colour.index("(") + 1 : -1].split(","))


def test_span_marks_show_attribute_badges_with_scores(page):
    _extract(page, ABSA)
    marks = page.locator("#rendered mark.entity")
    assert marks.count() == 4
    assert _badges(marks.nth(0)) == [("positive", "polarity", "attr polarity-positive", "polarity: positive · 88.0%")]
    assert _badges(marks.nth(1)) == [("past", "tense", "attr", "tense: past")]  # not polarity: neutral styling
    assert _badges(marks.nth(2)) == [("negative", "polarity", "attr polarity-negative", "polarity: negative · 91.0%")]
    assert _badges(marks.nth(3)) == []  # no attributes, no badge
    assert marks.nth(2).locator(".entity-text").inner_text() == "waiter"
    assert marks.nth(2).get_attribute("title") == "aspect · score 0.900"  # the mark's own title is unchanged

    negative = marks.nth(2).locator(".attr")
    negative.hover()  # the badge is visible and on top, so its title is the tooltip shown
    assert page.evaluate("() => document.querySelectorAll('.attr:hover').length") == 1
    red, green, blue = _rgb(negative)
    assert red > green and red > blue
    red, green, blue = _rgb(marks.nth(0).locator(".attr"))
    assert green > red and green > blue
    assert _rgb(marks.nth(1).locator(".attr")) == (255, 255, 255)
    assert page.locator("#rendered").evaluate(_DISPLAYED_JS) == ABSA  # badges add no text between spans


def test_banner_shows_text_label_attributes_with_scores(page):
    _extract(page, ABSA)
    items = page.locator("#labels-banner .predicted")
    assert [items.nth(i).locator(".text-label").inner_text() for i in range(items.count())] == [
        "food",
        "service",
        "ambience",
    ]
    assert _badges(items.nth(0)) == [("positive", "polarity", "attr polarity-positive", "polarity: positive · 80.0%")]
    assert _badges(items.nth(1)) == [("negative", "polarity", "attr polarity-negative", "polarity: negative · 70.0%")]
    assert _badges(items.nth(2)) == [("conflict", "polarity", "attr polarity-other", "polarity: conflict · 55.0%")]
    red, green, blue = _rgb(items.nth(2).locator(".attr"))  # amber
    assert red > blue and green > blue
    assert _badges(page.locator("#labels-banner .others")) == []
    assert "price" in page.inner_text("#labels-banner .others")


def test_badges_after_characters_outside_the_bmp(page):
    _extract(page, ASTRAL)
    marks = page.locator("#rendered mark.entity")
    assert [marks.nth(i).locator(".entity-text").inner_text() for i in range(marks.count())] == ["麺", "店員"]
    assert _badges(marks.nth(1)) == [("neutral", "polarity", "attr polarity-neutral", "polarity: neutral · 60.0%")]
    assert page.locator("#rendered").evaluate(_DISPLAYED_JS) == ASTRAL
    assert _badges(page.locator("#labels-banner")) == [
        ("positive", "polarity", "attr polarity-positive", "polarity: positive · 75.0%")
    ]


def test_texts_without_attributes_render_as_before(page):
    _extract(page, ABSA)
    _extract(page, PLAIN)  # the badges of the previous text are gone
    assert page.locator(".attr").count() == 0
    mark = page.locator("#rendered mark.entity")
    assert mark.count() == 1
    assert mark.evaluate("e => Array.from(e.children, c => c.className)") == ["entity-text", "entity-label"]
    assert mark.get_attribute("title") == "artist · score 0.500"
    assert page.locator("#rendered").text_content() == "play museartist"
    assert page.locator("#labels-banner .predicted").evaluate("e => Array.from(e.children, c => c.className)") == [
        "text-label",
        "text-score",
    ]
