from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mrekit import Example, Span
from mrekit.cli import app
from mrekit.study.runs import strip_gold_text, with_gold_text, with_gold_words
from mrekit.study.verdict import combine, verdicts


def test_gold_conditioning_round_trip():
    ex = Example("play muse", id="1", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])
    words = with_gold_words(ex)
    assert (words.text, words.labels, words.spans) == ("play muse | artist muse", ["PlayMusic"], None)
    text = with_gold_text(ex)
    assert text.text == "PlayMusic | play muse" and text.labels == []
    assert text.surface(text.spans[0]) == "muse"
    pred = Example(text.text, spans=[Span(0, 9, "junk"), Span(17, 21, "artist")])
    back = strip_gold_text(pred, ex)
    assert back.spans == [Span(5, 9, "artist")]  # a span inside the added prefix is dropped


def make(text, label, spans):
    return Example(text, labels=[label], spans=spans)


def test_verdicts_by_construction():
    gold = [make(f"t{i} x", "A" if i % 2 else "B", [Span(0, len(f"t{i}"), "s")]) for i in range(40)]
    right = [make(g.text, g.labels[0], g.spans) for g in gold]
    wrong_text = [make(g.text, "A", g.spans) for g in gold]  # half the texts wrong
    no_spans = [make(g.text, g.labels[0], []) for g in gold]
    results = {"mre": [right], "text_only": [wrong_text], "word_only": [no_spans]}
    out = verdicts(gold, results, n_resamples=200)
    assert out["word_to_text"]["verdict"] == "present" and out["word_to_text"]["effect"] == pytest.approx(0.5)
    assert out["text_to_word"]["verdict"] == "present" and out["text_to_word"]["effect"] == pytest.approx(1.0)
    assert out["frame"]["verdict"] == "present" and out["frame"]["c"] == 40
    same = verdicts(gold, {"mre": [right], "text_only": [right], "word_only": [right]}, n_resamples=200)
    assert same["word_to_text"]["verdict"] == "absent" and same["word_to_text"]["p"] == 1.0
    worse = verdicts(gold, {"mre": [wrong_text], "text_only": [right]}, n_resamples=200)
    assert worse["word_to_text"]["verdict"] == "negative"


def test_polarity_verdicts_and_isolated_frames_keep_attributes():
    def review(i: int, polarity: str) -> Example:
        text = f"t{i} x"
        return Example(
            text,
            labels=["A"],
            label_attrs={"A": {"polarity": polarity}},
            spans=[Span(0, len(f"t{i}"), "s", attrs={"polarity": polarity})],
        )

    gold = [review(i, "pos" if i % 2 else "neg") for i in range(40)]
    right = [review(i, "pos" if i % 2 else "neg") for i in range(40)]
    all_pos = [review(i, "pos") for i in range(40)]  # half the polarities wrong, at both levels
    out = verdicts(gold, {"mre": [right], "text_only": [all_pos], "word_only": [all_pos]}, n_resamples=200)
    # span + polarity F1: 20 of 40 right alone (P = R = 0.5), all right jointly
    assert out["text_to_span_attrs"]["metric"] == "span_attr_f1"
    assert out["text_to_span_attrs"]["effect"] == pytest.approx(0.5)
    assert out["word_to_label_attrs"]["effect"] == pytest.approx(0.5)
    assert out["word_to_label_attrs"]["verdict"] == "present"
    assert combine([all_pos[0]], [right[0]])[0].label_attrs == {"A": {"polarity": "pos"}}
    plain = [make(g.text, "A", [Span(0, 2, "s")]) for g in gold]
    assert "text_to_span_attrs" not in verdicts(plain, {"mre": [plain], "word_only": [plain]}, n_resamples=50)


def test_relation_and_event_verdicts():
    from mrekit.schema import Event, Relation

    def sentence(i: int, with_structures: bool) -> Example:
        spans = [Span(0, 2, "Drug"), Span(3, 5, "Effect")]
        relations = [Relation(0, 1, "causes")] if with_structures else []
        events = [Event(0, "Adverse_event", (("Effect", 1),))] if with_structures else []
        return Example(f"d{i} e{i}", labels=["ADE"], spans=spans, relations=relations, events=events)

    gold = [sentence(i, True) for i in range(30)]
    half = [sentence(i, i % 2 == 0) for i in range(30)]  # 15 of 30 relations and arguments found
    out = verdicts(gold, {"mre": [gold], "word_only": [half]}, n_resamples=200)
    # alone: P = 1, R = 0.5, F1 = 2/3; jointly F1 = 1
    assert out["text_to_relations"]["effect"] == pytest.approx(1 - 2 / 3)
    assert out["text_to_events"]["metric"] == "event_argument_f1"
    assert out["text_to_events"]["effect"] == pytest.approx(1 - 2 / 3)


def test_miniature_study_end_to_end_and_resume(tmp_path, fixtures, tiny_encoder):
    from mrekit.formats import bio, jsonl

    data = tmp_path / "mini"  # train and test only: a fixed share of train becomes dev
    examples = list(bio.read(fixtures / "bio_mini"))
    jsonl.write(examples, data / "train.jsonl")
    jsonl.write(examples[:6], data / "test.jsonl")
    out = tmp_path / "study"
    args = ["study", str(data), "--output", str(out), "--seeds", "2", "--encoder", str(tiny_encoder)]
    args += ["--epochs", "1", "--batch-size", "4", "--bootstrap", "100"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    entry = report["mini"]
    for run in (
        "text_only",
        "word_only",
        "isolated",
        "shared",
        "mre",
        "text_given_gold_words",
        "words_given_gold_text",
    ):
        assert entry[run]
    assert entry["text_only"]["text_accuracy"]["n"] == 2 and "span_f1" not in entry["text_only"]
    assert set(entry["verdict"]) == {"word_to_text", "text_to_word", "frame"}
    assert set(entry["_verdict_shared"]) == {"word_to_text", "text_to_word", "frame"}
    assert entry["_verdict_shared"]["text_to_word"]["compares"] == "span F1 of shared vs word_only"
    # the results shape: every key but verdict and the _details is a run of {mean, sd, n} cells
    for run, cells in entry.items():
        if run != "verdict" and not run.startswith("_"):
            assert all(set(cell) == {"mean", "sd", "n"} for cell in cells.values()), run
    low, high = entry["_ci"]["mre"]["span_f1"]
    assert 0.0 <= low <= high <= 1.0 and set(entry["_ci"]["text_only"]) == set(entry["text_only"])
    assert entry["verdict"]["word_to_text"]["verdict"] in {"present", "absent", "negative"}
    gold_gain = entry["text_given_gold_words"]["text_micro_f1"]["mean"] - entry["text_only"]["text_micro_f1"]["mean"]
    assert entry["verdict"]["word_to_text"]["gold_effect"] == pytest.approx(gold_gain)
    gold_gain = entry["words_given_gold_text"]["span_f1"]["mean"] - entry["word_only"]["span_f1"]["mean"]
    assert entry["verdict"]["text_to_word"]["gold_effect"] == pytest.approx(gold_gain)
    assert "mi" in entry["_signal"] and report["_meta"]["command"]
    assert (out / "effects.png").read_bytes()[:4] == b"\x89PNG" and (out / "levels.png").exists()
    assert "## Summary" in (out / "report.md").read_text()
    # every run is cached: a second invocation trains nothing and gives the same report
    cached = sorted(p.stat().st_mtime for p in out.glob("runs/mini/*/predictions.jsonl"))
    assert len(cached) == 12
    record = json.loads((out / "runs/mini/mre-seed1/run.json").read_text())
    assert (record["run"], record["seed"], record["device"]) == ("mre", 1, "cpu")
    assert record["parameters"] > 0 and record["model_mb"] > 0 and record["train_minutes"] > 0
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0
    assert sorted(p.stat().st_mtime for p in out.glob("runs/mini/*/predictions.jsonl")) == cached
    assert json.loads((out / "report.json").read_text())["mini"]["mre"] == entry["mre"]
