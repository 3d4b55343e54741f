from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mrekit import Example, Span
from mrekit.cli import app
from mrekit.formats import jsonl

runner = CliRunner()

GOLD = [
    Example("play muse", id="1", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]),
    Example("rain in paris", id="2", labels=["GetWeather"], spans=[Span(8, 13, "city")]),
    Example("book a table", id="3", labels=["BookRestaurant"], spans=[]),
]
PRED = [
    Example("play muse", id="1", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]),  # all right
    Example("rain in paris", id="2", labels=["GetWeather"], spans=[Span(8, 13, "country")]),  # span wrong
    Example("book a table", id="3", labels=["PlayMusic"], spans=[]),  # text label wrong
]


@pytest.fixture
def files(tmp_path):
    gold, pred = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    jsonl.write(GOLD, gold)
    jsonl.write(list(reversed(PRED)), pred)  # paired by id, not by order
    return gold, pred


def test_evaluate_json_by_hand(files):
    gold, pred = files
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--json", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["text_accuracy"] == pytest.approx(2 / 3)
    # per-label F1: PlayMusic 2/3 (tp 1, 2 predicted, 1 gold), GetWeather 1, BookRestaurant 0
    assert report["text_macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert report["span_f1"] == pytest.approx(0.5)  # 1 of 2 gold, 1 of 2 predicted
    assert report["pair_f1"] == pytest.approx(0.5)
    assert report["frame_accuracy"] == pytest.approx(1 / 3)
    assert report["relation_f1"] is None


def test_evaluate_table_with_intervals(files):
    gold, pred = files
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--bootstrap", "200"])
    assert result.exit_code == 0
    assert "frame accuracy" in result.output and "33.33%" in result.output and "95% CI" in result.output


def test_evaluate_mismatched_files(tmp_path, files):
    gold, _ = files
    other = tmp_path / "other.jsonl"
    jsonl.write(PRED[:2], other)
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(other)])
    assert result.exit_code == 1 and "[E160]" in result.output


# --- issue 14, part D: errors file, confusion matrix, calibration -------------------------------------------


def test_errors_file_lists_what_was_missed_and_extra(files, tmp_path):
    gold, pred = files
    errors = tmp_path / "errors.jsonl"
    args = ["evaluate", "--gold", str(gold), "--pred", str(pred), "--bootstrap", "0", "--errors", str(errors)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 2 wrong examples" in result.output
    records = [json.loads(line) for line in errors.read_text().splitlines()]
    assert records == [
        {
            "id": "2",
            "text": "rain in paris",
            "labels": {"gold": ["GetWeather"], "pred": ["GetWeather"], "missed": [], "extra": []},
            "spans": {
                "missed": [{"start": 8, "end": 13, "label": "city", "text": "paris"}],
                "extra": [{"start": 8, "end": 13, "label": "country", "text": "paris"}],
            },
        },
        {
            "id": "3",
            "text": "book a table",
            "labels": {
                "gold": ["BookRestaurant"], "pred": ["PlayMusic"], "missed": ["BookRestaurant"], "extra": ["PlayMusic"]
            },
            "spans": {"missed": [], "extra": []},
        },
    ]  # fmt: skip
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "[E170]" in again.output  # checked before anything is scored


def test_confusion_matrix_in_json_table_and_png(files, tmp_path):
    gold, pred = files
    base = ["evaluate", "--gold", str(gold), "--pred", str(pred), "--bootstrap", "0"]
    report = json.loads(runner.invoke(app, [*base, "--json"]).output)
    assert report["confusion"] == {
        "labels": ["BookRestaurant", "GetWeather", "PlayMusic"],
        "matrix": [[0, 0, 1], [0, 1, 0], [0, 0, 1]],
    }
    plot, reliability = tmp_path / "confusion.png", tmp_path / "reliability.png"
    result = runner.invoke(app, [*base, "--plot", str(plot), "--reliability-plot", str(reliability)])
    assert result.exit_code == 0, result.output
    assert "confusion matrix" in result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and reliability.read_bytes()[:4] == b"\x89PNG"


def test_expected_calibration_error_per_level(tmp_path):
    gold = tmp_path / "gold.jsonl"
    jsonl.write(GOLD, gold)
    scored = [
        Example("play muse", id="1", labels=["PlayMusic"], label_scores={"PlayMusic": 0.9},
                spans=[Span(5, 9, "artist", score=0.7)]),  # right at 0.9; span right at 0.7
        Example("rain in paris", id="2", labels=["GetWeather"], label_scores={"GetWeather": 0.8},
                spans=[Span(8, 13, "country", score=0.4)]),  # right at 0.8; span wrong at 0.4
        Example("book a table", id="3", labels=["PlayMusic"], label_scores={"PlayMusic": 0.6}, spans=[]),  # wrong
    ]  # fmt: skip
    pred = tmp_path / "scored.jsonl"
    jsonl.write(scored, pred)
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--bootstrap", "0", "--json"])
    calibration = json.loads(result.output)["calibration"]
    assert calibration["text"]["ece"] == pytest.approx((0.1 + 0.2 + 0.6) / 3)
    assert calibration["span"]["ece"] == pytest.approx((0.3 + 0.4) / 2) and calibration["span"]["n"] == 2
    table = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--bootstrap", "0"])
    assert "text ECE (10 bins, n=3)" in table.output and "30.00%" in table.output
    assert "span ECE (10 bins, n=2)" in table.output and "35.00%" in table.output
