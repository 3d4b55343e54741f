"""Inference of the joint model: texts -> scores (any backend) -> Viterbi -> examples with offsets.

Shared by :class:`~mrekit.encoder.model.MREModel`, the trainer's dev scoring and the
ONNX backends: a backend only produces the two score arrays, everything after is here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import groupby
from typing import Any

import numpy as np

from mrekit.alignment import char_spans_to_token_spans, strip_space
from mrekit.encoder.attributes import decode_values, inconsistent_attrs, pool_token_range, with_attrs
from mrekit.encoder.features import LabelSpace, collate, featurize_texts
from mrekit.encoder.joint import JointConfig, JointModel
from mrekit.encoder.onnx import TorchBackend, transitions
from mrekit.encoder.pairs import EVENT_TYPE, PairPrediction, predict_pairs
from mrekit.encoder.windows import (
    Window,
    WindowResult,
    best_window,
    check_long_texts,
    mean_value_logits,
    merge,
    split_features,
    text_features,
)
from mrekit.errors import describe_text, warn
from mrekit.formats._words import uses_spaces
from mrekit.metrics.calibration import apply_temperature
from mrekit.predictor import check_batch_size, check_consistency, check_texts
from mrekit.runtime import bucketed_batches
from mrekit.schema import Event, Example, Relation, Span
from mrekit.tags import TagTable, extract_spans, span_scores, viterbi

logger = logging.getLogger(__name__)


def predict_examples(
    model: JointModel,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    consistency: str = "report",
    backend: Any = None,
    warn_truncated: bool = True,
    long_texts: str = "window",
    stride: int | None = None,
) -> list[Example]:
    """Predict text labels and spans for ``texts``, in input order.

    Args:
        model: A joint model (its config, tags and transitions are used by every backend).
        tokenizer: Its fast tokenizer.
        texts: Raw texts.
        batch_size: Texts (or windows of long texts) per forward pass (batches group similar lengths).
        consistency: ``report`` marks spans whose label was never seen with the
            predicted text label in training (``meta["inconsistent_spans"]``);
            ``enforce`` forbids such span labels while decoding; ``off`` does neither.
        backend: A :mod:`mrekit.encoder.onnx` backend (PyTorch by default).
        warn_truncated: Log a warning per text cut at ``max_length`` (the trainer
            counts dev truncation once instead); ``truncate`` mode only.
        long_texts: ``window`` (default): a text longer than ``max_length`` subwords is
            predicted as overlapping windows merged into one example with global offsets
            (``meta["windows"]``, rules in :mod:`mrekit.encoder.windows`); ``truncate``: it
            is cut at ``max_length`` (``meta["truncated"]``, warning ``W105``).
        stride: Subwords shared by consecutive windows (default: a quarter of the window).

    Returns:
        One :class:`Example` per text with ``labels``, ``label_scores`` and scored ``spans``.

    Raises:
        MrekitError: ``E104`` for one ``str`` instead of a list of texts, or an item
            that is not a ``str``; ``E183`` for a bad ``batch_size``, ``consistency``,
            ``long_texts`` or ``stride``.
    """

    texts = check_texts(texts)
    check_batch_size(batch_size)
    check_consistency(consistency)
    check_long_texts(long_texts, stride)
    config = model.config
    backend = backend or TorchBackend(model)
    space = LabelSpace(config.text_labels, config.span_labels, config.multi_label)
    features, windows = text_features(texts, tokenizer, config.max_length, long_texts, stride)
    enforce = consistency == "enforce"
    decoder = _Decoder(config, *transitions(model), enforce, model=model)
    pad = tokenizer.pad_token_id or 0
    sources = [texts[w.text] for w in windows]
    decoded: list[Any] = [None] * len(features)
    for batch_ids in bucketed_batches([len(f.input_ids) for f in features], batch_size, seed=None):
        items = [features[i] for i in batch_ids]
        batch = collate(items, space, pad)
        arrays = dict(zip(config.outputs, backend.scores(batch), strict=True))
        examples, span_tokens = decoder(sources, batch_ids, items, batch["real_mask"].numpy(), arrays)
        probs = decoder.calibrated(arrays["text_probs"])
        for row, (index, example) in enumerate(zip(batch_ids, examples, strict=True)):
            window = windows[index]
            if window.count == 1:
                decoded[index] = example
                continue
            shift = window.start - window.prefix  # window positions -> text tokens
            logits = arrays.get("label_attr_logits")
            decoded[index] = WindowResult(
                window,
                example,
                [(first + shift, last + shift) for first, last, _ in span_tokens[row]],
                probs[row],
                None if logits is None else logits[row],
            )
    results = []
    for _, group in groupby(range(len(windows)), key=lambda i: windows[i].text):
        parts = [decoded[i] for i in group]
        results.append(parts[0] if len(parts) == 1 else _merged(parts, config, enforce))
    if long_texts == "truncate":
        for example, feature in zip(results, features, strict=True):
            if feature.truncated:
                example.meta["truncated"] = True
                if warn_truncated:
                    warn(logger, "W105", f"{describe_text(example.text)} truncated to {config.max_length} subwords")
    if consistency != "off":
        for example in results:
            _mark_inconsistent(example, config)
    return results


def _merged(parts: list[WindowResult], config: JointConfig, enforce: bool) -> Example:
    """The windows of one text as one example; text-level consistency checked on the merged labels."""
    allowed = (lambda probs: _allowed_spans(probs, config)) if enforce else None
    example = merge(parts, config, lambda probs: _text_labels(probs, config), allowed)
    if enforce:
        example.relations = [r for r in example.relations if _fits_text(example, r.label, config)]
        example.events = [e for e in example.events if _fits_text(example, e.type, config)]
    else:
        _mark_structures_against_text(example, config)
    return example


def _allowed_spans(probs: np.ndarray, config: JointConfig):
    """Span labels seen with the top text label in training (as :func:`_allowed_tags`); ``None``: all."""
    seen = config.consistency or {}
    if not config.text_labels or not seen:
        return None
    label = config.text_labels[int(np.argmax(probs))]
    if label not in seen:
        return None
    ok = set(seen[label])
    return lambda span: span.label in ok


def predict_attributes(
    model: JointModel,
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    batch_size: int = 64,
    backend: Any = None,
    long_texts: str = "window",
    stride: int | None = None,
) -> list[Example]:
    """The model's attributes for the spans and text labels that ``examples`` already have.

    The literature's "polarity on gold terms / gold categories" protocol: spans and
    labels stay as given, only ``attrs`` / ``label_attrs`` (with their scores) are
    predicted. A span that covers no token of the (possibly truncated) text keeps no
    attributes. In ``window`` mode a long text is split as in :func:`predict_examples`:
    a span is scored in the window holding it farthest from a cut edge (a span no window
    holds whole, in the window with most of it,
    :func:`~mrekit.encoder.windows.best_window`), and label attributes are the mean value
    probabilities of all windows, weighted by their new tokens.

    Returns:
        Copies of ``examples`` with predicted attributes; relations, events and meta kept.
    """
    check_long_texts(long_texts, stride)
    config = model.config
    backend = backend or TorchBackend(model)
    space = LabelSpace(config.text_labels, config.span_labels, config.multi_label)
    texts = [ex.text for ex in examples]
    if long_texts == "truncate":
        whole, windows = text_features(texts, tokenizer, config.max_length, "truncate")
        features = whole
    else:
        whole = featurize_texts(texts, tokenizer, config.max_length, truncation=False)
        features, windows = split_features(whole, config.max_length, stride)
    of_text: list[list[int]] = [[] for _ in examples]
    for index, window in enumerate(windows):
        of_text[window.text].append(index)
    aligned, requests = _attribute_requests(examples, whole, windows, of_text)
    pad = tokenizer.pad_token_id or 0
    pooled: dict[tuple[int, int], np.ndarray] = {}
    label_logits: dict[int, np.ndarray] = {}
    for batch_ids in bucketed_batches([len(f.input_ids) for f in features], batch_size, seed=None):
        batch = collate([features[i] for i in batch_ids], space, pad)
        arrays = dict(zip(config.outputs, backend.scores(batch), strict=True))
        mask = batch["real_mask"].numpy()
        for row, index in enumerate(batch_ids):
            wanted = requests.get(index, [])
            if wanted and "span_attr_logits" in arrays:
                first, last = [r[2] for r in wanted], [r[3] for r in wanted]
                vectors = pool_token_range(arrays["span_attr_logits"], mask, [row] * len(wanted), first, last)
                pooled.update(((i, k), vector) for (i, k, _, _), vector in zip(wanted, vectors, strict=True))
            if "label_attr_logits" in arrays:
                label_logits[index] = arrays["label_attr_logits"][row]
    results = []
    for i, gold in enumerate(examples):
        logits = None
        if label_logits:
            rows = [label_logits[f] for f in of_text[i]]
            weights = [windows[f].new for f in of_text[i]]
            logits = rows[0] if len(rows) == 1 else mean_value_logits(rows, weights, config.label_attrs)
        results.append(_given_attributes(gold, i, aligned[i], pooled, logits, config))
    return results


def _attribute_requests(examples, whole, windows: list[Window], of_text: list[list[int]]):
    """Per example its gold spans' token spans; per window ``(example, span, first, last)`` to pool there."""
    aligned: list[list[Any]] = []
    requests: dict[int, list[tuple[int, int, int, int]]] = {}
    for i, gold in enumerate(examples):
        token_spans = char_spans_to_token_spans(whole[i].offsets, gold.spans or [], mode="expand").token_spans
        aligned.append(token_spans)
        text_windows = [windows[f] for f in of_text[i]]
        prefix = text_windows[0].prefix
        for k, token_span in enumerate(token_spans):
            if token_span is None:
                continue
            w, start, end = best_window(text_windows, token_span[0] - prefix, token_span[1] - prefix)
            window = text_windows[w]
            local = window.prefix - window.start
            requests.setdefault(of_text[i][w], []).append((i, k, start + local, end + local))
    return aligned, requests


def _given_attributes(gold: Example, i: int, aligned, pooled, label_logits, config: JointConfig) -> Example:
    example = Example(
        gold.text,
        id=gold.id,
        labels=list(gold.labels),
        spans=None,
        relations=list(gold.relations),
        events=list(gold.events),
        meta=dict(gold.meta),
    )
    if gold.spans is not None:
        example.spans = list(gold.spans)
        if "span_attr_logits" in config.outputs:
            spans = []
            for k, (span, token_span) in enumerate(zip(gold.spans, aligned, strict=True)):
                bare = Span(span.start, span.end, span.label, surface=span.surface, score=span.score)
                if token_span is None or (i, k) not in pooled:
                    spans.append(bare)
                    continue
                values = decode_values(pooled[(i, k)], config.span_attrs)
                spans.append(with_attrs(bare, *values, config.attr_consistency))
            example.spans = spans
    if label_logits is not None:
        label_attributes(example, label_logits, config)
    return example


class _Decoder:
    """Scores of a batch -> examples: Viterbi, span extraction, offsets, labels."""

    def __init__(
        self, config: JointConfig, trans: np.ndarray, start: np.ndarray, enforce: bool, model: Any = None
    ) -> None:
        self.config = config
        self.model = model
        self.enforce = enforce
        self.trans, self.start = trans, start
        self.table = TagTable.from_tags(config.tags)
        self.allowed = _allowed_tags(config) if enforce else None
        self.allowed_values = _allowed_values(config) if enforce else {}
        self.types = [tag[2:] for tag in config.tags]

    def calibrated(self, text_probs: np.ndarray) -> np.ndarray:
        """Text probabilities after the model's temperature (single-label; the argmax never changes)."""
        return text_probs if self.config.multi_label else apply_temperature(text_probs, self.config.temperature)

    def __call__(self, texts, batch_ids, items, mask, arrays: dict[str, np.ndarray]):
        """``(examples, span tokens)``: per row its example and its spans' ``(first, last exclusive, type)`` tokens."""
        text_probs, tag_scores = arrays["text_probs"], arrays["tag_scores"]
        if self.allowed is not None:
            # Forbid span types never seen with the predicted text label.
            permitted = self.allowed[text_probs.argmax(axis=1)]
            tag_scores = np.where(permitted[:, None, :], tag_scores, -1e4)
        paths = viterbi(tag_scores, mask, self.trans, self.start)
        path_probs = np.take_along_axis(_softmax(tag_scores), paths[..., None], axis=2)[..., 0]
        rows, first, last = extract_spans(paths, mask, self.table)
        scores = span_scores(path_probs, rows, first, last)
        offsets = np.zeros(mask.shape + (2,), dtype=np.int64)
        for row, item in enumerate(items):
            offsets[row, : len(item.offsets)] = item.offsets
        kinds = self.table.kind[paths[rows, first]]
        per_row: list[list[Span]] = [[] for _ in items]
        span_tokens: list[list[tuple[int, int, int]]] = [[] for _ in items]
        span_type = {label: i for i, label in enumerate(self.config.span_labels)}
        found = zip(
            rows.tolist(),
            offsets[rows, first, 0].tolist(),
            offsets[rows, last, 1].tolist(),
            kinds.tolist(),
            scores.tolist(),
            strict=True,
        )
        pooled = None
        if "span_attr_logits" in arrays:
            pooled = pool_token_range(arrays["span_attr_logits"], mask, rows, first, last + 1)
        for k, (row, s, e, kind, score) in enumerate(found):
            chars = span_characters(texts[batch_ids[row]], s, e)
            if chars is None:  # tagged on a lone SentencePiece marker only: no character to return
                continue
            s, e = chars
            span = Span(s, e, self.types[kind], score=round(score, 4))
            if pooled is not None:
                allowed = self.allowed_values.get(span.label)
                values = decode_values(pooled[k], self.config.span_attrs, allowed)
                span = with_attrs(span, *values, self.config.attr_consistency)
            tokens = (int(first[k]), int(last[k]) + 1, span_type[span.label])
            same = _same_characters(per_row[row], span)
            if same is None:
                per_row[row].append(span)
                span_tokens[row].append(tokens)
            elif (span.score or 0.0) > (per_row[row][same].score or 0.0):
                # Two subword spans of one word snap to the same characters: the surer one stays.
                per_row[row][same], span_tokens[row][same] = span, tokens
        word_level = "word" in self.config.levels
        text_probs = self.calibrated(text_probs)  # calibrated text probabilities (mrekit calibrate); same argmax
        out = []
        for row, index in enumerate(batch_ids):
            labels, label_scores = _text_labels(text_probs[row], self.config)
            example = Example(
                texts[index],
                labels=labels,
                label_scores=label_scores or None,
                spans=per_row[row] if word_level else None,
            )
            if "label_attr_logits" in arrays:
                label_attributes(example, arrays["label_attr_logits"][row], self.config)
            out.append(example)
        if "token_states" in arrays and self.model is not None:
            add_relations_and_events(out, self.model, arrays, span_tokens, mask, enforce=self.enforce)
        return out, span_tokens


def add_relations_and_events(
    examples: list[Example], model: JointModel, arrays, span_tokens, mask: np.ndarray, *, enforce: bool
) -> None:
    """Relations between the predicted spans, and an event per predicted trigger span with its arguments.

    A relation (or argument) whose span types were never seen with its label in training is
    listed in ``meta["inconsistent_relations"]`` (``meta["inconsistent_arguments"]``: event and
    argument index); ``enforce`` forbids it instead. Across levels, a relation label or event
    type never seen with the predicted text label(s) in training is listed in
    ``meta["inconsistent_with_text"]`` (``{"relations": [...], "events": [...]}``), and
    ``enforce`` leaves it out.
    """
    config = model.config
    for pred in predict_pairs(model, arrays, span_tokens, mask, "relations", enforce=enforce):
        example = examples[pred.row]
        if enforce and not _fits_text(example, pred.label, config):
            continue
        example.relations.append(Relation(pred.first, pred.second, pred.label, score=pred.score))
        if not pred.consistent:
            example.meta.setdefault("inconsistent_relations", []).append(len(example.relations) - 1)
    if config.trigger_labels:
        _add_events(examples, model, arrays, span_tokens, mask, enforce=enforce)
    if not enforce:
        for example in examples:
            _mark_structures_against_text(example, config)


def _fits_text(example: Example, label: str, config: JointConfig) -> bool:
    """Whether ``label`` (a relation label or event type) was seen with a predicted text label."""
    seen = config.structure_consistency
    if not seen or not example.labels or not any(t in seen for t in example.labels):
        return True
    return any(label in seen.get(t, []) for t in example.labels)


def _mark_structures_against_text(example: Example, config: JointConfig) -> None:
    odd = {
        "relations": [i for i, r in enumerate(example.relations) if not _fits_text(example, r.label, config)],
        "events": [i for i, e in enumerate(example.events) if not _fits_text(example, e.type, config)],
    }
    if odd["relations"] or odd["events"]:
        example.meta["inconsistent_with_text"] = odd


def _add_events(examples: list[Example], model: JointModel, arrays, span_tokens, mask, *, enforce: bool) -> None:
    config = model.config
    arguments: dict[tuple[int, int], list[PairPrediction]] = {}
    for pred in predict_pairs(model, arrays, span_tokens, mask, "arguments", enforce=enforce):
        arguments.setdefault((pred.row, pred.first), []).append(pred)
    triggers = set(config.trigger_labels)
    for row, example in enumerate(examples):
        for index, span in enumerate(example.spans or []):
            if span.label not in triggers:
                continue
            kind = span.attrs.pop(EVENT_TYPE, None) or (example.labels[0] if example.labels else span.label)
            if span.attr_scores:
                span.attr_scores.pop(EVENT_TYPE, None)
            if enforce and not _fits_text(example, kind, config):
                continue
            found = sorted(arguments.get((row, index), []), key=lambda p: p.second)
            example.events.append(Event(index, kind, tuple((p.label, p.second) for p in found)))
            odd = [k for k, p in enumerate(found) if not p.consistent]
            if odd:
                example.meta.setdefault("inconsistent_arguments", []).extend([len(example.events) - 1, k] for k in odd)


def label_attributes(example: Example, logits: np.ndarray, config: JointConfig) -> None:
    """Set ``label_attrs`` and ``label_attr_scores`` of ``example``'s labels from ``(labels, values)`` logits."""
    index = {label: i for i, label in enumerate(config.text_labels)}
    attrs, scores = {}, {}
    for label in example.labels:
        if label in index:
            attrs[label], scores[label] = decode_values(logits[index[label]], config.label_attrs)
    example.label_attrs = attrs
    example.label_attr_scores = scores or None


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _allowed_values(config: JointConfig) -> dict[str, dict[str, set[str]]]:
    return {label: {k: set(v) for k, v in d.items()} for label, d in (config.attr_consistency or {}).items()}


def _allowed_tags(config: JointConfig) -> np.ndarray:
    table = np.ones((max(1, len(config.text_labels)), len(config.tags)), dtype=bool)
    seen = config.consistency or {}
    for row, label in enumerate(config.text_labels):
        if label in seen:
            ok = set(seen[label])
            table[row] = [tag == "O" or tag[2:] in ok for tag in config.tags]
    return table


def _text_labels(probs: np.ndarray, config: JointConfig) -> tuple[list[str], dict[str, float]]:
    if not config.text_labels or "text" not in config.levels:
        return [], {}
    scores = {label: float(p) for label, p in zip(config.text_labels, probs, strict=False)}
    if config.multi_label:
        thresholds = np.array(config.thresholds or [0.5] * len(config.text_labels))
        chosen = [config.text_labels[i] for i in np.flatnonzero(probs[: len(thresholds)] >= thresholds)]
        return chosen, scores
    return [config.text_labels[int(probs.argmax())]], scores


def _same_characters(spans: list[Span], span: Span) -> int | None:
    """Index of the span in ``spans`` with the same characters as ``span``, if any."""
    return next((i for i, other in enumerate(spans) if (other.start, other.end) == (span.start, span.end)), None)


def span_characters(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The characters of a predicted span: whitespace at its edges cut off, whole words; ``None`` if empty.

    A span whose first token is a lone ``▁`` (an empty offset just before the next
    word, as in ``▁sri`` ``▁`` ``lanka``) would start on the space; one of such a marker
    alone would be empty.

    Example:
        >>> span_characters("in sri lanka", 6, 12), span_characters("in sri lanka", 6, 6)
        ((7, 12), None)
    """
    start, end = strip_space(text, start, end)
    if start >= end:
        return None
    return _snap_to_words(text, start, end)


def _snap_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    # In scripts with spaces a span never starts or ends inside a word: a tag
    # error on one subword ("mu" + "##se") would otherwise cut the word.
    if not uses_spaces(text[start:end]):
        return start, end
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return start, end


def _mark_inconsistent(example: Example, config: JointConfig) -> None:
    if config.attr_consistency and example.spans:
        odd = inconsistent_attrs(example.spans, config.attr_consistency)
        if odd:
            example.meta["inconsistent_attrs"] = odd
    if not config.consistency or not example.labels or not example.spans:
        return
    ok = {s for label in example.labels for s in config.consistency.get(label, [])}
    bad = [i for i, span in enumerate(example.spans) if span.label not in ok]
    if bad:
        example.meta["inconsistent_spans"] = bad
