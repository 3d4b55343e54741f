"""Long texts in overlapping windows (``mrekit.encoder.windows``): splitting and merging by hand, then end to end."""

from __future__ import annotations

import json
import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from mrekit.alignment import char_spans_to_token_spans
from mrekit.cli import app
from mrekit.encoder.backbone import make_tiny_encoder
from mrekit.encoder.features import Features, featurize_texts
from mrekit.encoder.model import MREModel
from mrekit.encoder.windows import (
    Window,
    WindowResult,
    best_window,
    check_long_texts,
    default_stride,
    edge_distance,
    holds_inside,
    merge,
    merge_events,
    merge_relations,
    merge_spans,
    merge_text_probs,
    split_features,
    split_tokens,
)
from mrekit.errors import MrekitError
from mrekit.schema import Event, Example, Relation, Span
from mrekit.trainer import TrainingArguments

# --- splitting, on hand-made token offsets ---------------------------------------------------------------------


def test_split_tokens_steps_by_size_less_stride_and_ends_with_a_full_window():
    assert split_tokens(30, 14, 3) == [(0, 14), (11, 25), (16, 30)]  # the last moved back to end at 30
    assert split_tokens(28, 14, 0) == [(0, 14), (14, 28)]  # stride 0: windows side by side
    assert split_tokens(15, 14, 0) == [(0, 14), (1, 15)]
    assert split_tokens(14, 14, 3) == [(0, 14)]  # fits: one window
    assert split_tokens(0, 14, 3) == [(0, 0)]
    assert default_stride(14) == 3 and default_stride(126) == 31


def _features(n: int) -> Features:
    """``[CLS]`` + ``n`` tokens + ``[SEP]``; token ``i`` is characters ``3i..3i+2`` of ``"t0 t1 t2 ..."``-like text."""
    offsets = [(0, 0)] + [(3 * i, 3 * i + 2) for i in range(n)] + [(0, 0)]
    return Features([101] + [1000 + i for i in range(n)] + [102], offsets, [False] + [True] * n + [False], None, None)


def test_split_features_slices_one_tokenization_keeping_special_tokens_and_global_offsets():
    features, windows = split_features([_features(20), _features(5)], max_length=8, stride=2)
    # 6 text tokens per window, a step of 4: starts 0, 4, 8, 12, then 14 (ends at the 20th token).
    assert [(w.text, w.start, w.end, w.new, w.count) for w in windows] == [
        (0, 0, 6, 6, 5),
        (0, 4, 10, 4, 5),
        (0, 8, 14, 4, 5),
        (0, 12, 18, 4, 5),
        (0, 14, 20, 2, 5),
        (1, 0, 5, 5, 1),  # the short text is left as it is
    ]
    assert sum(w.new for w in windows[:5]) == 20  # every token is new in exactly one window
    second = features[1]
    assert second.input_ids == [101, 1004, 1005, 1006, 1007, 1008, 1009, 102]
    assert second.offsets == [(0, 0), (12, 14), (15, 17), (18, 20), (21, 23), (24, 26), (27, 29), (0, 0)]
    assert second.real == [False] + [True] * 6 + [False]
    assert all(len(f.input_ids) <= 8 for f in features)
    assert features[5].input_ids == _features(5).input_ids
    assert (windows[0].cuts_left, windows[0].cuts_right, windows[4].cuts_left, windows[4].cuts_right) == (
        False,
        True,
        True,
        False,
    )


def test_a_text_that_fits_exactly_is_one_window():
    features, windows = split_features([_features(6)], max_length=8, stride=2)
    assert len(features) == 1 and windows == [Window(0, 0, 6, 6, 6, 1, 1)]


@pytest.mark.parametrize(
    ("long_texts", "stride", "field"),
    [
        ("windows", None, "long_texts"),
        ("window", -1, "stride"),
        ("window", 2.5, "stride"),
        ("truncate", True, "stride"),
    ],
)
def test_bad_long_texts_and_stride_are_e183(long_texts, stride, field):
    with pytest.raises(MrekitError) as err:
        check_long_texts(long_texts, stride)
    assert (err.value.code, err.value.field) == ("E183", field)


def test_a_stride_of_a_whole_window_is_e183():
    with pytest.raises(MrekitError) as err:
        split_features([_features(20)], max_length=8, stride=6)
    assert err.value.field == "stride" and "smaller than a window's 6 text tokens" in err.value.message
    split_features([_features(6)], max_length=8, stride=6)  # only texts that need windows are split


# --- distances and the span rules --------------------------------------------------------------------------------

# Two windows of a 12-token text: W0 = tokens 0..8, W1 = tokens 4..12 (shared: 4..8). Token i is
# characters 3i..3i+2, so a span of tokens a..b is characters 3a..3b-1.
W0, W1 = Window(0, 0, 8, 12, 8, 1, 2), Window(0, 4, 12, 12, 4, 1, 2)


def _span(a: int, b: int, label: str = "x", score: float = 0.9, **attrs) -> Span:
    return Span(3 * a, 3 * b - 1, label, attrs=attrs, score=score)


def test_edge_distance_counts_tokens_to_the_nearer_cut_edge_only():
    assert edge_distance(W0, 5, 6) == 2  # W0 cuts on the right only: 8 - 6
    assert edge_distance(W0, 0, 1) == 7  # the text's start is no cut edge
    assert edge_distance(W1, 5, 6) == 1  # 5 - 4
    assert edge_distance(W1, 10, 12) == 6  # 10 - 4: the text's end is no cut edge
    assert edge_distance(Window(0, 0, 5, 5, 5), 0, 5) == math.inf  # a text in one window
    assert holds_inside(W1, 5, 7) and not holds_inside(W1, 4, 6) and not holds_inside(W1, 3, 6)


def _merge(spans0, spans1, windows=(W0, W1)):
    tokens = [[(s.start // 3, (s.end + 1) // 3) for s in spans] for spans in (spans0, spans1)]
    return merge_spans(list(windows), [spans0, spans1], tokens)


def test_a_span_seen_by_both_windows_is_kept_from_the_one_where_it_is_farther_from_a_cut_edge():
    merged = _merge(
        [_span(5, 6, score=0.7, polarity="neg"), _span(6, 7, score=0.6)],
        [_span(5, 6, score=0.8), _span(6, 7, score=0.5, polarity="pos")],
    )
    # tokens 5..6: 2 from W0's edge, 1 from W1's -> W0's; tokens 6..7: 1 from W0's, 2 from W1's -> W1's
    assert [(s.start, s.end, s.score, s.attrs) for s in merged.spans] == [
        (15, 17, 0.7, {"polarity": "neg"}),
        (18, 20, 0.5, {"polarity": "pos"}),
    ]
    assert merged.source == [0, 1]
    assert merged.index == {(0, 0): 0, (1, 0): 0, (0, 1): 1, (1, 1): 1}  # both copies stand for the merged span


def test_ties_go_to_the_earlier_window():
    merged = _merge([_span(5, 7, score=0.1)], [_span(5, 7, score=0.2)])  # 1 token from either cut edge
    assert [(s.start, s.end, s.score) for s in merged.spans] == [(15, 20, 0.1)] and merged.source == [0]


def test_a_span_touching_a_cut_edge_is_dropped_when_another_window_holds_it_inside():
    # W0 sees tokens 7..8 at its right edge (maybe the start of a longer span); W1 holds them
    # 3 tokens from its edge and predicts nothing there: the span goes.
    assert _merge([_span(7, 8)], []).spans == []
    # W1's span at its left edge (tokens 4..5) is held inside W0 (3 tokens from W0's edge).
    assert _merge([], [_span(4, 5)]).spans == []
    # A span no other window holds whole stays: tokens 2..8 touch W0's edge, but W1 starts at 4.
    assert [(s.start, s.end) for s in _merge([_span(2, 8, "long")], []).spans] == [(6, 23)]
    # Touching the text's own start or end is no cut edge.
    assert len(_merge([_span(0, 1)], [_span(11, 12)]).spans) == 2


def test_overlapping_conflicting_spans_keep_the_one_farther_from_a_cut_edge():
    merged = _merge([_span(5, 7, "a"), _span(1, 2, "c")], [_span(6, 8, "b")])
    # a: 1 token from W0's edge; b: 2 from W1's left edge (W1 has no right cut) -> b wins, a goes
    assert [(s.start, s.end, s.label) for s in merged.spans] == [(3, 5, "c"), (18, 23, "b")]
    assert merged.index == {(0, 1): 0, (1, 0): 1}
    same_distance = _merge([_span(5, 7, "a")], [_span(5, 6, "b")])  # both 1 token from a cut edge: W0 first
    assert [s.label for s in same_distance.spans] == ["a"]


def test_spans_of_one_window_never_conflict_with_each_other():
    # Word snapping can make two spans of one window overlap; the merge keeps both, as a single window does.
    merged = _merge([_span(1, 3, "a"), _span(2, 3, "b")], [])
    assert [s.label for s in merged.spans] == ["a", "b"]


# --- relations, events, text labels and label attributes ---------------------------------------------------------


def test_relations_are_reindexed_deduplicated_and_dropped_with_their_spans():
    w0 = Example("", spans=[_span(1, 2), _span(5, 6), _span(7, 8)])
    w0.relations = [Relation(0, 1, "r", score=0.6), Relation(1, 2, "r", score=0.9)]
    w0.meta["inconsistent_relations"] = [0]
    w1 = Example("", spans=[_span(5, 6), _span(9, 10)])
    w1.relations = [Relation(0, 1, "r", score=0.8), Relation(1, 0, "q", score=0.7)]
    merged = _merge(w0.spans, w1.spans)  # tokens 7..8 of W0 touch its edge and W1 holds them: dropped
    assert [(s.start // 3) for s in merged.spans] == [1, 5, 9]
    relations, odd = merge_relations([w0, w1], merged.index)
    assert relations == [Relation(0, 1, "r"), Relation(1, 2, "r"), Relation(2, 1, "q")]
    assert [r.score for r in relations] == [0.6, 0.8, 0.7]
    assert odd == [0]  # W0's relation 0 (type-inconsistent there) is merged relation 0
    w1.relations.append(Relation(0, 1, "r2", score=0.5))  # the same pair again, lower score: not kept
    assert merge_relations([w0, w1], merged.index)[0][1] == Relation(1, 2, "r")


def test_identical_relations_from_two_windows_are_one_with_the_higher_score():
    w0 = Example("", spans=[_span(4, 5), _span(6, 7)], relations=[Relation(0, 1, "r", score=0.7)])
    w1 = Example("", spans=[_span(4, 5), _span(6, 7)], relations=[Relation(0, 1, "r", score=0.9)])
    merged = _merge(w0.spans, w1.spans)
    relations, _ = merge_relations([w0, w1], merged.index)
    assert relations == [Relation(0, 1, "r")] and relations[0].score == 0.9
    w1.relations = [Relation(0, 1, "q", score=0.7)]  # a tie: the earlier window's
    assert merge_relations([w0, w1], merged.index)[0][0].label == "r"


def test_events_follow_their_trigger_span():
    w0 = Example("", spans=[_span(1, 2, "T"), _span(3, 4), _span(7, 8)])
    w0.events = [Event(0, "E", (("arg", 1), ("far", 2)))]  # span 2 touches W0's edge and is dropped
    w0.meta["inconsistent_arguments"] = [[0, 0]]
    w1 = Example("", spans=[_span(6, 7, "T"), _span(9, 10)], events=[Event(0, "F", (("arg", 1),))])
    w1b = Example("", spans=[_span(6, 7, "T")], events=[Event(0, "G")])
    merged = _merge(w0.spans, w1.spans)
    events, odd = merge_events([w0, w1], merged.index, merged.source)
    assert events == [Event(0, "E", (("arg", 1),)), Event(2, "F", (("arg", 3),))]
    assert odd == [[0, 0]]
    # The same trigger in two windows: the event of the window the trigger was kept from.
    merged = _merge([_span(6, 7, "T")], w1b.spans)  # 2 tokens from W1's edge, 1 from W0's: W1's
    w0c = Example("", spans=[_span(6, 7, "T")], events=[Event(0, "H")])
    assert merge_events([w0c, w1b], merged.index, merged.source)[0] == [Event(0, "G")]


def test_text_probabilities_are_new_token_weighted_means_or_maxima():
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    weights = [8, 4, 2]
    mean = merge_text_probs(probs, weights, multi_label=False)
    assert mean.tolist() == pytest.approx([(0.9 * 8 + 0.4 * 4 + 0.2 * 2) / 14, (0.1 * 8 + 0.6 * 4 + 0.8 * 2) / 14])
    assert merge_text_probs(probs, weights, multi_label=True).tolist() == [0.9, 0.8]


def _config(**kw):
    base = {"multi_label": False, "text_labels": ["a", "b"], "label_attrs": {"polarity": ["neg", "pos"]}}
    return SimpleNamespace(**{**base, **kw})


def test_merge_decides_labels_and_label_attributes_from_the_windows_that_predicted_them():
    config = _config()

    def decide(probs):
        scores = {k: float(p) for k, p in zip(config.text_labels, probs, strict=True)}
        return [config.text_labels[int(np.argmax(probs))]], scores

    def window(w, labels, probs, pos):  # label-attribute logits: log-probabilities of (neg, pos) per label
        logits = np.log(np.array([[1 - pos, pos], [0.5, 0.5]]))
        return WindowResult(w, Example("t", labels=labels, spans=[]), [], np.array(probs), logits)

    results = [window(W0, ["a"], [0.7, 0.3], 0.9), window(W1, ["b"], [0.2, 0.8], 0.1)]
    merged = merge(results, config, decide)
    assert merged.labels == ["a"]  # (0.7 * 8 + 0.2 * 4) / 12 = 0.533 > 0.467
    assert merged.label_scores == pytest.approx({"a": 6.4 / 12, "b": 5.6 / 12})
    # only W0 predicted "a": its value probabilities alone
    assert merged.label_attrs == {"a": {"polarity": "pos"}}
    assert merged.label_attr_scores == {"a": {"polarity": {"neg": 0.1, "pos": 0.9}}}
    assert merged.spans == [] and merged.meta == {"windows": 2}
    results[1].example.labels = ["a"]  # both did: the new-token-weighted mean, (0.9 * 8 + 0.1 * 4) / 12
    assert merge(results, config, decide).label_attr_scores["a"]["polarity"]["pos"] == pytest.approx(7.6 / 12, abs=1e-4)
    results[0].example.labels = results[1].example.labels = ["b"]  # none did: all windows
    assert merge(results, config, decide).label_attr_scores["a"]["polarity"]["pos"] == pytest.approx(7.6 / 12, abs=1e-4)


def test_best_window_for_a_given_span():
    windows = [Window(0, 0, 14, 30, 14), Window(0, 11, 25, 30, 11), Window(0, 16, 30, 30, 5)]
    assert best_window(windows, 12, 14) == (1, 12, 14)  # touches window 0's edge, 1 token inside window 1
    assert best_window(windows, 2, 5) == (0, 2, 5)
    assert best_window(windows, 17, 19) == (1, 17, 19)  # 6 tokens inside window 1, 1 inside window 2
    assert best_window(windows, 26, 28) == (2, 26, 28)  # only window 2 holds it
    assert best_window(windows, 2, 20) == (0, 2, 14)  # no window holds it: the one with most of it, clipped


# --- end to end with a tiny model (max_length 16: 14 text tokens per window) ---------------------------------------

LENGTH = 16
POS, NEG = {"polarity": "positive"}, {"polarity": "negative"}
# Every English sentence is 7 subwords and every Japanese one 7 characters (split_cjk="chars"), so
# windows of 14 tokens with a stride of 7 hold two whole sentences.
EN = [
    (["play", "songs", "by", ("adele", "artist"), "right", "now", "."], "music", None),
    (["what", "is", "the", "weather", "in", ("paris", "city"), "."], "weather", None),
    (["i", "really", "like", ("muse", "artist", POS), "a", "lot", "."], "music", POS),
    ([("drake", "artist"), "now", "lives", "in", ("rome", "city"), "today", "."], "people", None),
    (["i", "really", "hate", ("queen", "artist", NEG), "so", "much", "."], "music", NEG),
    (["what", "is", "the", "weather", "in", ("tokyo", "city"), "."], "weather", None),
    (["play", "songs", "by", ("muse", "artist"), "right", "now", "."], "music", None),
    ([("adele", "artist"), "now", "lives", "in", ("berlin", "city"), "today", "."], "people", None),
]
JA = [
    ([("山田", "artist"), "は", ("東京", "city"), "へ。"], "people", None),
    ([("大阪", "city"), "は晴天だ。"], "weather", None),
    ([("佐藤", "artist", POS), "の歌好き。"], "music", POS),
    ([("鈴木", "artist"), "は", ("京都", "city"), "へ。"], "people", None),
    ([("奈良", "city"), "は晴天だ。"], "weather", None),
    ([("田中", "artist", POS), "の歌好き。"], "music", POS),
]


def _build(sentences, sep: str, labelled: bool = True) -> Example:
    """One example of ``sentences``; ``labelled``: its text label (of a single sentence)."""
    text, spans, relations = "", [], []
    for parts, label, _ in sentences:
        text += sep if text else ""
        first = len(spans)
        for k, part in enumerate(parts):
            word, kind, attrs = (part, None, None) if isinstance(part, str) else (part + (None,))[:3]
            if k and sep:
                text += sep
            if kind:
                spans.append(Span(len(text), len(text) + len(word), kind, attrs=dict(attrs or {})))
            text += word
        if label == "people":
            relations.append(Relation(first, first + 1, "lives_in"))
    single = labelled and len(sentences) == 1
    label, label_attrs = sentences[0][1], sentences[0][2]
    return Example(
        text,
        labels=[label] if single else [],
        label_attrs={label: dict(label_attrs)} if single and label_attrs else {},
        spans=spans,
        relations=relations,
    )


def _training():
    out = []
    for group, sep in ((EN, " "), (JA, "")):
        out += [_build([s], sep) for s in group]
        out += [_build(group[i : i + 2], sep, labelled=False) for i in range(len(group) - 1)]  # two-sentence windows
    return out


EN_TEXT = _build(EN, " ").text
JA_TEXT = _build(JA, "").text


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train = _training()
    encoder = make_tiny_encoder(tmp_path_factory.mktemp("windows-encoder"), [ex.text for ex in train])
    args = TrainingArguments(
        epochs=12, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0, seed=3
    )
    model = MREModel(mode="mre", encoder=encoder, max_length=LENGTH, split_cjk="chars")
    return model.fit(train, train, args=args, output_dir=tmp_path_factory.mktemp("windows-run"))


def _by_window(model, text: str, stride: int):
    """Each window of ``text`` predicted on its own as a short text, its offsets shifted to the text's."""
    full = featurize_texts([text], model.tokenizer_, LENGTH, truncation=False)
    features, windows = split_features(full, LENGTH, stride)
    pieces = []
    for feature, window in zip(features, windows, strict=True):
        body = feature.offsets[window.prefix : window.prefix + window.end - window.start]
        start, end = body[0][0], body[-1][1]
        assert model.tokenizer_(text[start:end])["input_ids"] == feature.input_ids  # the same tokens alone
        pieces.append((start, text[start:end]))
    alone = model.predict([piece for _, piece in pieces], long_texts="truncate")
    results = []
    for (shift, piece), example, feature, window in zip(pieces, alone, features, windows, strict=True):
        assert "truncated" not in example.meta
        spans = [
            Span(s.start + shift, s.end + shift, s.label, attrs=s.attrs, score=s.score, attr_scores=s.attr_scores)
            for s in example.spans
        ]
        assert [text[s.start : s.end] for s in spans] == [piece[s.start : s.end] for s in example.spans]
        aligned = char_spans_to_token_spans(feature.offsets, spans, mode="strict").token_spans
        tokens = [(a - window.prefix + window.start, b - window.prefix + window.start) for a, b, _ in aligned]
        shifted = Example(
            text, labels=example.labels, label_scores=example.label_scores, spans=spans,
            relations=example.relations, meta=example.meta, label_attrs=example.label_attrs,
            label_attr_scores=example.label_attr_scores,
        )  # fmt: skip
        results.append(WindowResult(window, shifted, tokens))
    return results


def _expected(results):
    merged = merge_spans([r.window for r in results], [r.example.spans for r in results], [r.tokens for r in results])
    relations, _ = merge_relations([r.example for r in results], merged.index)
    return merged, relations


def _check_against_windows(model, text: str, stride: int) -> Example:
    doc = model.predict([text], stride=stride)[0]
    results = _by_window(model, text, stride)
    merged, relations = _expected(results)
    assert doc.meta["windows"] == len(results) > 1 and "truncated" not in doc.meta
    assert [s.key for s in doc.spans] == [s.key for s in merged.spans]
    for got, want in zip(doc.spans, merged.spans, strict=True):  # kept from the same window
        assert got.score == pytest.approx(want.score, abs=2e-4) and got.attrs == want.attrs
    assert [(r.head, r.tail, r.label) for r in doc.relations] == [(r.head, r.tail, r.label) for r in relations]
    return doc


def _gold_surfaces(sentences, sep: str):
    gold = _build(sentences, sep)
    return [(gold.surface(s), s.label) for s in gold.spans]


def test_english_text_in_windows_has_exact_global_offsets(trained):
    doc = _check_against_windows(trained, EN_TEXT, stride=7)
    assert doc.meta["windows"] == 7  # 56 tokens, windows of 14 every 7
    assert [(EN_TEXT[s.start : s.end], s.label) for s in doc.spans] == _gold_surfaces(EN, " ")
    assert EN_TEXT.count("muse") == 2 and [s.start for s in doc.spans if s.label == "artist"][1] == EN_TEXT.index(
        "muse"
    )
    gold = _build(EN, " ")
    assert [(r.head, r.tail, r.label) for r in doc.relations] == [(r.head, r.tail, r.label) for r in gold.relations]


def test_japanese_text_in_windows_has_exact_global_offsets(trained):
    doc = _check_against_windows(trained, JA_TEXT, stride=7)
    assert doc.meta["windows"] == 5  # 42 characters
    assert [(JA_TEXT[s.start : s.end], s.label) for s in doc.spans] == _gold_surfaces(JA, "")


@pytest.mark.parametrize("stride", [None, 0, 3, 10])
@pytest.mark.parametrize("text", [EN_TEXT, JA_TEXT], ids=["en", "ja"])
def test_windows_cutting_sentences_merge_as_the_windows_predict(trained, text, stride):
    doc = _check_against_windows(trained, text, stride=default_stride(LENGTH - 2) if stride is None else stride)
    if stride is None:  # the default
        assert [s.key for s in trained.predict([text])[0].spans] == [s.key for s in doc.spans]
    assert all(0 <= s.start < s.end <= len(text) for s in doc.spans)


def test_text_labels_and_label_attributes_are_aggregated_over_the_windows(trained):
    for text in (EN_TEXT, JA_TEXT):
        doc = trained.predict([text], stride=3)[0]
        results = _by_window(trained, text, 3)
        weights = [r.window.new for r in results]
        assert sum(weights) == len(featurize_texts([text], trained.tokenizer_, LENGTH, truncation=False)[0].real) - 2
        labels = trained.labels_
        mean = {
            label: sum(w * r.example.label_scores[label] for w, r in zip(weights, results, strict=True)) / sum(weights)
            for label in labels
        }
        assert doc.label_scores == pytest.approx(mean, abs=1e-5)
        assert doc.labels == [max(mean, key=mean.get)]
        label = doc.labels[0]
        voted = [(w, r.example) for w, r in zip(weights, results, strict=True) if label in r.example.labels]
        voted = voted or [(w, r.example) for w, r in zip(weights, results, strict=True)]
        if not all(label in ex.label_attr_scores for _, ex in voted):
            continue  # the fallback to all windows uses values the windows do not show
        probs = {
            value: sum(w * ex.label_attr_scores[label]["polarity"][value] for w, ex in voted) / sum(w for w, _ in voted)
            for value in ("negative", "positive")
        }
        assert doc.label_attr_scores[label]["polarity"] == pytest.approx(probs, abs=1e-3)
        assert doc.label_attrs[label] == {"polarity": max(probs, key=probs.get)}


def test_truncate_mode_keeps_the_old_behaviour_and_warning(trained, caplog):
    with caplog.at_level(logging.WARNING):
        windowed = trained.predict([EN_TEXT], stride=7)[0]
    assert "W105" not in caplog.text and "truncated" not in windowed.meta
    with caplog.at_level(logging.WARNING):
        cut = trained.predict([EN_TEXT], long_texts="truncate")[0]
    assert cut.meta["truncated"] is True and "windows" not in cut.meta
    assert f"truncated to {LENGTH} subwords" in caplog.text and "[W105]" in caplog.text
    first = _by_window(trained, EN_TEXT, 7)[0].example  # what truncation keeps is the first window
    assert [s.key for s in cut.spans] == [s.key for s in first.spans]
    assert cut.labels == first.labels
    streamed = list(trained.pipe(iter([EN_TEXT, "play songs by adele right now ."]), long_texts="truncate"))
    assert streamed[0].meta["truncated"] is True and "truncated" not in streamed[1].meta
    assert "windows" in next(trained.pipe([EN_TEXT], stride=7)).meta


def test_short_texts_are_predicted_as_before(trained):
    texts = [_build([s], " ").text for s in EN[:3]]
    assert [e.to_dict() for e in trained.predict(texts)] == [
        e.to_dict() for e in trained.predict(texts, long_texts="truncate")
    ]


def test_consistency_enforce_on_windows(trained):
    doc = trained.predict([EN_TEXT], stride=7, consistency="enforce")[0]
    seen = trained.model_.config.consistency or {}
    if doc.labels and doc.labels[0] in seen:
        assert all(s.label in seen[doc.labels[0]] for s in doc.spans)
    assert all(0 <= r.head < len(doc.spans) and 0 <= r.tail < len(doc.spans) for r in doc.relations)


def test_predict_and_pipe_check_long_texts_and_stride(trained):
    for call in (trained.predict, trained.pipe):
        with pytest.raises(MrekitError) as err:
            call([EN_TEXT], long_texts="split")
        assert err.value.field == "long_texts"
    with pytest.raises(MrekitError) as err:
        trained.predict([EN_TEXT], stride=14)  # a window holds 14 text tokens
    assert err.value.code == "E183" and err.value.field == "stride"


def test_predict_attributes_on_a_long_text(trained):
    doc = trained.predict([EN_TEXT], stride=7)[0]
    gold = Example(EN_TEXT, labels=doc.labels, spans=[Span(s.start, s.end, s.label) for s in doc.spans])
    got = trained.predict_attributes([gold], stride=7)[0]
    assert [s.key for s in got.spans] == [s.key for s in doc.spans]
    assert [s.attrs for s in got.spans] == [s.attrs for s in doc.spans]  # scored in the same windows
    assert set(got.label_attrs) == set(doc.labels)
    cut = trained.predict_attributes([gold], long_texts="truncate")[0]
    assert len(cut.spans) == len(gold.spans)  # spans past the cut keep no attributes, and nothing crashes


def test_cli_predict_long_texts_and_stride(trained, tmp_path):
    runner = CliRunner()
    folder = str(trained.path_)
    result = runner.invoke(app, ["predict", folder, "-", "--long-texts", "truncate"], input=EN_TEXT + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["meta"]["truncated"] is True
    result = runner.invoke(app, ["predict", folder, "-", "--stride", "7"], input=EN_TEXT + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["meta"]["windows"] == 7
    result = runner.invoke(app, ["predict", folder, "-", "--stride", "-1"], input=EN_TEXT + "\n")
    assert result.exit_code == 1 and "[E183] field 'stride'" in result.output
    (tmp_path / "mrekit.json").write_text('{"engine": "generative"}')
    result = runner.invoke(app, ["predict", str(tmp_path), "-", "--long-texts", "window"], input="a\n")
    assert result.exit_code == 1 and "[E175]" in result.output
