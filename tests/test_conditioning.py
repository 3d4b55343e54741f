from __future__ import annotations

import pytest

from mrekit import MrekitError
from mrekit.conditioning import (
    append_words,
    cascade_predict,
    conditioned_copies,
    contents,
    derangement,
    prefix_text,
    strip_prefix,
    words_of,
)
from mrekit.schema import Event, Example, Relation, Span


def japanese() -> Example:
    # 東京(0-2) に 新薬(3-5) を 承認(6-8): no spaces, offsets are characters
    return Example(
        "東京に新薬を承認",
        id="j1",
        labels=["医薬"],
        label_attrs={"医薬": {"polarity": "positive"}},
        spans=[Span(0, 2, "LOC"), Span(3, 5, "DRUG", attrs={"polarity": "positive"}), Span(6, 8, "TRIGGER")],
        relations=[Relation(1, 0, "in")],
        events=[Event(2, "Approval", (("Theme", 1), ("Place", 0)))],
    )


def test_prefix_keeps_exact_offsets_on_japanese_and_drops_the_text_level():
    ex = prefix_text(japanese(), ["医薬"])
    assert ex.text == "医薬 | 東京に新薬を承認"
    assert [(s.start, s.end, ex.surface(s)) for s in ex.spans] == [(5, 7, "東京"), (8, 10, "新薬"), (11, 13, "承認")]
    assert ex.labels == [] and ex.label_attrs == {}  # the answer is in the input: not learnt from it
    assert ex.spans[1].attrs == {"polarity": "positive"}
    assert ex.relations == [Relation(1, 0, "in")] and ex.events[0].args == (("Theme", 1), ("Place", 0))
    assert ex.meta["condition_prefix"] == 5


def test_append_keeps_the_text_level_only():
    ex = append_words(japanese(), words_of(japanese()))
    assert ex.text == "東京に新薬を承認 | LOC 東京 ; DRUG 新薬 ; TRIGGER 承認"
    assert ex.spans is None and ex.relations == [] and ex.events == []
    assert ex.labels == ["医薬"] and ex.label_attrs == {"医薬": {"polarity": "positive"}}


def test_strip_prefix_reindexes_structures_and_drops_spans_in_the_prefix():
    original = japanese()
    shifted = prefix_text(original, ["医薬"])
    # a prediction with an extra span inside the prefix (index 0) before the three real ones
    pred = Example(
        shifted.text,
        spans=[Span(0, 2, "LOC"), *shifted.spans],
        relations=[Relation(2, 1, "in"), Relation(0, 1, "in")],
        events=[Event(3, "Approval", (("Theme", 2), ("Place", 0)))],
    )
    back = strip_prefix(pred, original)
    assert back.text == original.text and back.spans == original.spans
    assert back.relations == [Relation(1, 0, "in")]  # the one touching the prefix span is gone
    assert back.events == [Event(2, "Approval", (("Theme", 1),))]


def test_contents_gold_shuffled_neutral_predicted():
    exs = [Example(f"t{i} x", labels=[f"L{i}"], spans=[Span(0, 2, f"S{i}")]) for i in range(6)]
    gold = contents(exs, "gold")
    assert gold[3] == (["L3"], "S3 t3")
    shuffled = contents(exs, "shuffled", seed=4)
    assert sorted(shuffled) == sorted(gold) and all(s != g for s, g in zip(shuffled, gold, strict=True))
    assert contents(exs, "shuffled", seed=4) == shuffled  # seeded
    assert set(map(str, contents(exs, "neutral"))) == {str((["label"], "type entity"))}
    preds = [Example(e.text, labels=["P"], spans=[]) for e in exs]
    assert contents(exs, "predicted", predictions=preds)[0] == (["P"], "")
    with pytest.raises(MrekitError, match="E183"):
        contents(exs, "predicted")
    with pytest.raises(MrekitError, match="E183"):
        contents(exs, "random")


def test_derangement_moves_every_item():
    for n in (2, 3, 10, 101):
        order = derangement(n, seed=n)
        assert sorted(order) == list(range(n)) and all(i != j for i, j in enumerate(order))


def test_conditioned_copies_counts_directions_and_partial_examples():
    full = [Example(f"t{i} x", labels=["A" if i % 2 else "B"], spans=[Span(0, 2, "s")]) for i in range(200)]
    partial = [Example("only text", labels=["A"]), Example("only spans", spans=[Span(0, 4, "s")])]
    assert conditioned_copies(full + partial, 0.0) == []
    every = conditioned_copies(full + partial, 1.0)
    assert len(every) == 400  # two per fully annotated example, none for the partial ones
    to_word = [c for c in every if c.meta["conditioned"] == "text_to_word"]
    to_text = [c for c in every if c.meta["conditioned"] == "word_to_text"]
    assert len(to_word) == len(to_text) == 200
    assert all(c.labels == [] and c.spans and c.text.startswith(("A | ", "B | ")) for c in to_word)
    assert all(c.spans is None and c.labels for c in to_text)
    assert [c.text for c in to_text[:2]] == ["t0 x | s t0", "t1 x | s t1"]
    half = conditioned_copies(full, 0.5, seed=1)
    assert half == conditioned_copies(full, 0.5, seed=1) and 150 < len(half) < 250
    with pytest.raises(MrekitError, match="E183"):
        conditioned_copies(full, 1.5)


def test_conditioned_copies_take_predicted_content_when_given():
    full = [Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])]
    preds = [Example("play muse", labels=["GetWeather"], spans=[Span(0, 4, "city")])]
    copies = conditioned_copies(full, 1.0, predictions=preds, predicted_share=1.0)
    assert [c.text for c in copies] == ["GetWeather | play muse", "play muse | city play"]
    # the targets stay gold: the gold spans (shifted) and the gold label
    assert copies[0].surface(copies[0].spans[0]) == "muse" and copies[1].labels == ["PlayMusic"]


def test_cascade_predict_conditions_each_level_on_the_other():
    calls: list[list[str]] = []

    def predict(texts: list[str]) -> list[Example]:
        calls.append(list(texts))
        out = []
        for t in texts:
            if " | " not in t:  # first pass: a wrong label, one span
                out.append(Example(t, labels=["Wrong"], spans=[Span(5, 9, "artist")]))
            elif t.endswith("artist muse"):  # pairs appended: the right label
                out.append(Example(t, labels=["PlayMusic"], label_scores={"PlayMusic": 0.9}, spans=[]))
            else:  # label prefixed ("Wrong | "): the span found again, at shifted offsets
                out.append(Example(t, labels=["Ignored"], spans=[Span(0, 5, "junk"), Span(13, 17, "artist")]))
        return out

    [result] = cascade_predict(predict, ["play muse"])
    assert calls == [["play muse"], ["play muse | artist muse", "Wrong | play muse"]]
    assert result.text == "play muse" and result.labels == ["PlayMusic"] and result.label_scores == {"PlayMusic": 0.9}
    assert [(s.start, s.end, s.label) for s in result.spans] == [(5, 9, "artist")]
    assert result.meta["cascade"] == {"first_labels": ["Wrong"]}
