"""Strict span scores equal seqeval's default (conlleval) mode on BIO data.

The fixtures are ATIS/SNIPS-shaped (see tests/fixtures/metrics/README.md):
tokens are joined with single spaces, token spans decoded by
``mrekit.alignment.tags_to_spans`` become character spans, and the corpus
scores must equal seqeval's to 1e-12.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support
from sklearn.metrics import f1_score as sk_f1_score

from mrekit.alignment import tags_to_spans
from mrekit.metrics import evaluate, span_scores, text_scores
from mrekit.schema import Example, Span

FIXTURES = Path(__file__).parent.parent / "fixtures" / "metrics"
CORPORA = ["atis_like", "snips_sample"]


def _lines(folder: Path, name: str) -> list[str]:
    return (folder / name).read_text(encoding="utf-8").splitlines()


def to_example(tokens: list[str], tags: list[str], labels: list[str]) -> Example:
    """Join tokens with single spaces and turn decoded token spans into character spans."""
    starts, offset = [], 0
    for token in tokens:
        starts.append(offset)
        offset += len(token) + 1
    spans = [
        Span(starts[first], starts[last - 1] + len(tokens[last - 1]), label)
        for first, last, label in tags_to_spans(tags)
    ]
    return Example(" ".join(tokens), labels=labels, spans=spans)


def load(name: str, *, split_intents: bool = True) -> tuple[list[Example], list[Example], list, list]:
    """Gold and predicted examples plus the raw gold and predicted tag sequences."""
    folder = FIXTURES / name
    tokens = [line.split() for line in _lines(folder, "seq.in")]
    gold_tags = [line.split() for line in _lines(folder, "seq.out")]
    pred_tags = [line.split() for line in _lines(folder, "pred.seq.out")]

    def labels(intent: str) -> list[str]:
        return intent.split("#") if split_intents else [intent]

    gold = [to_example(t, g, labels(i)) for t, g, i in zip(tokens, gold_tags, _lines(folder, "label"), strict=True)]
    pred = [
        to_example(t, p, labels(i)) for t, p, i in zip(tokens, pred_tags, _lines(folder, "pred.label"), strict=True)
    ]
    return gold, pred, gold_tags, pred_tags


def seqeval_scores(gold_tags: list[list[str]], pred_tags: list[list[str]]) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on zero division; the value (0) is what we compare
        return (
            precision_score(gold_tags, pred_tags),
            recall_score(gold_tags, pred_tags),
            f1_score(gold_tags, pred_tags),
        )


@pytest.mark.parametrize("name", CORPORA)
def test_fixture_shape(name: str) -> None:
    gold, pred, gold_tags, pred_tags = load(name)
    assert len(gold) == len(pred) == len(gold_tags) == len(pred_tags)
    assert all(len(g.text.split(" ")) == len(t) for g, t in zip(gold, gold_tags, strict=True))


def test_atis_like_fixture_has_the_tricky_cases() -> None:
    _, _, gold_tags, pred_tags = load("atis_like")
    pairs = [(a, b) for tags in gold_tags + pred_tags for a, b in zip(["O", *tags], tags, strict=False)]
    assert ("O", "I-city_name") in pairs  # stray I- after O
    assert ("B-depart_date.day_name", "B-depart_date.day_name") in pairs  # adjacent same-type chunks
    assert any(a.startswith("I-") and b.startswith("B-") and a[2:] != b[2:] for a, b in pairs)  # B- after other I-
    assert any(a.startswith(("B-", "I-")) and b.startswith("I-") and a[2:] != b[2:] for a, b in pairs)
    assert len(gold_tags) == 40 and max(e - s for tags in gold_tags for s, e, _ in tags_to_spans(tags)) >= 3


@pytest.mark.parametrize("name", CORPORA)
def test_span_scores_equal_seqeval_default_mode(name: str) -> None:
    gold, pred, gold_tags, pred_tags = load(name)
    expected = seqeval_scores(gold_tags, pred_tags)
    strict = span_scores(gold, pred)["strict"]
    assert strict.precision == pytest.approx(expected[0], abs=1e-12)
    assert strict.recall == pytest.approx(expected[1], abs=1e-12)
    assert strict.f1 == pytest.approx(expected[2], abs=1e-12)
    scores = evaluate(gold, pred, bootstrap=0)
    assert (scores["span_precision"], scores["span_recall"], scores["span_f1"]) == pytest.approx(expected, abs=1e-12)
    # The perturbations must actually bite, or the comparison proves little.
    assert 0.3 < scores["span_f1"] < 0.95


@pytest.mark.parametrize("name", CORPORA)
def test_per_label_equals_seqeval(name: str) -> None:
    gold, pred, gold_tags, pred_tags = load(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        precision, recall, f1, support = precision_recall_fscore_support(gold_tags, pred_tags, average=None)
    per_label = evaluate(gold, pred, bootstrap=0)["per_label"]["spans"]
    # seqeval reports the sorted union of gold and predicted types, as we do.
    labels = sorted(per_label)
    assert [per_label[x]["precision"] for x in labels] == pytest.approx(list(precision), abs=1e-12)
    assert [per_label[x]["recall"] for x in labels] == pytest.approx(list(recall), abs=1e-12)
    assert [per_label[x]["f1"] for x in labels] == pytest.approx(list(f1), abs=1e-12)
    assert [per_label[x]["support"] for x in labels] == list(support)


@pytest.mark.parametrize("name", CORPORA)
def test_macro_f1_equals_sklearn_on_single_label_data(name: str) -> None:
    # Keep "a#b" intents whole so every example has exactly one label.
    gold, pred, _, _ = load(name, split_intents=False)
    y_true = [g.labels[0] for g in gold]
    y_pred = [p.labels[0] for p in pred]
    scores = text_scores(gold, pred)
    assert scores["macro_f1"] == pytest.approx(sk_f1_score(y_true, y_pred, average="macro"), abs=1e-12)
    assert scores["micro"].f1 == pytest.approx(sk_f1_score(y_true, y_pred, average="micro"), abs=1e-12)
    # Single-label with one prediction each: micro F1 is accuracy.
    assert scores["micro"].f1 == pytest.approx(scores["accuracy"], abs=1e-12)


def test_no_entities_anywhere_scores_zero_like_seqeval() -> None:
    gold_tags = pred_tags = [["O", "O"], ["O"]]
    gold = [to_example(["a", "b"], ["O", "O"], ["x"]), to_example(["c"], ["O"], ["x"])]
    assert span_scores(gold, gold)["strict"].f1 == seqeval_scores(gold_tags, pred_tags)[2] == 0.0


BIO = ["O", "O", "B-a", "I-a", "B-b", "I-b"]
IOBES = [*BIO, "E-a", "S-a", "E-b", "S-b"]


@st.composite
def tagged_corpus(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]]]:
    tags = st.sampled_from(draw(st.sampled_from([BIO, IOBES])))
    lengths = draw(st.lists(st.integers(1, 8), min_size=1, max_size=6))
    gold = [draw(st.lists(tags, min_size=n, max_size=n)) for n in lengths]
    pred = [draw(st.lists(tags, min_size=n, max_size=n)) for n in lengths]
    return gold, pred


@settings(max_examples=150, deadline=None)
@given(tagged_corpus())
def test_random_tagged_corpora_match_seqeval(corpus: tuple[list[list[str]], list[list[str]]]) -> None:
    # Random BIO (and IOBES) tags are full of stray I-, E- and type changes: conlleval's edge cases.
    gold_tags, pred_tags = corpus
    tokens = [[f"w{i}" for i in range(len(tags))] for tags in gold_tags]
    gold = [to_example(t, g, ["x"]) for t, g in zip(tokens, gold_tags, strict=True)]
    pred = [to_example(t, p, ["x"]) for t, p in zip(tokens, pred_tags, strict=True)]
    strict = span_scores(gold, pred)["strict"]
    expected = seqeval_scores(gold_tags, pred_tags)
    assert (strict.precision, strict.recall, strict.f1) == pytest.approx(expected, abs=1e-12)
