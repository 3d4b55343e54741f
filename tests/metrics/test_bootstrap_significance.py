"""Bootstrap intervals, the paired bootstrap and McNemar's exact test."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mrekit.metrics import (
    METRIC_KEYS,
    bootstrap_ci,
    bootstrap_distribution,
    build_table,
    evaluate,
    example_correctness,
    match_predictions,
    mcnemar,
    mcnemar_exact,
    mcnemar_test,
    paired_bootstrap,
)
from mrekit.schema import Example, Span

FIXTURES = Path(__file__).parent.parent / "fixtures" / "metrics" / "atis_like"


def corpus() -> tuple[list[Example], list[Example]]:
    """The atis_like fixture at the text and word level, without importing the parity test module."""
    from mrekit.alignment import tags_to_spans

    def examples(tags_file: str, label_file: str) -> list[Example]:
        out = []
        lines = zip(
            (FIXTURES / "seq.in").read_text().splitlines(),
            (FIXTURES / tags_file).read_text().splitlines(),
            (FIXTURES / label_file).read_text().splitlines(),
            strict=True,
        )
        for words, tags, intent in lines:
            tokens = words.split()
            starts = np.cumsum([0] + [len(t) + 1 for t in tokens])
            spans = [Span(int(starts[a]), int(starts[b] - 1), lab) for a, b, lab in tags_to_spans(tags.split())]
            out.append(Example(" ".join(tokens), labels=intent.split("#"), spans=spans))
        return out

    return examples("seq.out", "label"), examples("pred.seq.out", "pred.label")


def test_bootstrap_is_deterministic_and_brackets_the_point() -> None:
    gold, pred = corpus()
    first = evaluate(gold, pred, bootstrap=1000, seed=7)
    again = evaluate(gold, pred, bootstrap=1000, seed=7)
    other = evaluate(gold, pred, bootstrap=1000, seed=8)
    assert first["ci"] == again["ci"]
    assert first["ci"] != other["ci"]
    assert set(first["ci"]) == {k for k in METRIC_KEYS if first[k] is not None}
    for name, (low, high) in first["ci"].items():
        assert 0.0 <= low <= first[name] <= high <= 1.0, name
        assert low < high, name  # 40 examples with errors: the interval has width


def test_vectorised_bootstrap_equals_naive_rescoring() -> None:
    gold, pred = corpus()
    gold, pred = gold[:15], pred[:15]  # no ids: resampled duplicates pair by position
    samples = bootstrap_distribution(build_table(match_predictions(gold, pred)), n_resamples=20, seed=3)
    # Replay the same draws one resample at a time through the scalar path.
    draws = np.random.default_rng(3).integers(0, len(gold), size=(20, len(gold)))
    for r, idx in enumerate(draws):
        naive = evaluate([gold[i] for i in idx], [pred[i] for i in idx], bootstrap=0)
        for name in ("text_accuracy", "text_macro_f1", "span_f1", "pair_recall", "frame_accuracy"):
            assert samples[name][r] == pytest.approx(naive[name], abs=1e-12), (r, name)


def test_bootstrap_ci_helper_and_undefined_levels() -> None:
    gold = [Example("a", labels=["x"]), Example("b", labels=["y"])]
    pred = [Example("a", labels=["x"]), Example("b", labels=["x"])]
    ci = bootstrap_ci(gold, pred, n_resamples=200, seed=0)
    # Only text metrics exist; accuracy of 2 examples takes the values 0, 1/2, 1.
    assert set(ci) == {"text_accuracy", "text_micro_f1", "text_macro_f1"}
    assert ci["text_accuracy"] == [0.0, 1.0]


def test_partially_annotated_resamples_drop_undefined_values() -> None:
    gold = [Example("a", labels=["x"], spans=[]), Example("b", labels=["y"])]
    samples = bootstrap_distribution(build_table(match_predictions(gold, gold)), n_resamples=50, seed=1)
    spans = samples["span_f1"]
    # Resamples drawing only "b" have no word-level example: NaN, not a made-up 0.
    assert np.isnan(spans).any() and not np.isnan(samples["text_accuracy"]).any()


def test_paired_bootstrap_detects_a_better_system() -> None:
    gold, pred = corpus()
    result = paired_bootstrap(gold, pred, gold, metric="span_f1", n_resamples=500, seed=0)
    assert result.score_b == 1.0 and result.delta == pytest.approx(1.0 - result.score_a)
    assert result.ci[0] > 0 and len(result.deltas) == 500
    # No resample gets |delta* - delta| >= delta, so p is the floor 1 / (500 + 1).
    assert result.p_value == pytest.approx(1 / 501)
    again = paired_bootstrap(gold, pred, gold, metric="span_f1", n_resamples=500, seed=0)
    assert np.array_equal(result.deltas, again.deltas)


def test_paired_bootstrap_of_identical_systems() -> None:
    gold, pred = corpus()
    result = paired_bootstrap(gold, pred, pred, metric="text_accuracy", n_resamples=100)
    assert result.delta == 0.0 and result.p_value == 1.0 and result.ci == [0.0, 0.0]


def test_paired_bootstrap_rejects_unknown_or_undefined_metrics() -> None:
    gold = [Example("a", labels=["x"])]
    with pytest.raises(ValueError, match="unknown metric"):
        paired_bootstrap(gold, gold, gold, metric="bleu")
    with pytest.raises(ValueError, match="undefined"):
        paired_bootstrap(gold, gold, gold, metric="span_f1")


def test_mcnemar_known_value() -> None:
    # n = 10 discordant, min(b, c) = 1: 2 * (C(10,0) + C(10,1)) / 2**10 = 2 * 11 / 1024 = 0.021484375
    assert mcnemar_exact(1, 9) == 0.021484375
    assert mcnemar_exact(9, 1) == 0.021484375


@pytest.mark.parametrize(("b", "c"), [(0, 0), (5, 5), (3, 4), (0, 6), (12, 30)])
def test_mcnemar_against_the_binomial_formula(b: int, c: int) -> None:
    n = b + c
    expected = min(1.0, 2 * sum(math.comb(n, k) * 0.5**n for k in range(min(b, c) + 1)))
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)
    if b == c:
        assert mcnemar_exact(b, c) == 1.0


def test_mcnemar_from_correctness_vectors() -> None:
    a = [True] * 1 + [False] * 9 + [True] * 5 + [False] * 3
    b = [False] * 1 + [True] * 9 + [True] * 5 + [False] * 3
    result = mcnemar_test(a, b)
    assert (result.b, result.c, result.p_value) == (1, 9, 0.021484375)
    with pytest.raises(ValueError):
        mcnemar_test([True], [True, False])


def test_mcnemar_on_systems() -> None:
    gold, pred = corpus()
    correct = example_correctness(gold, pred, level="frame")
    assert correct.dtype == bool and len(correct) == 40
    result = mcnemar(gold, pred, gold, level="frame")
    # gold itself is always right: b = 0, c = number of wrong frames of pred
    assert (result.b, result.c) == (0, int((~correct).sum()))
    assert example_correctness(gold, pred, level="spans").sum() >= correct.sum()
    with pytest.raises(ValueError):
        example_correctness(gold, pred, level="tokens")
