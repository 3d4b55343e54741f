"""Label Studio JSON tasks: round trips, real export shapes, predictions, coded errors."""

from __future__ import annotations

import json
import logging

import pytest

from mrekit import Example, MrekitError, Span, formats
from mrekit.formats import labelstudio
from mrekit.schema import Relation


def japanese() -> Example:
    text = "かつては東京都三鷹市にオフィスを構えていたが、大月のキングレコード退職を機に事業を停止。"
    return Example(
        text,
        id="stockmark-846793",
        labels=["company"],
        spans=[Span(4, 10, "地名"), Span(23, 25, "人名"), Span(26, 33, "法人名")],
        relations=[Relation(1, 2, "所属"), Relation(2, 0, "所在地")],
        meta={"lang": "ja"},
    )


def english() -> Example:
    return Example(
        "Book a table at  Chez Panisse in Berkeley, please.",
        id="en-1",
        labels=["BookRestaurant", "polite"],
        spans=[Span(17, 29, "restaurant"), Span(33, 41, "city")],
        relations=[Relation(0, 1, "located_in")],
    )


def export(tasks: list[dict], tmp_path, name: str = "export.json"):
    path = tmp_path / name
    path.write_text(json.dumps(tasks, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def test_round_trip_keeps_offsets_labels_relations_and_japanese(tmp_path):
    out = tmp_path / "tasks.json"
    assert labelstudio.write([japanese(), english()], out) == 2
    got = list(labelstudio.read(out))
    assert got == [japanese(), english()]
    assert [(got[0].surface(s), s.label) for s in got[0].spans] == [
        ("東京都三鷹市", "地名"),
        ("大月", "人名"),
        ("キングレコード", "法人名"),
    ]
    assert "キングレコード" in out.read_text(encoding="utf-8")  # characters, not \u escapes
    assert formats.infer_format(out) == "labelstudio"
    assert not list(tmp_path.glob(".*.tmp"))


def test_written_task_has_label_studio_shape(tmp_path):
    out = tmp_path / "tasks.json"
    labelstudio.write([english()], out)
    (task,) = json.loads(out.read_text())
    assert task == {
        "data": {"text": english().text, "id": "en-1"},
        "annotations": [
            {
                "result": [
                    {
                        "id": "s0",
                        "from_name": "label",
                        "to_name": "text",
                        "type": "labels",
                        "value": {"start": 17, "end": 29, "text": "Chez Panisse", "labels": ["restaurant"]},
                    },
                    {
                        "id": "s1",
                        "from_name": "label",
                        "to_name": "text",
                        "type": "labels",
                        "value": {"start": 33, "end": 41, "text": "Berkeley", "labels": ["city"]},
                    },
                    {
                        "id": "c0",
                        "from_name": "choice",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["BookRestaurant", "polite"]},
                    },
                    {
                        "from_id": "s0",
                        "to_id": "s1",
                        "type": "relation",
                        "direction": "right",
                        "labels": ["located_in"],
                    },
                ]
            }
        ],
    }


def test_names_of_the_labelling_config_are_options(tmp_path):
    out = tmp_path / "tasks.json"
    labelstudio.write([english()], out, from_name="ner", choices_name="intent", to_name="utterance")
    result = json.loads(out.read_text())[0]["annotations"][0]["result"]
    assert {(r.get("from_name"), r.get("to_name")) for r in result} == {
        ("ner", "utterance"),
        ("intent", "utterance"),
        (None, None),
    }


def test_reads_a_label_studio_export(tmp_path, caplog):
    text = "大月はキングレコードの社員"
    tasks = [
        {
            "id": 41,
            "data": {"text": text},
            "annotations": [
                {"id": 1, "was_cancelled": True, "result": []},
                {
                    "id": 2,
                    "result": [
                        {
                            "id": "Xa1",
                            "from_name": "label",
                            "to_name": "text",
                            "type": "labels",
                            "origin": "manual",
                            "value": {"start": 0, "end": 2, "text": "大月", "labels": ["人名"]},
                        },
                        {
                            "id": "Yb2",
                            "from_name": "label",
                            "to_name": "text",
                            "type": "labels",
                            "value": {"start": 3, "end": 10, "text": "キングレコード", "labels": ["法人名", "組織"]},
                        },
                        {"from_id": "Yb2", "to_id": "Xa1", "type": "relation", "direction": "left", "labels": []},
                        {
                            "id": "t",
                            "from_name": "note",
                            "to_name": "text",
                            "type": "textarea",
                            "value": {"text": ["?"]},
                        },
                    ],
                },
            ],
            "predictions": [],
        },
        {"id": 42, "data": {"text": "まだ"}, "annotations": []},
        {"id": 43, "data": {"text": "なし", "id": "own-7"}, "annotations": [{"result": []}]},
    ]
    with caplog.at_level(logging.WARNING, logger="mrekit"):
        first, second, third = labelstudio.read(export(tasks, tmp_path))
    assert first.id == "41" and first.labels == []
    assert first.spans == [Span(0, 2, "人名"), Span(3, 10, "法人名"), Span(3, 10, "組織")]
    assert first.relations == [Relation(0, 1, "related")]  # "left": from Yb2 to Xa1 read reversed
    assert "[W130]" in caplog.text and "1 'textarea'" in caplog.text
    assert (second.id, second.spans) == ("42", None)  # not annotated yet
    assert (third.id, third.spans) == ("own-7", [])  # annotated: no spans


def test_classification_only_file_has_no_word_level(tmp_path):
    tasks = [
        {"data": {"text": "good"}, "annotations": [{"result": [{"type": "choices", "value": {"choices": ["pos"]}}]}]},
        {"data": {"text": "meh"}, "annotations": [{"result": []}]},
    ]
    first, second = labelstudio.read(export(tasks, tmp_path))
    assert (first.labels, first.spans) == (["pos"], None)
    assert (second.labels, second.spans) == ([], None)


def test_predictions_are_written_with_scores_and_read_back(tmp_path):
    pred = Example(
        "play muse",
        labels=["PlayMusic"],
        label_scores={"PlayMusic": 0.75, "GetWeather": 0.25},
        spans=[Span(5, 9, "artist", score=0.5)],
    )
    out = tmp_path / "pred.json"
    labelstudio.write([pred], out)
    (task,) = json.loads(out.read_text())
    assert "annotations" not in task
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == "mrekit" and prediction["score"] == 0.5
    assert [(r["type"], r["score"]) for r in prediction["result"]] == [("labels", 0.5), ("choices", 0.75)]
    (back,) = labelstudio.read(out)
    assert back.labels == ["PlayMusic"] and back.label_scores == {"PlayMusic": 0.75}
    assert back.spans == [Span(5, 9, "artist")] and back.spans[0].score == 0.5


def test_a_bare_example_is_a_task_to_label(tmp_path):
    out = tmp_path / "todo.json"
    labelstudio.write([Example("label me", meta={"batch": 3})], out)
    assert json.loads(out.read_text()) == [{"data": {"text": "label me"}, "meta": {"batch": 3}}]
    (back,) = labelstudio.read(out)
    assert back == Example("label me", meta={"batch": 3})


def test_what_label_studio_cannot_hold_is_a_warning(tmp_path, caplog):
    example = Example("ab", label_attrs={"x": {"p": 1}}, labels=["x"], spans=[Span(0, 1, "a", attrs={"k": 1})])
    with caplog.at_level(logging.WARNING, logger="mrekit"):
        labelstudio.write([example], tmp_path / "t.json")
    assert "[W131]" in caplog.text and "span attributes of 1 example(s)" in caplog.text


def test_existing_output_and_input_are_refused(tmp_path):
    out = tmp_path / "t.json"
    labelstudio.write([english()], out)
    with pytest.raises(MrekitError) as err:
        labelstudio.write([english()], out)
    assert err.value.code == "E170"
    with pytest.raises(MrekitError) as err:
        labelstudio.write([english()], out, overwrite=True, inputs=[out])
    assert err.value.code == "E172"
    assert labelstudio.write([japanese()], out, overwrite=True) == 1


def _task(text: str, *result: dict) -> dict:
    return {"data": {"text": text}, "annotations": [{"result": list(result)}]}


def _labels(start, end, label="x", **extra) -> dict:
    return {"id": f"r{start}", "type": "labels", "value": {"start": start, "end": end, "labels": [label], **extra}}


@pytest.mark.parametrize(
    ("second", "code", "field"),
    [
        ({"data": {"txt": "a"}}, "E104", "[1].data.text"),
        (_task("abc", _labels(1, 9)), "E110", "spans[0]"),
        (_task("abc", _labels(2, 1)), "E111", "spans[0]"),
        (_task("abc", _labels(0, 2, text="zz")), "E112", "spans[0]"),
        (
            _task("abc", {"type": "labels", "value": {"start": "0", "end": 1, "labels": ["x"]}}),
            "E104",
            "[1].result[0].value",
        ),
        (_task("abc", _labels(0, 1), {"type": "relation", "from_id": "r0", "to_id": "nope"}), "E114", "[1].result[1]"),
        (_task("abc", {"type": "choices", "value": {"choices": "pos"}}), "E104", "[1].result[0].value.choices"),
    ],
)
def test_bad_tasks_give_coded_errors_with_the_task_line(tmp_path, second, code, field):
    path = tmp_path / "bad.json"
    path.write_text("[\n" + json.dumps(_task("fine")) + ",\n\n" + json.dumps(second) + "\n]\n")
    with pytest.raises(MrekitError) as err:
        list(labelstudio.read(path))
    assert (err.value.code, err.value.path, err.value.line, err.value.field) == (code, str(path), 4, field)


def test_malformed_empty_and_wrong_files(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('[\n{"data": {"text": "a"}},\n{"data": \n')
    with pytest.raises(MrekitError) as err:
        list(labelstudio.read(path))
    assert (err.value.code, err.value.line) == ("E103", 4)
    path.write_text("[]")
    with pytest.raises(MrekitError) as err:
        list(labelstudio.read(path))
    assert err.value.code == "E101"
    path.write_text('{"data": {"text": "a"}}')
    with pytest.raises(MrekitError) as err:
        list(labelstudio.read(path))
    assert err.value.code == "E104" and "JSON array of tasks" in err.value.message


def test_json_inference_tells_label_studio_from_stockmark(tmp_path, fixtures):
    assert formats.infer_format(fixtures / "stockmark_mini.json") == "stockmark"
    assert formats.infer_format(export([{"id": 1, "data": {"text": "a"}}], tmp_path)) == "labelstudio"
    broken = tmp_path / "broken.json"
    broken.write_text('[{"data": ')
    assert formats.infer_format(broken) == "stockmark"  # malformed: the reader says where
