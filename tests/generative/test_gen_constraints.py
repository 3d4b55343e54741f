"""Constrained decoding with an untrained model: whatever it prefers, the output parses and copies the input."""

from __future__ import annotations

import dataclasses

import pytest

from mrekit import Example, Relation, Span
from mrekit.generative import GenerativeModel
from mrekit.generative.metrics import format_accuracy

EXTRA = [
    "book a table at 10:30; then at 11:00 pm",
    "東京都に住む松友美佐紀は、日本のバドミントン選手。",
    "muse muse muse",
    "龍 🎵 ünïcödé: a/b <c> d,e",
    "",
]


def texts_of(examples):
    from mrekit.datasets import load_builtin

    return [ex.text for ex in examples] + [ex.text for ex in load_builtin("snips", "dev")[:40]] + EXTRA


def check_outputs(model, texts, preds):
    spec = model.spec_
    for text, pred in zip(texts, preds, strict=True):
        assert pred.meta["format_ok"], pred.meta["generated"]
        assert pred.meta["hallucinated"] == [], pred.meta["generated"]
        # The constraint does not count occurrences: a string named more often than it occurs keeps
        # one span per occurrence and lists the rest as missing, but it is always in the text.
        assert all(surface in text for _, surface in pred.meta.get("missing", []))
        assert set(pred.labels) <= set(spec.labels)
        for span in pred.spans:
            assert span.label in spec.types and text[span.start : span.end] == span.surface


@pytest.mark.parametrize("beams", [1, 3])
def test_constrained_outputs_always_parse_and_copy_the_input(untrained, gen_train, beams):
    texts = texts_of(gen_train)
    preds = untrained.predict(texts, constrained=True, num_beams=beams)
    check_outputs(untrained, texts, preds)
    assert untrained.generation_metrics(preds)["format_accuracy"] == 1.0
    assert sum(p.meta["entities"] for p in preds) > 0  # the check is not vacuous


def test_unconstrained_untrained_output_is_garbage(untrained, gen_train):
    texts = texts_of(gen_train)
    outputs = untrained.generate(texts, constrained=False)
    assert format_accuracy(outputs, untrained.spec_) < 1.0


def test_an_output_cut_at_the_token_budget_still_parses(untrained, gen_train):
    texts = texts_of(gen_train)
    saved = untrained.args_
    try:
        for budget in (9, 14):  # "GetWeather/NER/" alone is several tokens
            untrained.args_ = dataclasses.replace(saved, max_target_length=budget)
            for beams in (1, 3):
                check_outputs(untrained, texts, untrained.predict(texts, num_beams=beams))
    finally:
        untrained.args_ = saved


def test_giellm_and_relations_grammars(gen_train, tiny):
    giellm = GenerativeModel(format="giellm", scratch=tiny).initialize(gen_train)
    texts = texts_of(gen_train[:8])
    check_outputs(giellm, texts, giellm.predict(texts, num_beams=2))
    assert all(p.meta["generated"].startswith("<") for p in giellm.predict(texts[:3]))

    rel = [
        Example(
            "Obama was born in Hawaii",
            labels=["bio"],
            spans=[Span(0, 5, "PER"), Span(18, 24, "LOC")],
            relations=[Relation(0, 1, "born_in")],
        ),
        Example(
            "Ada lived in London",
            labels=["bio"],
            spans=[Span(0, 3, "PER"), Span(13, 19, "LOC")],
            relations=[Relation(0, 1, "lived_in")],
        ),
    ]
    model = GenerativeModel(task="Relation Extraction", scratch=tiny).initialize(rel * 4)
    texts = [ex.text for ex in rel] + EXTRA
    preds = model.predict(texts, num_beams=3)
    for text, pred in zip(texts, preds, strict=True):
        assert pred.meta["format_ok"] and pred.meta["hallucinated"] == [], pred.meta["generated"]
        assert all(r.label in {"born_in", "lived_in"} for r in pred.relations)
        assert all(text[s.start : s.end] == s.surface for s in pred.spans)
