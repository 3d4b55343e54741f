"""All BIO knowledge in one place: tag strings, allowed transitions, constrained Viterbi, spans.

The tag set of a model is ``O`` then ``B-``/``I-`` per span label; :func:`bio_transitions`
says which moves are allowed (the CRF and the decoder both add it to their scores).
From scores to spans everything is vectorised in NumPy:

Both inference backends (PyTorch and ONNX Runtime) produce the same two arrays,
text-label probabilities and per-token tag scores; everything after that is
here, shared, and free of per-token Python loops: the Viterbi recursion loops
over positions only, vectorised over the batch and the tags, and spans are cut
out of the best paths with array operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def bio_tags(span_labels: Sequence[str]) -> list[str]:
    """The tag set of a model: ``O`` then ``B-``/``I-`` per span label, in index order.

    Example:
        >>> bio_tags(["artist"])
        ['O', 'B-artist', 'I-artist']
    """
    return ["O"] + [f"{prefix}-{label}" for label in span_labels for prefix in ("B", "I")]


NEG = -1e4  # a large negative score that stays finite in float32 sums


def bio_transitions(tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Allowed-move scores for BIO: 0 where allowed, ``NEG`` where not.

    ``I-X`` may only follow ``B-X`` or ``I-X`` and may not start a text.

    Example:
        >>> trans, start = bio_transitions(["O", "B-a", "I-a"])
        >>> trans[0, 2].item() < 0, trans[1, 2].item(), start[2].item() < 0
        (True, 0.0, True)
    """
    k = len(tags)
    trans = np.zeros((k, k), dtype=np.float32)
    start = np.zeros(k, dtype=np.float32)
    for j, tag in enumerate(tags):
        if not tag.startswith("I-"):
            continue
        kind = tag[2:]
        start[j] = NEG
        for i, prev in enumerate(tags):
            if prev[2:] != kind or prev == "O":
                trans[i, j] = NEG
    return trans, start


def viterbi(emissions: np.ndarray, mask: np.ndarray, trans: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Best tag path per row over the masked positions (others get tag 0).

    Args:
        emissions: ``(batch, length, tags)`` scores.
        mask: ``(batch, length)`` booleans, true for real tokens.
        trans: ``(tags, tags)`` transition scores ``i -> j``.
        start: ``(tags,)`` scores of the first real token.

    Example:
        >>> e = np.log(np.array([[[0.1, 0.2, 0.7], [0.2, 0.1, 0.7]]]))
        >>> trans = np.array([[0, 0, -1e4], [0, 0, 0], [0, 0, 0]]); start = np.array([0, 0, -1e4])
        >>> viterbi(e, np.ones((1, 2), bool), trans, start).tolist()  # I-x cannot start: B-x I-x
        [[1, 2]]
    """
    batch, length, k = emissions.shape
    score = np.zeros((batch, k), dtype=np.float64)
    started = np.zeros(batch, dtype=bool)
    identity = np.broadcast_to(np.arange(k), (batch, k))
    pointers = np.empty((length, batch, k), dtype=np.int64)
    for t in range(length):
        step = mask[:, t]
        moved = score[:, :, None] + trans[None]
        arg = moved.argmax(axis=1)
        best = np.take_along_axis(moved, arg[:, None, :], axis=1)[:, 0]
        new = np.where((step & ~started)[:, None], start[None], best) + emissions[:, t]
        score = np.where(step[:, None], new, score)
        pointers[t] = np.where((step & started)[:, None], arg, identity)
        started |= step
    path = np.zeros((batch, length), dtype=np.int64)
    current = score.argmax(axis=1)
    rows = np.arange(batch)
    for t in range(length - 1, -1, -1):
        path[:, t] = np.where(mask[:, t], current, 0)
        current = pointers[t][rows, current]
    return path


@dataclass(frozen=True)
class TagTable:
    """Per tag id: whether it begins (``B-``) or continues (``I-``) a span, and its type index."""

    begins: np.ndarray
    inside: np.ndarray
    kind: np.ndarray

    @classmethod
    def from_tags(cls, tags: list[str]) -> TagTable:
        """Build from ``["O", "B-x", "I-x", ...]`` (type index = position of the type's ``B-`` tag).

        Example:
            >>> TagTable.from_tags(["O", "B-a", "I-a"]).kind.tolist()
            [-1, 1, 1]
        """
        first = {}
        kinds = []
        for i, tag in enumerate(tags):
            kinds.append(-1 if tag == "O" else first.setdefault(tag[2:], i))
        return cls(
            np.array([t.startswith("B-") for t in tags]),
            np.array([t.startswith("I-") for t in tags]),
            np.array(kinds),
        )


def extract_spans(paths: np.ndarray, mask: np.ndarray, table: TagTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut spans out of (BIO-valid) paths.

    Returns:
        ``(row, first_token, last_token)`` arrays, one entry per span, ordered by
        row then position; the span's type is ``table.kind[paths[row, first]]``.

    Example:
        >>> table = TagTable.from_tags(["O", "B-a", "I-a", "B-b", "I-b"])
        >>> paths = np.array([[0, 1, 2, 3, 1, 0]]); mask = np.array([[0, 1, 1, 1, 1, 0]], bool)
        >>> [a.tolist() for a in extract_spans(paths, mask, table)]
        [[0, 0, 0], [1, 3, 4], [2, 3, 4]]
    """
    active = (table.begins[paths] | table.inside[paths]) & mask
    # A token continues the span of the one before it when it is I- of the same type;
    # anything else active (B-, or a stray I-, as in conlleval) starts a new span.
    continues = np.zeros_like(active)
    continues[:, 1:] = (
        table.inside[paths[:, 1:]]
        & active[:, 1:]
        & active[:, :-1]
        & (table.kind[paths[:, 1:]] == table.kind[paths[:, :-1]])
    )
    starts = active & ~continues
    ends = active.copy()
    ends[:, :-1] &= ~continues[:, 1:]
    row, first = np.nonzero(starts)
    _, last = np.nonzero(ends)
    return row, first, last


def span_scores(probs: np.ndarray, rows: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Mean of ``probs[row, first..last]`` per span, from a cumulative sum.

    Example:
        >>> span_scores(np.array([[0.5, 1.0, 0.0]]), np.array([0]), np.array([0]), np.array([1])).tolist()
        [0.75]
    """
    cumulative = np.concatenate([np.zeros((probs.shape[0], 1)), np.cumsum(probs, axis=1)], axis=1)
    return (cumulative[rows, last + 1] - cumulative[rows, first]) / (last - first + 1)
