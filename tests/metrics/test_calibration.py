from __future__ import annotations

import numpy as np
import pytest

from mrekit import Example, Span
from mrekit.metrics.calibration import (
    apply_temperature,
    calibration_report,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    softmax_calibration,
)
from mrekit.metrics.errors_report import error_records, example_errors, text_confusion


def test_ece_by_hand():
    # bin 9: 0.95, 0.9 (both right): |1 - 0.925| = 0.075, weight 2/6
    # bin 8: 0.8 (wrong), 0.85 (right): |0.5 - 0.825| = 0.325, weight 2/6
    # bin 5: 0.55 (wrong): 0.55; bin 3: 0.3 (wrong): 0.3, weight 1/6 each
    conf = [0.95, 0.9, 0.8, 0.85, 0.55, 0.3]
    right = [True, True, False, True, False, False]
    assert expected_calibration_error(conf, right) == pytest.approx((2 * 0.075 + 2 * 0.325 + 0.55 + 0.3) / 6)
    assert expected_calibration_error(conf, right) == pytest.approx(0.275)
    assert expected_calibration_error([], []) is None


def test_bins_are_equal_width_and_the_last_is_closed():
    bins = reliability_bins([0.0, 0.1, 0.99, 1.0], [True, False, True, True])
    assert len(bins) == 10 and (bins[0]["lower"], bins[0]["upper"]) == (0.0, 0.1)
    assert [b["count"] for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[9]["accuracy"] == 1.0 and bins[9]["confidence"] == pytest.approx(0.995)
    assert bins[2]["accuracy"] is None


def test_calibration_report_per_level():
    gold = [
        Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]),
        Example("rain", labels=["GetWeather"], spans=None),  # word level not annotated: no span items
    ]
    pred = [
        Example(
            "play muse",
            labels=["PlayMusic"],
            label_scores={"PlayMusic": 0.9, "GetWeather": 0.1},
            spans=[Span(5, 9, "artist", score=0.7), Span(0, 4, "x", score=0.4)],
        ),
        Example("rain", labels=["PlayMusic"], label_scores={"PlayMusic": 0.6}, spans=[Span(0, 4, "city", score=0.9)]),
    ]
    report = calibration_report(gold, pred)
    assert report["text"]["n"] == 2 and report["text"]["ece"] == pytest.approx((0.1 + 0.6) / 2)
    assert report["span"]["n"] == 2 and report["span"]["ece"] == pytest.approx((0.3 + 0.4) / 2)


def test_temperature_keeps_the_argmax_and_one_is_the_identity():
    probs = np.array([[0.7, 0.2, 0.1], [0.05, 0.9, 0.05]])
    assert apply_temperature(probs, 1.0) is probs
    soft = apply_temperature(probs, 2.0)
    assert soft.argmax(axis=1).tolist() == [0, 1] and soft.max() < probs.max()
    assert soft.sum(axis=1) == pytest.approx([1.0, 1.0])
    # softmax(log p / 2) by hand for the first row
    root = np.sqrt([0.7, 0.2, 0.1])
    assert soft[0] == pytest.approx(root / root.sum())


def test_fit_temperature_softens_an_overconfident_model_and_lowers_nll():
    probs = np.array([[0.99, 0.01]] * 6 + [[0.01, 0.99]] * 4)
    gold = [0] * 6 + [1] * 2 + [0] * 2  # right 8 of 10 times at 0.99
    t = fit_temperature(probs, gold)
    assert t > 1
    assert negative_log_likelihood(probs, gold, t) < negative_log_likelihood(probs, gold)
    # the optimum: p(right) = 0.8 = sigmoid(log(99) / T) -> T = log(99) / log(4)
    assert t == pytest.approx(np.log(99) / np.log(4), rel=1e-4)
    before, after = softmax_calibration(probs, gold), softmax_calibration(probs, gold, t)
    assert before["ece"] == pytest.approx(0.19) and after["ece"] == pytest.approx(0.0, abs=1e-4)


def test_error_records_per_level_with_surfaces():
    gold = Example("rain in paris", id="2", labels=["GetWeather"], spans=[Span(8, 13, "city")])
    pred = Example("rain in paris", id="2", labels=["GetWeather", "x"], spans=[Span(0, 4, "city")])
    assert example_errors(gold, pred) == {
        "id": "2",
        "text": "rain in paris",
        "labels": {"gold": ["GetWeather"], "pred": ["GetWeather", "x"], "missed": [], "extra": ["x"]},
        "spans": {
            "missed": [{"start": 8, "end": 13, "label": "city", "text": "paris"}],
            "extra": [{"start": 0, "end": 4, "label": "city", "text": "rain"}],
        },
    }
    words_only = Example("rain", spans=[])
    assert list(error_records([(words_only, Example("rain", labels=["y"], spans=[]))])) == []


def test_confusion_matrix_single_and_multi_label():
    pairs = [
        (Example("a", labels=["x"]), Example("a", labels=["y"])),  # x confused with y
        (Example("b", labels=["x"]), Example("b", labels=["x"])),
        (Example("c", labels=["x", "y"]), Example("c", labels=["z"])),  # two missed, one extra: via (none)
        (Example("d"), Example("d", labels=["z"])),  # no gold text label: not counted
    ]
    assert text_confusion(pairs) == {
        "labels": ["x", "y", "z", "(none)"],
        "matrix": [[1, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0]],
    }
