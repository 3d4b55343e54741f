"""doccano JSONL: both export shapes, the relation export, the joint shape mrekit writes."""

from __future__ import annotations

import json
import logging

import pytest

from mrekit import Example, MrekitError, Span, formats
from mrekit.formats import doccano
from mrekit.schema import Relation

TEXT = "大月はキングレコードの社員"


def write_lines(path, records: list) -> None:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_sequence_labelling_export(tmp_path):
    path = tmp_path / "seq.jsonl"
    write_lines(
        path,
        [
            {"id": 1, "text": "なし", "label": []},  # read before the file's shape is known
            "",
            {"id": 2, "text": TEXT, "label": [[0, 2, "人名"], [3, 10, "法人名"]], "Comments": []},
        ],
    )
    first, second = doccano.read(path)
    assert (first.id, first.spans, first.labels) == ("1", [], [])
    assert second.id == "2" and second.labels == []
    assert [(second.surface(s), s.label) for s in second.spans] == [("大月", "人名"), ("キングレコード", "法人名")]
    assert formats.infer_format(path) == "doccano"


def test_text_classification_export(tmp_path):
    path = tmp_path / "cls.jsonl"
    write_lines(path, [{"text": "meh", "label": []}, {"text": "great", "label": ["pos", "short"]}])
    first, second = doccano.read(path)
    assert (first.labels, first.spans) == ([], None)
    assert (second.labels, second.spans) == (["pos", "short"], None)


def test_relation_export(tmp_path):
    path = tmp_path / "rel.jsonl"
    record = {
        "id": 9,
        "text": TEXT,
        "entities": [
            {"id": 11, "label": "人名", "start_offset": 0, "end_offset": 2},
            {"id": 12, "label": "法人名", "start_offset": 3, "end_offset": 10},
        ],
        "relations": [{"id": 5, "from_id": 11, "to_id": 12, "type": "所属"}],
    }
    write_lines(path, [record])
    (example,) = doccano.read(path)
    assert example.spans == [Span(0, 2, "人名"), Span(3, 10, "法人名")]
    assert example.relations == [Relation(0, 1, "所属")]


def test_joint_shape_is_written_and_round_trips(tmp_path):
    examples = [
        Example(TEXT, id="a", labels=["人事"], spans=[Span(0, 2, "人名"), Span(3, 10, "法人名")]),
        Example("no spans here", labels=["x"], spans=[]),
        Example("text level only", labels=["y"]),
        Example(TEXT, spans=[Span(0, 2, "人名"), Span(3, 10, "法人名")], relations=[Relation(0, 1, "所属")]),
        Example("meta", meta={"lang": "en"}),
    ]
    out = tmp_path / "joint.jsonl"
    assert doccano.write(examples, out) == 5
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == (
        '{"id": "a", "text": "大月はキングレコードの社員", '
        '"label": [[0, 2, "人名"], [3, 10, "法人名"]], "cats": ["人事"]}'
    )
    assert json.loads(lines[1]) == {"text": "no spans here", "label": [], "cats": ["x"]}
    assert json.loads(lines[2]) == {"text": "text level only", "cats": ["y"]}
    assert json.loads(lines[3])["relations"] == [{"id": 0, "from_id": 0, "to_id": 1, "type": "所属"}]
    assert list(doccano.read(out)) == examples
    assert formats.infer_format(out) == "doccano"


def test_what_doccano_cannot_hold_is_a_warning(tmp_path, caplog):
    example = Example("ab", labels=["x"], label_scores={"x": 0.9}, spans=[Span(0, 1, "a", attrs={"k": 1})])
    with caplog.at_level(logging.WARNING, logger="mrekit"):
        doccano.write([example, example], tmp_path / "d.jsonl")
    assert "[W131]" in caplog.text
    assert "span attributes of 2 example(s), scores of 2 example(s)" in caplog.text


@pytest.mark.parametrize(
    ("line", "code", "field"),
    [
        ('{"text": "ab", "label": [[0, 9, "x"]]}', "E110", "spans[0]"),
        ('{"text": "ab", "label": [[1, 1, "x"]]}', "E111", "spans[0]"),
        ('{"text": "ab", "label": ["pos"]}', "E104", "label[0]"),  # a span file with a text label
        ('{"text": "ab", "label": [[0, "1", "x"]]}', "E104", "label[0]"),
        ('{"label": [[0, 1, "x"]]}', "E104", "text"),
        (
            '{"text": "ab", "label": [[0, 1, "x"]], "relations": [{"from_id": 0, "to_id": 3, "type": "r"}]}',
            "E114",
            "relations[0]",
        ),
        ('{"text": "ab", "label": [[0, 1, "x"]], "cats": "pos"}', "E104", "cats"),
        ('{"text": "ab", "entities": [{"label": "x", "start_offset": 0}]}', "E104", "entities[0]"),
    ],
)
def test_bad_lines_give_coded_errors_with_file_and_line(tmp_path, line, code, field):
    path = tmp_path / "bad.jsonl"
    write_lines(path, ['{"text": "fine", "label": [[0, 4, "x"]]}', "", line])
    with pytest.raises(MrekitError) as err:
        list(doccano.read(path))
    assert (err.value.code, err.value.path, err.value.line, err.value.field) == (code, str(path), 3, field)


def test_classification_file_with_a_span_line(tmp_path):
    path = tmp_path / "mixed.jsonl"
    write_lines(path, ['{"text": "a", "label": ["pos"]}', '{"text": "ab", "label": [[0, 1, "x"]]}'])
    with pytest.raises(MrekitError) as err:
        list(doccano.read(path))
    assert (err.value.code, err.value.line, err.value.field) == ("E104", 2, "label")


def test_malformed_and_empty_files(tmp_path):
    path = tmp_path / "bad.jsonl"
    write_lines(path, ['{"text": "a", "label": []}', '{"text": '])
    with pytest.raises(MrekitError) as err:
        list(doccano.read(path))
    assert (err.value.code, err.value.line) == ("E103", 2)
    path.write_text("\n")
    with pytest.raises(MrekitError) as err:
        list(doccano.read(path))
    assert err.value.code == "E101"


def test_mrekit_jsonl_is_not_taken_for_doccano(tmp_path):
    path = tmp_path / "m.jsonl"
    write_lines(path, [{"text": "a", "label": "greet"}, {"text": "b", "labels": ["x"], "spans": []}])
    assert formats.infer_format(path) == "jsonl"
    write_lines(path, [{"text": "a", "labels": ["x"], "label": ["y"]}])
    assert formats.infer_format(path) == "jsonl"
