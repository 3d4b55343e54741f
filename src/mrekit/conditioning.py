"""Conditioned inputs: one level's information written into the text that the other level reads.

Two input formats, the gold-conditioned formats of ``mrekit study``:

* **text → word**: the text label words before the text, ``"PlayMusic | play muse"``; the
  spans move right by the prefix and the word level is learnt (the text level is not: its
  answer is in the input).
* **word → text**: the typed ``Type Entity`` pairs after the text,
  ``"play muse | artist muse"``; the text level is learnt (the spans are not).

What fills a format is its *content*:

* ``gold``: the example's own annotation (conditioned training, the study's upper bound);
* ``shuffled``: another training text's annotation, same format (a control: content that
  does not belong to the text);
* ``neutral``: fixed placeholder words, same format (a control: the format alone);
* ``predicted``: a model's own predictions (cascade training, so that it sees its errors).

:func:`conditioned_copies` makes the extra training examples of conditioned training;
:func:`cascade_predict` is test-time self-conditioning around any ``predict`` function.
Both are engine-neutral; the encoder engine uses them in ``MREModel``.

Example:
    >>> from mrekit.schema import Example, Span
    >>> ex = Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])
    >>> prefix_text(ex, ex.labels).text, append_words(ex, words_of(ex)).text
    ('PlayMusic | play muse', 'play muse | artist muse')
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace

from mrekit.errors import MrekitError
from mrekit.schema import Event, Example, Relation

#: Separates the original text from the information added to it.
SEP = " | "
#: Separates the ``Type Entity`` pairs appended to a text.
PAIR_SEP = " ; "
CONTENTS = ("gold", "shuffled", "neutral", "predicted")
#: The placeholder content of the ``neutral`` control: the format without information.
NEUTRAL_LABELS = ("label",)
NEUTRAL_WORDS = "type entity"


def words_of(example: Example) -> str:
    """The ``Type Entity`` pairs of an example's spans, in text order.

    Example:
        >>> from mrekit.schema import Span
        >>> words_of(Example("play muse now", spans=[Span(5, 9, "artist"), Span(10, 13, "time")]))
        'artist muse ; time now'
    """
    spans = sorted(example.spans or [], key=lambda s: (s.start, s.end))
    return PAIR_SEP.join(f"{s.label} {example.text[s.start : s.end]}" for s in spans)


def prefix_text(example: Example, labels: Sequence[str]) -> Example:
    """``labels`` before the text; spans (and their relations, events) shifted; text level left out.

    Example:
        >>> from mrekit.schema import Span
        >>> ex = prefix_text(Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]), ["PlayMusic"])
        >>> ex.text, ex.labels, ex.surface(ex.spans[0]), ex.meta["condition_prefix"]
        ('PlayMusic | play muse', [], 'muse', 12)
    """
    prefix = " ".join(labels) + SEP
    spans = None
    if example.spans is not None:
        spans = [replace(s, start=s.start + len(prefix), end=s.end + len(prefix)) for s in example.spans]
    return Example(
        prefix + example.text,
        id=example.id,
        spans=spans,
        relations=list(example.relations),
        events=list(example.events),
        meta={**example.meta, "condition_prefix": len(prefix)},
    )


def append_words(example: Example, words: str) -> Example:
    """``words`` after the text; the text level (labels and their attributes) kept, word level left out.

    Example:
        >>> append_words(Example("play muse", labels=["PlayMusic"]), "artist muse").text
        'play muse | artist muse'
    """
    return Example(
        example.text + SEP + words,
        id=example.id,
        labels=list(example.labels),
        label_attrs=dict(example.label_attrs),
        meta=dict(example.meta),
    )


def strip_prefix(prediction: Example, original: Example) -> Example:
    """A prediction on a :func:`prefix_text` input, moved back onto the original text.

    Spans that start inside the prefix are dropped, with the relations and events that use them.

    Example:
        >>> from mrekit.schema import Span
        >>> pred = Example("PlayMusic | play muse", spans=[Span(0, 9, "junk"), Span(17, 21, "artist")])
        >>> [(s.start, s.end, s.label) for s in strip_prefix(pred, Example("play muse")).spans]
        [(5, 9, 'artist')]
    """
    shift = len(prediction.text) - len(original.text)
    index: dict[int, int] = {}
    spans = []
    for i, span in enumerate(prediction.spans or []):
        if span.start >= shift:
            index[i] = len(spans)
            spans.append(replace(span, start=span.start - shift, end=span.end - shift))
    relations = [
        Relation(index[r.head], index[r.tail], r.label, score=r.score)
        for r in prediction.relations
        if r.head in index and r.tail in index
    ]
    events = [
        Event(index[e.trigger], e.type, tuple((role, index[a]) for role, a in e.args if a in index))
        for e in prediction.events
        if e.trigger in index
    ]
    return Example(
        original.text,
        id=original.id,
        spans=spans if prediction.spans is not None else None,
        relations=relations,
        events=events,
        meta=dict(original.meta),
    )


def derangement(n: int, seed: int = 0) -> list[int]:
    """A seeded permutation of ``range(n)`` that moves every item (for ``n`` ≥ 2).

    Example:
        >>> order = derangement(5)
        >>> sorted(order) == list(range(5)) and all(i != j for i, j in enumerate(order))
        True
    """
    order = list(range(n))
    if n < 2:
        return order
    random.Random(seed).shuffle(order)
    for i in range(n):  # a swap with the next position removes each fixed point
        if order[i] == i:
            j = (i + 1) % n
            order[i], order[j] = order[j], order[i]
    return order


def contents(
    examples: Sequence[Example],
    content: str,
    *,
    seed: int = 0,
    predictions: Sequence[Example] | None = None,
) -> list[tuple[list[str], str]]:
    """Per example, the ``(label words, Type Entity pairs)`` that fill the two formats.

    Raises:
        MrekitError: ``E183`` for an unknown ``content``, or ``predicted`` without
            one prediction per example.

    Example:
        >>> from mrekit.schema import Span
        >>> exs = [Example("a b", labels=["A"], spans=[Span(0, 1, "x")]), Example("c d", labels=["C"], spans=[])]
        >>> contents(exs, "shuffled")
        [(['C'], ''), (['A'], 'x a')]
        >>> contents(exs, "neutral")[1]
        (['label'], 'type entity')
    """
    if content not in CONTENTS:
        raise MrekitError("E183", f"content must be one of {', '.join(CONTENTS)}, not {content!r}", field="content")
    if content == "neutral":
        return [(list(NEUTRAL_LABELS), NEUTRAL_WORDS) for _ in examples]
    if content == "predicted":
        if predictions is None or len(predictions) != len(examples):
            raise MrekitError("E183", "predicted content needs one prediction per example", field="predictions")
        return [(list(p.labels), words_of(p)) for p in predictions]
    if content == "shuffled":
        # Another text's information: the words come from the other text itself, not this one.
        order = derangement(len(examples), seed)
        return [(list(examples[j].labels), words_of(examples[j])) for j in order]
    return [(list(ex.labels), words_of(ex)) for ex in examples]


def conditioned_copies(
    train: Sequence[Example],
    probability: float,
    *,
    content: str = "gold",
    seed: int = 0,
    predictions: Sequence[Example] | None = None,
    predicted_share: float = 0.5,
) -> list[Example]:
    """The extra examples of conditioned training: per fully annotated example and direction,
    with probability ``probability``, one copy whose input carries the other level.

    A copy in the text → word format supervises the word level only, one in the word → text
    format the text level only, so the answer is never in its own input. Examples lacking a
    level get no copy. With ``predictions`` (cascade training), each copy takes the
    predicted content with probability ``predicted_share`` and ``content`` otherwise.

    Example:
        >>> from mrekit.schema import Span
        >>> train = [Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])]
        >>> [c.text for c in conditioned_copies(train, 1.0)]
        ['PlayMusic | play muse', 'play muse | artist muse']
    """
    if not 0.0 <= probability <= 1.0:
        raise MrekitError("E183", f"the conditioning probability must be in [0, 1], not {probability}")
    train = list(train)
    base = contents(train, content, seed=seed)
    guessed = contents(train, "predicted", predictions=predictions) if predictions is not None else None
    rng = random.Random(seed)
    copies: list[Example] = []
    for i, example in enumerate(train):
        if not example.labels or example.spans is None:
            continue
        for direction in ("text_to_word", "word_to_text"):
            if rng.random() >= probability:
                continue
            labels, words = base[i]
            if guessed is not None and rng.random() < predicted_share:
                labels, words = guessed[i]
            if direction == "text_to_word":
                copy = prefix_text(example, labels)
            else:
                copy = append_words(example, words)
            copy.meta = {**copy.meta, "conditioned": direction, "condition_content": content}
            copies.append(copy)
    return copies


def cascade_predict(predict: Callable[[list[str]], list[Example]], texts: Sequence[str]) -> list[Example]:
    """Test-time self-conditioning: predict, write each level's prediction into the input of
    the other, predict again.

    The first pass reads the plain texts. The second reads, in one batch, each text with its
    predicted pairs appended (its text labels are kept) and each text with its predicted
    labels before it (its spans, relations and events are kept, moved back onto the text).
    Costs two calls of ``predict`` over three times the texts.

    Example:
        >>> from mrekit.schema import Span
        >>> def predict(texts):
        ...     return [Example(t, labels=["long" if " | " in t else "short"], spans=[]) for t in texts]
        >>> [p.labels for p in cascade_predict(predict, ["play muse"])]
        [['long']]
    """
    texts = list(texts)
    first = predict(texts)
    originals = [Example(t) for t in texts]
    second = predict(
        [append_words(o, words_of(p)).text for o, p in zip(originals, first, strict=True)]
        + [prefix_text(o, p.labels).text for o, p in zip(originals, first, strict=True)]
    )
    out = []
    for i, (text, plain) in enumerate(zip(texts, first, strict=True)):
        labelled, spanned = second[i], strip_prefix(second[len(texts) + i], originals[i])
        out.append(
            Example(
                text,
                id=plain.id,
                labels=labelled.labels,
                label_scores=labelled.label_scores,
                label_attrs=labelled.label_attrs,
                label_attr_scores=labelled.label_attr_scores,
                spans=spanned.spans,
                relations=spanned.relations,
                events=spanned.events,
                meta={**plain.meta, "cascade": {"first_labels": list(plain.labels)}},
            )
        )
    return out
