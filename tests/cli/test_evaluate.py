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
