from __future__ import annotations

import json
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrekit import Example, MrekitError, Span
from mrekit.formats import jsonl


def write_lines(path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_read_write_round_trip(tmp_path):
    examples = [
        Example("play muse", id="1", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]),
        Example("松友美佐紀は選手", id="2", spans=[Span(0, 5, "人名")], meta={"lang": "ja"}),
    ]
    out = tmp_path / "a.jsonl"
    assert jsonl.write(examples, out) == 2
    lines = out.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[1])["spans"][0]["text"] == "松友美佐紀"  # written as characters, not \u escapes
    assert list(jsonl.read(out)) == examples


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "a.jsonl"
    write_lines(path, ['{"text": "a"}', "", '{"text": "b"}'])
    assert [e.text for e in jsonl.read(path)] == ["a", "b"]


@pytest.mark.parametrize(
    ("lines", "code", "line"),
    [
        (['{"text": "a"}', '{"text": "b"'], "E103", 2),
        (['{"text": "a"}', "", '{"labels": ["x"]}'], "E104", 3),
        (['{"text": "ab", "spans": [{"start": 1, "end": 5, "label": "x"}]}'], "E110", 1),
        (['{"text": "ab", "spans": [{"start": 1, "end": 2, "label": "x", "text": "a"}]}'], "E112", 1),
        (["", "  "], "E101", None),
    ],
)
def test_errors_carry_code_file_and_line(tmp_path, lines, code, line):
    path = tmp_path / "bad.jsonl"
    write_lines(path, lines)
    with pytest.raises(MrekitError) as info:
        list(jsonl.read(path))
    assert (info.value.code, info.value.line, info.value.path) == (code, line, str(path))


def test_non_utf8_bytes_are_located(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(MrekitError) as info:
        list(jsonl.read(path))
    assert str(info.value) == f"[E102] {path}:2: byte 0xe9 at column 14 is not UTF-8 (re-encode the file as UTF-8)"


def test_failed_write_leaves_nothing(tmp_path):
    out = tmp_path / "out.jsonl"

    def examples():
        yield Example("a")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        jsonl.write(examples(), out)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")

    def examples():
        yield Example("a")
        raise MrekitError("E110", "bad")

    with pytest.raises(MrekitError):
        jsonl.write(examples(), out)
    assert out.read_text() == "old\n" and len(list(tmp_path.iterdir())) == 1


def test_reading_is_lazy_and_constant_memory(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps({"text": "x" * 200, "labels": ["a"], "spans": [{"start": 0, "end": 3, "label": "b"}]})
    path.write_text((line + "\n") * 20000)
    reader = jsonl.read(path)
    next(reader)  # a generator: nothing is read before it is consumed
    tracemalloc.start()
    count = 1 + sum(1 for _ in reader)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 20000
    assert peak < 1_000_000  # the file is 5 MB; streaming keeps well under 1 MB


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@st.composite
def examples(draw):
    text = draw(_text)
    n = len(text)
    spans = None
    if draw(st.booleans()):
        spans = []
        for _ in range(draw(st.integers(0, 3))):
            start = draw(st.integers(0, n - 1))
            end = draw(st.integers(start + 1, n))
            spans.append(Span(start, end, draw(st.sampled_from(["a", "b-c", "人名"]))))
    labels = draw(st.lists(st.sampled_from(["x", "y/z", "意図"]), max_size=2, unique=True))
    return Example(text, id=draw(st.none() | st.text(max_size=5)), labels=labels, spans=spans)


@settings(max_examples=150, deadline=None)
@given(st.lists(examples(), min_size=1, max_size=4))
def test_property_jsonl_round_trip(tmp_path_factory, items):
    path = tmp_path_factory.mktemp("rt") / "x.jsonl"
    jsonl.write(items, path)
    assert list(jsonl.read(path)) == items
