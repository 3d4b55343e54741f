"""spaCy interop: examples <-> ``Doc`` objects, and ``.spacy`` (DocBin) files.

Tokens are built from character offsets: the text is split at whitespace and
at every span boundary, so every span is a token span. This needs no language
tokenizer, so it works for Japanese too (``spacy.blank("ja")`` would need SudachiPy).

Text labels become ``doc.cats``; spans go to ``doc.spans["sc"]`` (overlaps
allowed) and, when none overlap, to ``doc.ents`` as well. What spaCy has no
place for (span attributes, label attributes, id, meta, relations, events) is
kept in ``doc.user_data["mrekit"]``, which DocBin stores.

Example:
    >>> doc = example_to_doc(Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]))  # doctest: +SKIP
    >>> [(e.text, e.label_) for e in doc.ents]  # doctest: +SKIP
    [('muse', 'artist')]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrekit.errors import MrekitError
from mrekit.files import require_exists
from mrekit.outputs import atomic_file
from mrekit.schema import Event, Example, Relation, Span, validate

if TYPE_CHECKING:
    from spacy.tokens import Doc
    from spacy.vocab import Vocab

#: Key of the span group holding all spans, spaCy's default for its span categorizer.
SPANS_KEY = "sc"
_USER_KEY = "mrekit"


def _require_spacy() -> Any:
    try:
        import spacy
    except ImportError:
        raise MrekitError("E132", "the spacy format needs spaCy", hint="pip install mrekit[spacy]") from None
    return spacy


def _vocab(vocab_or_nlp: Any) -> Vocab:
    from spacy.vocab import Vocab

    if vocab_or_nlp is None:
        return Vocab()
    return getattr(vocab_or_nlp, "vocab", vocab_or_nlp)


def _boundaries(example: Example) -> set[int]:
    cuts = {0, len(example.text)}
    for span in example.spans or []:
        cuts.update((span.start, span.end))
    for i, char in enumerate(example.text):
        # A whitespace run is its own piece, cut on both sides.
        if char.isspace() != (i > 0 and example.text[i - 1].isspace()):
            cuts.add(i)
    return cuts


def _words(example: Example) -> tuple[list[str], list[bool]]:
    """Split the text into spaCy words and trailing-space flags that spell it exactly."""
    text = example.text
    starts = {s.start for s in example.spans or []}
    ends = {s.end for s in example.spans or []}
    cuts = sorted(_boundaries(example))
    words: list[str] = []
    spaces: list[bool] = []
    for begin, end in zip(cuts, cuts[1:], strict=False):
        piece = text[begin:end]
        # A single space after a word is that word's trailing space, unless a span
        # starts at the space or ends right after it (then it must be a token).
        absorb = words and not spaces[-1] and not words[-1].isspace() and piece[0] == " "
        if absorb and begin not in starts and begin + 1 not in ends:
            spaces[-1] = True
            piece = piece[1:]
        if piece:
            words.append(piece)
            spaces.append(False)
    return words, spaces


def _has_overlap(spans: list[Span]) -> bool:
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    return any(b.start < a.end for a, b in zip(ordered, ordered[1:], strict=False))


def _user_data(example: Example) -> dict[str, Any]:
    return {
        "id": example.id,
        "meta": example.meta,
        "label_attrs": example.label_attrs,
        "label_scores": example.label_scores,
        "word_level": example.spans is not None,
        "spans": [{"attrs": s.attrs, "score": s.score} for s in example.spans or []],
        "relations": [[r.head, r.tail, r.label, r.score] for r in example.relations],
        "events": [[e.trigger, e.type, [list(a) for a in e.args]] for e in example.events],
    }


def example_to_doc(example: Example, vocab_or_nlp: Any = None, *, label_set: Iterable[str] | None = None) -> Doc:
    """Build a spaCy ``Doc`` whose tokens make every span a token span.

    Args:
        example: The example to convert.
        vocab_or_nlp: A ``Vocab`` or a ``Language`` whose vocab to use; a fresh
            ``Vocab`` when ``None``.
        label_set: All text labels; those the example lacks get ``0.0`` in ``doc.cats``.

    Raises:
        MrekitError: ``E132`` without spaCy; ``E110``/``E111`` for invalid spans.

    Example:
        >>> doc = example_to_doc(Example("東京に行く", spans=[Span(0, 2, "地名")]))  # doctest: +SKIP
        >>> [t.text for t in doc]  # doctest: +SKIP
        ['東京', 'に行く']
    """
    _require_spacy()
    from spacy.tokens import Doc

    problems = validate(example, check_surface=False)
    if problems:
        raise problems[0]
    words, spaces = _words(example)
    doc = Doc(_vocab(vocab_or_nlp), words=words, spaces=spaces)
    cats = dict.fromkeys(label_set or (), 0.0)
    cats.update(dict.fromkeys(example.labels, 1.0))
    doc.cats = cats
    spans = example.spans or []
    doc_spans = [doc.char_span(s.start, s.end, label=s.label) for s in spans]
    doc.spans[SPANS_KEY] = doc_spans
    if not _has_overlap(spans):
        doc.ents = sorted(doc_spans, key=lambda s: s.start)
    doc.user_data[_USER_KEY] = _user_data(example)
    return doc


def doc_to_example(doc: Doc) -> Example:
    """Turn a ``Doc`` back into an example (the inverse of :func:`example_to_doc`).

    Categories scoring at least 0.5 become labels; spans come from
    ``doc.spans["sc"]`` when present, else from ``doc.ents``.

    Example:
        >>> doc_to_example(example_to_doc(Example("hi", labels=["greet"]))).labels  # doctest: +SKIP
        ['greet']
    """
    stored = doc.user_data.get(_USER_KEY) or {}
    source = doc.spans[SPANS_KEY] if SPANS_KEY in doc.spans else doc.ents
    spans = None
    if stored.get("word_level", SPANS_KEY in doc.spans or doc.has_annotation("ENT_IOB")):
        extra = stored.get("spans") or []
        spans = [_span(s, extra[i] if i < len(extra) else {}) for i, s in enumerate(source)]
    return Example(
        text=doc.text,
        id=stored.get("id"),
        labels=[label for label, score in doc.cats.items() if score >= 0.5],
        label_attrs=dict(stored.get("label_attrs") or {}),
        label_scores=stored.get("label_scores"),
        spans=spans,
        relations=[Relation(h, t, label, score) for h, t, label, score in stored.get("relations") or []],
        events=[Event(trig, kind, tuple((r, i) for r, i in args)) for trig, kind, args in stored.get("events") or []],
        meta=dict(stored.get("meta") or {}),
    )


def _span(span: Any, extra: dict[str, Any]) -> Span:
    return Span(
        span.start_char, span.end_char, span.label_, attrs=dict(extra.get("attrs") or {}), score=extra.get("score")
    )


def read(path: str | Path) -> Iterator[Example]:
    """Stream examples from a spaCy ``.spacy`` (DocBin) file.

    Raises:
        MrekitError: ``E100`` if missing, ``E104`` if not a DocBin, ``E101`` if
            empty, ``E132`` without spaCy.

    Example:
        >>> [ex.labels for ex in read("train.spacy")]  # doctest: +SKIP
        [['PlayMusic']]
    """
    _require_spacy()
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    p = require_exists(path, folder=False)
    try:
        doc_bin = DocBin(store_user_data=True).from_bytes(p.read_bytes())
    except Exception as err:  # zlib, msgpack and key errors all mean "not a DocBin"
        raise MrekitError(
            "E104", f"not a spaCy DocBin file ({err})", path=p, hint="write it with DocBin.to_disk"
        ) from None
    if len(doc_bin) == 0:
        raise MrekitError("E101", "no documents in file", path=p)
    for doc in doc_bin.get_docs(Vocab()):
        yield doc_to_example(doc)


def write(
    examples: Iterable[Example],
    path: str | Path,
    *,
    label_set: Iterable[str] | None = None,
    overwrite: bool = False,
    inputs: Iterable[str | Path] = (),
) -> int:
    """Write examples to a spaCy ``.spacy`` (DocBin) file, atomically.

    Args:
        examples: The examples to write.
        path: The ``.spacy`` file to create or replace.
        label_set: All text labels, so each doc's ``cats`` lists the absent ones as ``0.0``.

    Example:
        >>> write([Example("hi", labels=["greet"])], "out.spacy")  # doctest: +SKIP
        1
    """
    _require_spacy()
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    labels = list(label_set) if label_set is not None else None
    vocab = Vocab()
    doc_bin = DocBin(store_user_data=True)
    for example in examples:
        doc_bin.add(example_to_doc(example, vocab, label_set=labels))
    data = doc_bin.to_bytes()
    with atomic_file(path, overwrite=overwrite, inputs=inputs, binary=True) as fh:
        fh.write(data)
    return len(doc_bin)
