"""Long texts as overlapping windows of the model's ``max_length``, and the merge of their predictions.

**Splitting.** A text whose tokens (special tokens included) do not fit in ``max_length``
is not cut: :func:`split_features` slices the text's one tokenization into windows of
``size = max_length - special tokens`` text tokens, consecutive windows sharing ``stride``
tokens (default :func:`default_stride`: a quarter of ``size``). Windows start at ``0``,
``size - stride``, ``2 (size - stride)``, ... and the last one is moved back to end at the
text's last token, so that it is full too (it then shares ``stride`` tokens or more with
the one before). Each window keeps the special tokens around it, and its offsets are the
text's own character offsets: a window decodes like any text, its spans come out with
global offsets (nothing to shift), and the windows of all texts share the same
length-bucketed batches. Windows break on subword tokens; a word cut at a window edge
is handled by the edge rule below.

**Merging** (:func:`merge`), one :class:`~mrekit.schema.Example` per text:

* *Cut edges and distance.* A window's cut edges are its edges that are not the text's
  start or end (the first window has no left cut edge, the last no right one). A span's
  distance in a window is the number of the window's tokens between the span and the
  nearer cut edge (``span start - window start`` or ``window end - span end``, in tokens);
  it is infinite in a window without cut edges. A span at distance 0 touches a cut edge:
  it may be the visible part of a longer span.
* *Spans.* (1) A span touching a cut edge is dropped when another window holds all its
  tokens at distance 1 or more (that window saw it with context on both sides, whatever
  it predicted there); with no such window (a span longer than the overlap) it stays a
  candidate. (2) The candidates are taken by decreasing distance, then window, then
  position, and each is kept unless it overlaps (in characters) a span already kept from
  another window. So a span predicted in several windows is kept from the window where
  it is farthest from a cut edge (ties: the earlier window), with that window's
  ``score``, ``attrs`` and ``attr_scores``; and of overlapping conflicting spans from
  different windows, the one farther from a cut edge wins by the same rule. Merged spans
  are in text order ``(start, end, label)``.
* *Text labels.* Single-label: the mean of the windows' (calibrated) probabilities, each
  window weighted by its new tokens (those not in the window before it: the weights sum
  to the text's tokens and every token counts once), then the argmax. Multi-label: per
  label the maximum over the windows, then the model's thresholds (a label is predicted
  when one window predicts it). ``label_scores`` are these aggregated probabilities.
* *Label attributes.* Per predicted label, the new-token-weighted mean of the value
  probabilities of the windows that predicted that label (of all windows when none did,
  which the single-label mean can cause), then the most probable value.
* *Relations and events.* A window's span stands for the merged span with the same offsets
  and label (the kept one or an identical copy of it). A relation is kept when both its
  spans are merged spans, re-indexed onto them; of one ordered pair predicted by several
  windows the relation with the higher score is kept (ties: the earlier window), so
  identical relations are never repeated. An event is kept with its trigger span, from the
  window the trigger was kept from (else the earliest window with an event on it); its
  arguments are re-indexed, and an argument whose span was not kept is dropped.

Hand-written because the merge works on mrekit's own decoded spans, scores, attributes and
structures (no library merges character-offset spans, relations and events across
windows), and because slicing one tokenization, rather than using the tokenizer's
overflowing windows, keeps every window's tokens and offsets exactly the text's for every
tokenizer mrekit supports and gives the geometry (cut edges, new tokens) the merge needs,
as plain arithmetic that tests check on hand-made token offsets.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from mrekit.encoder.attributes import decode_values, groups
from mrekit.encoder.features import Features, featurize_texts
from mrekit.errors import MrekitError
from mrekit.schema import Event, Example, Relation, Span

#: What ``predict(..., long_texts=...)`` accepts: split into windows (default) or cut at ``max_length``.
LONG_TEXTS = ("window", "truncate")


@dataclass(frozen=True)
class Window:
    """One window of a text: its text tokens ``start..end`` (exclusive) out of ``length``.

    Token positions count the text's tokens without the special tokens; ``prefix`` is how
    many special tokens come before them in the window's input ids.

    Example:
        >>> w = Window(text=0, start=11, end=25, length=30, new=11, count=3)
        >>> w.cuts_left, w.cuts_right
        (True, True)
    """

    text: int
    start: int
    end: int
    length: int
    new: int
    prefix: int = 1
    count: int = 1

    @property
    def cuts_left(self) -> bool:
        """Whether the window's left edge cuts the text (it does not start at the text's start)."""
        return self.start > 0

    @property
    def cuts_right(self) -> bool:
        """Whether the window's right edge cuts the text."""
        return self.end < self.length


def default_stride(size: int) -> int:
    """Tokens shared by consecutive windows of ``size`` text tokens when not given: a quarter.

    Example:
        >>> default_stride(126)
        31
    """
    return size // 4


def check_long_texts(long_texts: Any, stride: Any = None) -> None:
    """``E183`` for a ``long_texts`` other than ``window``/``truncate`` or a ``stride`` that is not an integer >= 0.

    Example:
        >>> check_long_texts("window", -1)
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E183] field 'stride': stride must be an integer of at least 0 (or null), not -1
    """
    if long_texts not in LONG_TEXTS:
        raise MrekitError(
            "E183", f"long_texts must be one of {', '.join(LONG_TEXTS)}, not {long_texts!r}", field="long_texts"
        )
    if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int) or stride < 0):
        raise MrekitError("E183", f"stride must be an integer of at least 0 (or null), not {stride!r}", field="stride")


def check_stride(stride: int, size: int, max_length: int) -> None:
    """``E183`` for a stride that leaves no new token per window (``stride >= size``)."""
    if stride >= size:
        raise MrekitError(
            "E183",
            f"stride must be smaller than a window's {size} text tokens (max_length {max_length} less "
            f"{max_length - size} special tokens), not {stride}",
            field="stride",
        )


def split_tokens(length: int, size: int, stride: int) -> list[tuple[int, int]]:
    """``(start, end)`` token ranges of the windows of a text of ``length`` tokens.

    Example:
        >>> split_tokens(30, 14, 3)
        [(0, 14), (11, 25), (16, 30)]
        >>> split_tokens(10, 14, 3)
        [(0, 10)]
    """
    if length <= size:
        return [(0, length)]
    step = size - stride
    starts = list(range(0, length - size, step)) + [length - size]
    return [(start, start + size) for start in starts]


def _frame(real: Sequence[bool]) -> tuple[int, int]:
    """Special tokens before and after the text's tokens."""
    prefix = next((i for i, r in enumerate(real) if r), len(real))
    suffix = next((i for i, r in enumerate(reversed(real)) if r), 0) if prefix < len(real) else 0
    return prefix, suffix


def _whole(text: int, feature: Features) -> Window:
    """The one window of a text that fits (or was cut at ``max_length``)."""
    prefix, suffix = _frame(feature.real)
    length = len(feature.input_ids) - prefix - suffix
    return Window(text, 0, length, length, length, prefix)


def split_features(
    features: Sequence[Features], max_length: int, stride: int | None = None
) -> tuple[list[Features], list[Window]]:
    """Each text's features as one or more windows of at most ``max_length`` tokens, in text order.

    Args:
        features: One untruncated :class:`Features` per text (:func:`featurize_texts` with
            ``truncation=False``).
        max_length: Tokens per window, special tokens included.
        stride: Tokens shared by consecutive windows (default :func:`default_stride`).

    Returns:
        The windows' features and, parallel to them, their :class:`Window`.

    Raises:
        MrekitError: ``E183`` for a stride of a whole window or more (:func:`check_stride`).
    """
    out: list[Features] = []
    windows: list[Window] = []
    for text, feature in enumerate(features):
        prefix, suffix = _frame(feature.real)
        total = len(feature.input_ids)
        length = total - prefix - suffix
        if total <= max_length:
            out.append(feature)
            windows.append(_whole(text, feature))
            continue
        size = max_length - prefix - suffix
        step_stride = default_stride(size) if stride is None else stride
        check_stride(step_stride, size, max_length)
        ranges = split_tokens(length, size, step_stride)
        previous = 0
        for start, end in ranges:
            keep = [*range(prefix), *range(prefix + start, prefix + end), *range(total - suffix, total)]
            out.append(
                Features(
                    [feature.input_ids[i] for i in keep],
                    [feature.offsets[i] for i in keep],
                    [feature.real[i] for i in keep],
                    None,
                    None,
                )
            )
            windows.append(Window(text, start, end, length, end - max(start, previous), prefix, len(ranges)))
            previous = end
    return out, windows


def text_features(
    texts: Sequence[str], tokenizer: Any, max_length: int, long_texts: str = "window", stride: int | None = None
) -> tuple[list[Features], list[Window]]:
    """Features to predict ``texts`` on: windows (``window``) or one cut at ``max_length`` per text (``truncate``)."""
    if long_texts == "truncate":
        features = featurize_texts(texts, tokenizer, max_length)
        return features, [_whole(i, f) for i, f in enumerate(features)]
    return split_features(featurize_texts(texts, tokenizer, max_length, truncation=False), max_length, stride)


def edge_distance(window: Window, start: int, end: int) -> float:
    """Tokens between the span ``start..end`` (text tokens) and the window's nearer cut edge (``inf``: none).

    Example:
        >>> edge_distance(Window(0, 11, 25, 30, 11), 13, 20), edge_distance(Window(0, 0, 14, 30, 14), 0, 2)
        (2, 12)
    """
    distance = math.inf
    if window.cuts_left:
        distance = min(distance, start - window.start)
    if window.cuts_right:
        distance = min(distance, window.end - end)
    return distance


def holds_inside(window: Window, start: int, end: int) -> bool:
    """Whether the window holds all of ``start..end`` without touching a cut edge."""
    return window.start <= start and end <= window.end and edge_distance(window, start, end) >= 1


class SpanMerge(NamedTuple):
    """Merged spans; ``index``: ``(window, span)`` -> merged span; ``source``: merged span -> its window."""

    spans: list[Span]
    index: dict[tuple[int, int], int]
    source: list[int]


def merge_spans(
    windows: Sequence[Window],
    spans: Sequence[Sequence[Span]],
    tokens: Sequence[Sequence[tuple[int, int]]],
    allowed: Callable[[Span], bool] | None = None,
) -> SpanMerge:
    """One list of spans from the spans of a text's windows (rules in the module docstring).

    Args:
        windows: The text's windows.
        spans: Per window, its decoded spans (global character offsets).
        tokens: Per window and span, the span's text tokens ``(start, end)``.
        allowed: Spans to consider at all (``None``: every span).
    """
    candidates = []
    for w, (window, window_spans, window_tokens) in enumerate(zip(windows, spans, tokens, strict=True)):
        for k, (span, (start, end)) in enumerate(zip(window_spans, window_tokens, strict=True)):
            if allowed is not None and not allowed(span):
                continue
            distance = edge_distance(window, start, end)
            if distance == 0 and any(holds_inside(other, start, end) for v, other in enumerate(windows) if v != w):
                continue  # touches a cut edge and another window saw it whole
            candidates.append((-distance, w, start, end, k, span))
    kept: list[tuple[int, int, Span]] = []
    starts: list[int] = []  # kept spans by start, to find the ones a candidate overlaps
    placed: list[tuple[int, Span]] = []
    longest = 0
    for _, w, _, _, k, span in sorted(candidates, key=lambda c: c[:5]):
        near = range(bisect_right(starts, span.start - longest), bisect_left(starts, span.end))
        if any(placed[i][0] != w and placed[i][1].end > span.start for i in near):
            continue  # overlaps a span kept from another window
        kept.append((w, k, span))
        at = bisect_right(starts, span.start)
        starts.insert(at, span.start)
        placed.insert(at, (w, span))
        longest = max(longest, span.end - span.start)
    kept.sort(key=lambda item: (item[2].start, item[2].end, item[2].label, item[0]))
    index = {(w, k): i for i, (w, k, _) in enumerate(kept)}
    by_key: dict[tuple[int, int, str], int] = {}
    for i, (_, _, span) in enumerate(kept):
        by_key.setdefault(span.key, i)
    for w, window_spans in enumerate(spans):
        for k, span in enumerate(window_spans):
            if (w, k) not in index and span.key in by_key:
                index[(w, k)] = by_key[span.key]
    return SpanMerge([span for _, _, span in kept], index, [w for w, _, _ in kept])


def merge_relations(examples: Sequence[Example], index: dict[tuple[int, int], int]) -> tuple[list[Relation], list[int]]:
    """The windows' relations re-indexed onto the merged spans, and which of them are type-inconsistent."""
    best: dict[tuple[int, int], tuple[float, Relation, bool]] = {}
    for w, example in enumerate(examples):
        odd = set(example.meta.get("inconsistent_relations", []))
        for k, rel in enumerate(example.relations):
            head, tail = index.get((w, rel.head)), index.get((w, rel.tail))
            if head is None or tail is None or head == tail:
                continue
            score = rel.score if rel.score is not None else 0.0
            if (head, tail) not in best or score > best[(head, tail)][0]:
                best[(head, tail)] = (score, Relation(head, tail, rel.label, score=rel.score), k not in odd)
    ordered = [best[pair] for pair in sorted(best)]
    return [rel for _, rel, _ in ordered], [i for i, (_, _, ok) in enumerate(ordered) if not ok]


def merge_events(
    examples: Sequence[Example], index: dict[tuple[int, int], int], source: Sequence[int]
) -> tuple[list[Event], list[list[int]]]:
    """The windows' events on kept triggers, arguments re-indexed, and the inconsistent ``[event, argument]``."""
    found: dict[int, list[tuple[int, int, Event]]] = {}
    for w, example in enumerate(examples):
        for e, event in enumerate(example.events):
            trigger = index.get((w, event.trigger))
            if trigger is not None:
                found.setdefault(trigger, []).append((w, e, event))
    events: list[Event] = []
    odd_out: list[list[int]] = []
    for trigger in sorted(found):
        options = found[trigger]
        w, e, event = next((o for o in options if o[0] == source[trigger]), options[0])
        odd = {tuple(pair) for pair in examples[w].meta.get("inconsistent_arguments", [])}
        args = sorted(
            (index[(w, i)], role, (e, k) in odd)
            for k, (role, i) in enumerate(event.args)
            if (w, i) in index and index[(w, i)] != trigger
        )
        events.append(Event(trigger, event.type, tuple((role, i) for i, role, _ in args)))
        odd_out.extend([len(events) - 1, k] for k, (_, _, bad) in enumerate(args) if bad)
    return events, odd_out


def merge_text_probs(probs: np.ndarray, weights: Sequence[float], multi_label: bool) -> np.ndarray:
    """Text-level probabilities of a text from its windows' ``(windows, labels)`` probabilities.

    Example:
        >>> merge_text_probs(np.array([[0.8, 0.2], [0.2, 0.8]]), [3, 1], False).round(2).tolist()
        [0.65, 0.35]
        >>> merge_text_probs(np.array([[0.8, 0.2], [0.2, 0.7]]), [3, 1], True).tolist()
        [0.8, 0.7]
    """
    probs = np.asarray(probs, dtype=np.float64)
    if multi_label:
        return probs.max(axis=0)
    w = np.asarray(weights, dtype=np.float64)
    return (w[:, None] * probs).sum(axis=0) / w.sum()


def value_probabilities(logits: np.ndarray, attrs: dict[str, list[str]]) -> np.ndarray:
    """A softmax within each attribute's block of the last axis (the layout of :func:`groups`)."""
    out = np.zeros(np.shape(logits), dtype=np.float64)
    for _, offset, values in groups(attrs):
        block = np.asarray(logits, dtype=np.float64)[..., offset : offset + len(values)]
        exp = np.exp(block - block.max(axis=-1, keepdims=True))
        out[..., offset : offset + len(values)] = exp / exp.sum(axis=-1, keepdims=True)
    return out


def mean_value_logits(rows: Sequence[np.ndarray], weights: Sequence[float], attrs: dict[str, list[str]]) -> np.ndarray:
    """Log of the weighted mean value probabilities of ``rows`` of logits: decoding it gives that mean.

    Example:
        >>> attrs = {"polarity": ["negative", "positive"]}
        >>> rows = [np.log([0.9, 0.1]), np.log([0.3, 0.7])]
        >>> decode_values(mean_value_logits(rows, [1, 1], attrs), attrs)
        ({'polarity': 'negative'}, {'polarity': {'negative': 0.6, 'positive': 0.4}})
    """
    probs = np.stack([value_probabilities(row, attrs) for row in rows])
    w = np.asarray(weights, dtype=np.float64).reshape((-1,) + (1,) * (probs.ndim - 1))
    return np.log(np.maximum((w * probs).sum(axis=0) / w.sum(), 1e-30))


@dataclass
class WindowResult:
    """What one window of a long text predicted, for :func:`merge`.

    ``tokens`` are the text tokens ``(start, end)`` of each of ``example.spans``;
    ``text_probs`` the window's calibrated text-level probabilities; ``label_attr_logits``
    its ``(labels, values)`` label-attribute logits (``None`` without that head).
    """

    window: Window
    example: Example
    tokens: list[tuple[int, int]] = field(default_factory=list)
    text_probs: np.ndarray | None = None
    label_attr_logits: np.ndarray | None = None


def merge(
    results: Sequence[WindowResult],
    config: Any,
    decide: Callable[[np.ndarray], tuple[list[str], dict[str, float]]],
    allowed: Callable[[np.ndarray], Callable[[Span], bool] | None] | None = None,
) -> Example:
    """One example with global offsets from the windows of one text (rules in the module docstring).

    Args:
        results: The text's windows, in order.
        config: The model's :class:`~mrekit.encoder.joint.JointConfig`.
        decide: Text-level probabilities -> ``(labels, label_scores)`` (the model's argmax or thresholds).
        allowed: Merged text-level probabilities -> which spans may be kept (``consistency="enforce"``).

    Returns:
        The merged example, with ``meta["windows"]`` and the windows' type inconsistencies
        (``inconsistent_relations``, ``inconsistent_arguments``) re-indexed.
    """
    examples = [r.example for r in results]
    weights = [r.window.new for r in results]
    merged = Example(examples[0].text, meta={"windows": len(results)})
    probs = None
    if results[0].text_probs is not None:
        probs = merge_text_probs(np.stack([r.text_probs for r in results]), weights, config.multi_label)
        merged.labels, scores = decide(probs)
        merged.label_scores = scores or None
    if results[0].label_attr_logits is not None:
        _merge_label_attributes(merged, results, weights, config)
    if examples[0].spans is None:
        return merged
    keep = allowed(probs) if allowed is not None and probs is not None else None
    windows, tokens = [r.window for r in results], [r.tokens for r in results]
    spans = merge_spans(windows, [ex.spans or [] for ex in examples], tokens, keep)
    merged.spans = spans.spans
    merged.relations, odd_relations = merge_relations(examples, spans.index)
    merged.events, odd_arguments = merge_events(examples, spans.index, spans.source)
    if odd_relations:
        merged.meta["inconsistent_relations"] = odd_relations
    if odd_arguments:
        merged.meta["inconsistent_arguments"] = odd_arguments
    return merged


def _merge_label_attributes(merged: Example, results: Sequence[WindowResult], weights, config: Any) -> None:
    index = {label: i for i, label in enumerate(config.text_labels)}
    attrs, scores = {}, {}
    for label in merged.labels:
        if label not in index:
            continue
        chosen = [k for k, r in enumerate(results) if label in r.example.labels] or list(range(len(results)))
        rows = [results[k].label_attr_logits[index[label]] for k in chosen]
        logits = mean_value_logits(rows, [weights[k] for k in chosen], config.label_attrs)
        attrs[label], scores[label] = decode_values(logits, config.label_attrs)
    merged.label_attrs = attrs
    merged.label_attr_scores = scores or None


def best_window(windows: Sequence[Window], start: int, end: int) -> tuple[int, int, int]:
    """``(window, start, end)``: where a given span of text tokens is scored (``predict_attributes``).

    The window holding it farthest from a cut edge (ties: the earlier); for a span no
    window holds whole, the window with most of its tokens (ties: the earlier), the span
    clipped to it.

    Example:
        >>> ws = [Window(0, 0, 14, 30, 14), Window(0, 11, 25, 30, 11), Window(0, 16, 30, 30, 5)]
        >>> best_window(ws, 12, 14), best_window(ws, 2, 20)
        ((1, 12, 14), (0, 2, 14))
    """
    holding = [(edge_distance(w, start, end), -k) for k, w in enumerate(windows) if w.start <= start and end <= w.end]
    if holding:
        k = -max(holding)[1]
        return k, start, end
    overlap = [(min(end, w.end) - max(start, w.start), -k) for k, w in enumerate(windows)]
    k = -max(overlap)[1]
    return k, max(start, windows[k].start), min(end, windows[k].end)
