"""End to end: the demo page lists relations and events below the text and links them to the span marks.

Set up as in ``test_server_browser.py`` (``/usr/bin/chromium`` and the ``playwright``
package, never Playwright's own browser downloads; skipped without them). No model is
trained: the server wraps a fake model whose ``predict`` answers fixed examples
(CoNLL04-style relations, a PHEE-style event, a Japanese text with a character outside
the BMP and an overlapping span), so the rows the page must show are known.
"""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("fastapi", reason="the server extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (uvicorn) is not installed")

from browser_support import CHROMIUM, CHROMIUM_ARGS, require_browser, serving  # noqa: E402

from mrekit import Example, Span  # noqa: E402
from mrekit.schema import Event, Relation  # noqa: E402
from mrekit.server.app import create_app  # noqa: E402

CONLL = "John Smith, a director at Acme Corp, lives in Boston."
PHEE = "The patient developed a rash after taking amoxicillin."
#: "🍜" is one code point but two UTF-16 units; "トヨタ" overlaps "トヨタ自動車" and gets no mark.
ASTRAL = "🍜好きの山田太郎はトヨタ自動車に勤めている。"
PLAIN = "play muse"


def _span(text: str, surface: str, label: str, **kwargs) -> Span:
    start = text.index(surface)
    return Span(start, start + len(surface), label, **kwargs)


ANSWERS = {
    CONLL: Example(
        CONLL,
        spans=[_span(CONLL, "John Smith", "Peop", score=0.98), _span(CONLL, "Acme Corp", "Org", score=0.95),
               _span(CONLL, "Boston", "Loc", score=0.97)],
        relations=[Relation(0, 1, "Work_For", score=0.912), Relation(1, 2, "Live_In", score=0.41)],
        meta={"inconsistent_relations": [1]},
    ),
    PHEE: Example(
        PHEE,
        labels=["adverse"],
        label_scores={"adverse": 0.9},
        spans=[_span(PHEE, "patient", "Subject"), _span(PHEE, "developed", "Trigger"),
               _span(PHEE, "rash", "Effect"), _span(PHEE, "amoxicillin", "Drug")],
        events=[Event(1, "Adverse_event", (("Subject", 0), ("Treatment", 3)))],
        meta={"inconsistent_arguments": [[0, 1]]},
    ),
    ASTRAL: Example(
        ASTRAL,
        spans=[_span(ASTRAL, "山田太郎", "Peop"), _span(ASTRAL, "トヨタ自動車", "Org"), _span(ASTRAL, "トヨタ", "Org")],
        relations=[Relation(0, 1, "Work_For", score=0.8), Relation(0, 2, "Work_For", score=0.3)],
    ),
    PLAIN: Example(PLAIN, labels=["PlayMusic"], label_scores={"PlayMusic": 0.9},
                   spans=[Span(5, 9, "artist", score=0.5)]),
}  # fmt: skip


class FixedModel:
    """Answers the texts of :data:`ANSWERS` with copies of their examples."""

    def predict(self, texts: list[str]) -> list[Example]:
        return [copy.deepcopy(ANSWERS[text]) for text in texts]


# The text shown in #rendered without the label chips.
_DISPLAYED_JS = """el => {
  const clone = el.cloneNode(true);
  clone.querySelectorAll('.entity-label, .attr').forEach(n => n.remove());
  return clone.textContent;
}"""
# The span indices of the marks that are highlighted as linked to the hovered row.
_LINKED_JS = "() => Array.from(document.querySelectorAll('#rendered mark.linked'), m => Number(m.dataset.span))"


def test_fixed_answers_are_literal():
    assert [CONLL[s.start : s.end] for s in ANSWERS[CONLL].spans] == ["John Smith", "Acme Corp", "Boston"]
    assert [(s.start, s.end) for s in ANSWERS[ASTRAL].spans] == [(4, 8), (9, 15), (9, 12)]


@pytest.fixture(scope="module")
def server_url():
    """uvicorn on 127.0.0.1 (a free port) in a background thread, serving :class:`FixedModel`."""
    require_browser()
    with serving(create_app(FixedModel()), "mrekit-test-server-structures") as url:
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
            page = browser.new_page(viewport={"width": 900, "height": 900})
            page.on("request", lambda r: None if r.url.startswith(server_url) else outside.append(r.url))
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda err: console_errors.append(str(err)))
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


def _texts(locator) -> list[str]:
    return [locator.nth(i).text_content() for i in range(locator.count())]


def _colour(locator) -> str:
    return locator.evaluate("e => e.style.background")


def test_relations_are_listed_with_scores_and_inconsistency(page):
    _extract(page, CONLL)
    assert page.is_visible("#structures") and page.is_visible("#relations") and not page.is_visible("#events")
    rows = page.locator("#relation-list li.relation")
    assert _texts(rows) == ["John Smith → Work_For → Acme Corp", "Acme Corp → Live_In → Boston"]
    assert rows.nth(0).get_attribute("title") == "Work_For: Peop → Org · score 0.912"
    assert rows.nth(1).get_attribute("title") == (
        "Live_In: Org → Loc · score 0.410 · these span types were never seen with this relation in training"
    )
    assert "inconsistent" not in rows.nth(0).get_attribute("class")
    assert "inconsistent" in rows.nth(1).get_attribute("class")
    # each chip has the colour of its span's mark
    marks = page.locator("#rendered mark.entity")
    assert [marks.nth(i).get_attribute("data-span") for i in range(marks.count())] == ["0", "1", "2"]
    head, tail = rows.nth(0).locator(".chip").all()
    assert _colour(head) == _colour(marks.nth(0)) and _colour(tail) == _colour(marks.nth(1))
    assert _colour(head) != _colour(tail)
    assert page.locator("#rendered").evaluate(_DISPLAYED_JS) == CONLL  # the text itself is unchanged


def test_hovering_a_row_highlights_its_span_marks(page):
    _extract(page, CONLL)
    rows = page.locator("#relation-list li")
    assert page.evaluate(_LINKED_JS) == []
    rows.nth(0).hover()
    assert page.evaluate(_LINKED_JS) == [0, 1]
    rows.nth(1).hover()  # moving to the next row moves the highlight
    assert page.evaluate(_LINKED_JS) == [1, 2]
    page.hover("header h1")
    assert page.evaluate(_LINKED_JS) == []
    rows.nth(0).focus()  # the keyboard gets the same
    assert page.evaluate(_LINKED_JS) == [0, 1]
    rows.nth(0).blur()
    assert page.evaluate(_LINKED_JS) == []


def test_events_are_listed_with_role_chips(page):
    _extract(page, PHEE)
    assert page.is_visible("#events") and not page.is_visible("#relations")
    rows = page.locator("#event-list li.event")
    assert rows.count() == 1
    row = rows.nth(0)
    assert row.text_content() == "Adverse_event developed Subject: patient Treatment: amoxicillin"
    assert row.locator(".event-type").text_content() == "Adverse_event"
    assert row.locator(".chip.trigger").text_content() == "developed"
    args = row.locator(".chip.arg")
    assert _texts(args) == ["Subject: patient", "Treatment: amoxicillin"]
    assert args.nth(0).get_attribute("title") == "Subject: Subject"
    assert "inconsistent" not in args.nth(0).get_attribute("class")
    assert args.nth(1).get_attribute("title") == (
        "Treatment: Drug · these span types were never seen with this role in training"
    )
    assert "inconsistent" in args.nth(1).get_attribute("class")
    marks = page.locator("#rendered mark.entity")
    assert _colour(args.nth(1)) == _colour(marks.nth(3))
    row.locator(".event-type").hover()
    assert page.evaluate(_LINKED_JS) == [0, 1, 3]  # trigger and arguments, not "rash"
    page.hover("header h1")
    assert page.evaluate(_LINKED_JS) == []


def test_japanese_text_outside_the_bmp_and_an_overlapping_span(page):
    _extract(page, ASTRAL)
    marks = page.locator("#rendered mark.entity")
    assert [marks.nth(i).locator(".entity-text").text_content() for i in range(marks.count())] == [
        "山田太郎",
        "トヨタ自動車",
    ]
    assert page.locator("#rendered").evaluate(_DISPLAYED_JS) == ASTRAL
    rows = page.locator("#relation-list li")
    assert _texts(rows) == ["山田太郎 → Work_For → トヨタ自動車", "山田太郎 → Work_For → トヨタ"]
    assert rows.nth(1).get_attribute("title") == "Work_For: Peop → Org · score 0.300"
    rows.nth(1).hover()  # the overlapping span has no mark: only the head lights up
    assert page.evaluate(_LINKED_JS) == [0]
    rows.nth(0).hover()
    assert page.evaluate(_LINKED_JS) == [0, 1]


def test_texts_without_relations_or_events_have_no_section(page):
    _extract(page, CONLL)
    _extract(page, PHEE)  # the previous text's relations are gone
    assert page.locator("#relation-list li").count() == 0 and not page.is_visible("#relations")
    _extract(page, PLAIN)
    assert not page.is_visible("#structures")
    assert page.locator("#structures li").count() == 0
    mark = page.locator("#rendered mark.entity")
    assert mark.evaluate("e => Array.from(e.children, c => c.className)") == ["entity-text", "entity-label"]
    assert page.locator("#rendered").text_content() == "play museartist"
    assert page.evaluate(_LINKED_JS) == []
