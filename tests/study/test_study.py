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
        "mre_enforce",
        "conditioned",
        "conditioned_shuffled",
        "conditioned_neutral",
        "cascade",
        "text_given_gold_words",
        "words_given_gold_text",
    ):
        assert entry[run]
    assert entry["text_only"]["text_accuracy"]["n"] == 2 and "span_f1" not in entry["text_only"]
    assert set(entry["verdict"]) == {"word_to_text", "text_to_word", "frame"}
    # the verdict tests the candidate with the best dev frame accuracy; every other arm has its own
    chosen = entry["_chosen"]
    assert set(chosen["dev"]) == {"shared", "mre", "mre_enforce", "conditioned", "cascade"}
    assert chosen["run"] == max(chosen["dev"], key=chosen["dev"].get)
    assert entry["verdict"]["text_to_word"]["compares"] == f"span F1 of {chosen['run']} vs word_only"
    arms = {"shared", "mre", "mre_enforce", "conditioned", "cascade", "conditioned_shuffled", "conditioned_neutral"}
    others = arms - {chosen["run"]}
    assert {k for k in entry if k.startswith("_verdict_")} == {f"_verdict_{arm}" for arm in others}
    for arm in others:
        assert set(entry[f"_verdict_{arm}"]) == {"word_to_text", "text_to_word", "frame"}
        assert entry[f"_verdict_{arm}"]["text_to_word"]["compares"] == f"span F1 of {arm} vs word_only"
    assert set(entry["_controls"]) == {"vs_shuffled", "vs_neutral"}
    assert set(entry["_controls"]["vs_neutral"]) == {"text", "word", "frame", "compares"}
    assert entry["_reading"].startswith(f"{chosen['run']} (chosen on dev) vs isolated: frame accuracy ")
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
    assert len(cached) == 22  # eleven runs, two seeds
    record = json.loads((out / "runs/mini/mre-seed1/run.json").read_text())
    assert (record["run"], record["seed"], record["device"]) == ("mre", 1, "cpu")
    assert 0.0 <= record["dev"]["frame_accuracy"] <= 1.0 and record["test_texts_per_second"] > 0
    assert (out / "runs/mini/cascade-seed0/dev_predictions.jsonl").exists()
    # consistency-aware decoding reuses mre's trained model instead of training another
    reused = json.loads((out / "runs/mini/mre_enforce-seed1/run.json").read_text())
    assert reused["model"] == str(out / "runs/mini/mre-seed1/train/model-best")
    assert reused["train_minutes"] == record["train_minutes"]
    assert not (out / "runs/mini/mre_enforce-seed1/train").exists()
    assert "Reading: " in (out / "report.md").read_text()
    assert record["parameters"] > 0 and record["model_mb"] > 0 and record["train_minutes"] > 0
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0
    assert sorted(p.stat().st_mtime for p in out.glob("runs/mini/*/predictions.jsonl")) == cached
    assert json.loads((out / "report.json").read_text())["mini"]["mre"] == entry["mre"]


def test_content_controls_and_the_reading_by_construction():
    from mrekit.study.report import build_report
    from mrekit.study.runs import StudyData

    gold = [make(f"t{i} x", "A" if i % 2 else "B", [Span(0, len(f"t{i}"), "s")]) for i in range(40)]
    right = [make(g.text, g.labels[0], g.spans) for g in gold]
    half_wrong = [make(g.text, "A", g.spans) for g in gold]  # 20 frames wrong
    results = {
        "text_only": [half_wrong],
        "word_only": [right],
        "mre": [half_wrong],
        "conditioned": [right],
        "conditioned_shuffled": [half_wrong],
        "conditioned_neutral": [right],  # the format alone does as well: no content effect
    }
    dev = {"mre": [{"frame_accuracy": 0.5}], "conditioned": [{"frame_accuracy": 0.9}]}
    data = StudyData("toy", gold, gold, gold)
    entry = build_report([data], {"toy": results}, command="x", n_resamples=200, dev_scores={"toy": dev})["toy"]
    assert entry["_chosen"] == {"run": "conditioned", "by": "mean dev frame_accuracy over seeds", "dev": dev_means(dev)}
    assert entry["verdict"]["frame"]["effect"] == pytest.approx(0.5) and entry["verdict"]["frame"]["c"] == 20
    shuffled, neutral = entry["_controls"]["vs_shuffled"], entry["_controls"]["vs_neutral"]
    assert shuffled["text"]["effect"] == pytest.approx(0.5) and shuffled["frame"]["verdict"] == "present"
    assert neutral["frame"]["effect"] == 0.0 and neutral["frame"]["p"] == 1.0 and neutral["word"]["effect"] == 0.0
    assert "_verdict_conditioned" not in entry and entry["_verdict_mre"]["frame"]["effect"] == 0.0
    # McNemar exact, b = 0, c = 20: p = 2 / 2**20 = 1.9e-06
    assert entry["_reading"] == (
        "conditioned (chosen on dev) vs isolated: frame accuracy +50.00 pts, present (p = 1.9e-06)."
        " Conditioned vs shuffled +50.00 (p = 1.9e-06), vs neutral +0.00 (p = 1):"
        " a gain over one control only: content and format not separated."
    )
    # no dev scores: the default configuration is the one tested
    plain = build_report([data], {"toy": results}, command="x", n_resamples=50)["toy"]
    assert plain["_chosen"]["run"] == "mre" and plain["verdict"]["frame"]["effect"] == 0.0


def dev_means(dev):
    return {run: sum(s["frame_accuracy"] for s in scores) / len(scores) for run, scores in dev.items()}
