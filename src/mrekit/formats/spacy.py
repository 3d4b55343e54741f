"""spaCy interop: examples <-> ``Doc`` objects, ``.spacy`` (DocBin) files, displaCy colours.

Tokens are built from character offsets: the text is split at whitespace and
at every span boundary, so every span is a token span. This needs no language
tokenizer, so it works for Japanese too (``spacy.blank("ja")`` would need SudachiPy).

Text labels become ``doc.cats`` with *every* label of the label set: ``1.0`` for the
example's labels, ``0.0`` for the others, because spaCy's ``textcat`` and
``textcat_multilabel`` read a label missing from ``doc.cats`` as "not annotated", not as
"false". A prediction (``label_scores``) puts its scores there instead. A text with no
text-level annotation gets empty ``cats``. Spans go to ``doc.spans["sc"]`` (overlaps
allowed) and, when none overlap, to ``doc.ents`` as well. What spaCy has no place for
(span attributes and scores, label attributes, id, meta, relations, events) is kept in
``doc.user_data["mrekit"]``, which DocBin stores (``DocBin(store_user_data=True)``).

Attributes are also reachable as extension attributes, registered (once) by every
function here or by :func:`register_extensions`:

* ``span._.mrekit_attrs`` (``{"polarity": "negative"}``) and ``span._.mrekit_attr_scores``
  (``{"polarity": {"negative": 0.91, ...}}``, predictions only) on any span of the doc
  (``doc.spans["sc"][i]``, ``doc.ents[i]``, ``doc.char_span(...)``); ``None`` for a span
  mrekit did not write. A span is found by its offsets *and label*: spaCy keys plain
  extension values by offsets only, which would mix up an ABSA target that carries two
  categories with different polarities. Setting them writes ``doc.user_data["mrekit"]``.
* ``doc._.mrekit_label_attrs`` (``{"food": {"polarity": "positive"}}``) and
  ``doc._.mrekit_label_attr_scores``: the text labels' attributes and their scores, i.e.
  ``doc.user_data["mrekit"]["label_attrs"]`` and ``["label_attr_scores"]``.

All of it survives a DocBin round trip, Japanese text included (offsets are characters).

Example:
    >>> from spacy import displacy
    >>> ex = Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])
    >>> doc = example_to_doc(ex, label_set=["PlayMusic", "GetWeather"])
    >>> [(e.text, e.label_) for e in doc.ents], doc.cats
    ([('muse', 'artist')], {'PlayMusic': 1.0, 'GetWeather': 0.0})
    >>> html = displacy.render(doc, style="ent", jupyter=False, options=displacy_options(["artist"]))
    >>> "background: #7aecec" in html
    True
    >>> doc_to_example(doc).spans == ex.spans
    True
    >>> absa = Example("great ramen", labels=["food"], label_attrs={"food": {"polarity": "positive"}},
    ...                spans=[Span(6, 11, "aspect", attrs={"polarity": "positive"})])
    >>> doc = example_to_doc(absa)
    >>> doc.spans["sc"][0]._.mrekit_attrs, doc._.mrekit_label_attrs
    ({'polarity': 'positive'}, {'food': {'polarity': 'positive'}})
"""

from __future__ import annotations

import copy
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
#: displaCy's own colours first; labels past them get evenly spread hues.
_PALETTE = (
    "#7aecec",
    "#bfeeb7",
    "#feca74",
    "#ff9561",
    "#aa9cfc",
    "#c887fb",
    "#9cc9cc",
    "#ffeb80",
    "#ff8197",
    "#f0d0ff",
    "#bfe1d9",
    "#e4e7d2",
)


def displacy_options(labels: Iterable[str]) -> dict[str, Any]:
    """displaCy options giving each span label its own colour (``style="ent"`` or ``"span"``).

    Args:
        labels: The span labels, in the order colours are handed out (duplicates ignored).

    Returns:
        ``{"colors": {label: colour}}``, to pass as ``options=`` (add ``"spans_key": "sc"``
        for ``style="span"``, which shows overlapping spans).

    Example:
        >>> displacy_options(["人名", "法人名", "人名"])
        {'colors': {'人名': '#7aecec', '法人名': '#bfeeb7'}}
        >>> displacy_options(f"L{i}" for i in range(13))["colors"]["L12"]
        'hsl(0, 70%, 80%)'
    """
    names = list(dict.fromkeys(labels))
    return {"colors": {name: _colour(i) for i, name in enumerate(names)}}


def _colour(index: int) -> str:
    if index < len(_PALETTE):
        return _PALETTE[index]
    return f"hsl({(index - len(_PALETTE)) * 137 % 360}, 70%, 80%)"


def _require_spacy() -> Any:
    try:
        import spacy
    except ImportError:
        raise MrekitError("E132", "the spacy format needs spaCy", hint="pip install mrekit[spacy]") from None
    register_extensions()
    return spacy


def register_extensions() -> None:
    """Register the extension attributes: ``Span._.mrekit_attrs``, ``Span._.mrekit_attr_scores``,
    ``Doc._.mrekit_label_attrs`` and ``Doc._.mrekit_label_attr_scores`` (see the module docstring).

    Idempotent: an extension already registered under one of these names is left as it is.
    Call it before reading attributes of docs loaded without this module (``DocBin.get_docs``).

    Example:
        >>> register_extensions(); register_extensions()
        >>> from spacy.tokens import Doc, Span as SpacySpan
        >>> SpacySpan.has_extension("mrekit_attrs"), Doc.has_extension("mrekit_label_attrs")
        (True, True)
    """
    from spacy.tokens import Doc
    from spacy.tokens import Span as SpacySpan

    for field in ("attrs", "attr_scores"):
        if not SpacySpan.has_extension(f"mrekit_{field}"):
            SpacySpan.set_extension(
                f"mrekit_{field}",
                getter=lambda span, f=field: (_record(span) or {}).get(f),
                setter=lambda span, value, f=field: _set_record(span, f, value),
            )
    for field in ("label_attrs", "label_attr_scores"):
        if not Doc.has_extension(f"mrekit_{field}"):
            Doc.set_extension(
                f"mrekit_{field}",
                getter=lambda doc, f=field: (doc.user_data.get(_USER_KEY) or {}).get(f),
                setter=lambda doc, value, f=field: _set_stored(doc, f, value),
            )


def _set_stored(doc: Any, field: str, value: Any) -> None:
    doc.user_data.setdefault(_USER_KEY, {})[field] = value


def _key(record: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (record.get("start"), record.get("end"), record.get("label"))


def _record(span: Any) -> dict[str, Any] | None:
    """The stored record of a spaCy span: the first with its offsets and label."""
    key = (span.start_char, span.end_char, span.label_)
    records = (span.doc.user_data.get(_USER_KEY) or {}).get("spans") or []
    return next((r for r in records if _key(r) == key), None)


def _set_record(span: Any, field: str, value: Any) -> None:
    record = _record(span)
    if record is None:
        record = {"start": span.start_char, "end": span.end_char, "label": span.label_}
        stored = span.doc.user_data.setdefault(_USER_KEY, {})
        stored["spans"] = [*(stored.get("spans") or []), record]
    record[field] = value


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
        "meta": copy.deepcopy(example.meta),
        "label_attrs": copy.deepcopy(example.label_attrs),
        "label_attr_scores": copy.deepcopy(example.label_attr_scores),
        "labels": list(example.labels),
        "label_scores": example.label_scores,
        "word_level": example.spans is not None,
        # One record per span of doc.spans["sc"], in order; the key fields let the extension
        # attributes find a span's record and survive edits of the span group.
        "spans": [
            {
                "start": s.start,
                "end": s.end,
                "label": s.label,
                "attrs": copy.deepcopy(s.attrs),
                "score": s.score,
                "attr_scores": copy.deepcopy(s.attr_scores),
            }
            for s in example.spans or []
        ],
        "relations": [[r.head, r.tail, r.label, r.score] for r in example.relations],
        "events": [[e.trigger, e.type, [list(a) for a in e.args]] for e in example.events],
    }


def cats(example: Example, label_set: Iterable[str] | None = None) -> dict[str, float]:
    """The ``doc.cats`` of ``example``: every label of ``label_set`` and of the example.

    Gold labels score ``1.0`` and the other labels ``0.0``; a prediction's
    ``label_scores`` are used as they are. No text-level annotation gives ``{}``
    (spaCy reads absent labels as missing values).

    Example:
        >>> cats(Example("hi", labels=["greet"]), ["bye", "greet"])
        {'bye': 0.0, 'greet': 1.0}
        >>> cats(Example("hi", labels=["greet"], label_scores={"greet": 0.8, "bye": 0.1}), ["bye", "greet"])
        {'bye': 0.1, 'greet': 0.8}
        >>> cats(Example("hi"), ["bye", "greet"])
        {}
    """
    scores = example.label_scores
    if scores is None and not example.labels:
        return {}
    names = dict.fromkeys([*(label_set or ()), *example.labels, *(scores or {})])
    if scores is None:
        return {name: 1.0 if name in example.labels else 0.0 for name in names}
    return {name: float(scores.get(name, 1.0 if name in example.labels else 0.0)) for name in names}


def example_to_doc(example: Example, vocab_or_nlp: Any = None, *, label_set: Iterable[str] | None = None) -> Doc:
    """Build a spaCy ``Doc`` whose tokens make every span a token span.

    Args:
        example: The example to convert.
        vocab_or_nlp: A ``Vocab`` or a ``Language`` whose vocab to use; a fresh
            ``Vocab`` when ``None``.
        label_set: All text labels; those the example lacks get ``0.0`` in ``doc.cats``
            (see :func:`cats`: scores of a prediction, ``{}`` without text labels).

    Raises:
        MrekitError: ``E132`` without spaCy; ``E110``/``E111`` for invalid spans.

    Example:
        >>> doc = example_to_doc(Example("東京に行く", spans=[Span(0, 2, "地名")]))
        >>> [t.text for t in doc], [(e.text, e.label_) for e in doc.ents]
        (['東京', 'に行く'], [('東京', '地名')])
        >>> pred = Example("東京に行く", labels=["travel"], label_scores={"travel": 0.9, "news": 0.2})
        >>> example_to_doc(pred).cats
        {'travel': 0.9, 'news': 0.2}
    """
    _require_spacy()
    from spacy.tokens import Doc

    problems = validate(example, check_surface=False)
    if problems:
        raise problems[0]
    words, spaces = _words(example)
    doc = Doc(_vocab(vocab_or_nlp), words=words, spaces=spaces)
    doc.cats = cats(example, label_set)
    spans = example.spans or []
    doc_spans = [doc.char_span(s.start, s.end, label=s.label) for s in spans]
    doc.spans[SPANS_KEY] = doc_spans
    if not _has_overlap(spans):
        doc.ents = sorted(doc_spans, key=lambda s: s.start)
    doc.user_data[_USER_KEY] = _user_data(example)
    return doc


def doc_to_example(doc: Doc) -> Example:
    """Turn a ``Doc`` back into an example (the inverse of :func:`example_to_doc`).

    A doc mrekit wrote gives back its example exactly (labels, scores, spans, relations,
    ...). In any other doc, categories scoring at least 0.5 become labels; spans come
    from ``doc.spans["sc"]`` when present, else from ``doc.ents``.

    Example:
        >>> doc_to_example(example_to_doc(Example("hi", labels=["greet"]))).labels
        ['greet']
        >>> import spacy
        >>> doc = spacy.blank("en")("Alice met Bob")
        >>> doc.ents, doc.cats = [doc.char_span(0, 5, label="PER")], {"meeting": 0.9, "greeting": 0.2}
        >>> ex = doc_to_example(doc)
        >>> ex.labels, ex.spans
        (['meeting'], [Span(start=0, end=5, label='PER', attrs={}, surface=None, score=None, attr_scores=None)])
    """
    stored = doc.user_data.get(_USER_KEY) or {}
    source = doc.spans[SPANS_KEY] if SPANS_KEY in doc.spans else doc.ents
    spans = None
    if stored.get("word_level", SPANS_KEY in doc.spans or doc.has_annotation("ENT_IOB")):
        records = _records(list(source), stored.get("spans") or [])
        spans = [_span(s, record) for s, record in zip(source, records, strict=True)]
    label_attr_scores = stored.get("label_attr_scores")
    return Example(
        text=doc.text,
        id=stored.get("id"),
        labels=list(stored["labels"]) if "labels" in stored else [k for k, v in doc.cats.items() if v >= 0.5],
        label_attrs=_lists(dict(stored.get("label_attrs") or {})),
        label_scores=stored.get("label_scores"),
        spans=spans,
        relations=[Relation(h, t, label, score) for h, t, label, score in stored.get("relations") or []],
        events=[Event(trig, kind, tuple((r, i) for r, i in args)) for trig, kind, args in stored.get("events") or []],
        meta=_lists(dict(stored.get("meta") or {})),
        label_attr_scores=copy.deepcopy(label_attr_scores) if label_attr_scores is not None else None,
    )


def _records(spans: list[Any], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each span's stored record: the next unused one with its offsets and label.

    Files written before records carried their span's key are matched by position.
    """
    if not all("start" in r for r in records):
        return [records[i] if i < len(records) else {} for i in range(len(spans))]
    unused: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = {}
    for record in records:
        unused.setdefault(_key(record), []).append(record)
    found = []
    for span in spans:
        same = unused.get((span.start_char, span.end_char, span.label_))
        found.append(same.pop(0) if same else {})
    return found


def _span(span: Any, record: dict[str, Any]) -> Span:
    attr_scores = record.get("attr_scores")
    return Span(
        span.start_char,
        span.end_char,
        span.label_,
        attrs=_lists(dict(record.get("attrs") or {})),
        score=record.get("score"),
        attr_scores=copy.deepcopy(attr_scores) if attr_scores is not None else None,
    )


def _lists(value: Any) -> Any:
    """``value`` with tuples back as lists (DocBin reads msgpack arrays as tuples); dicts copied."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


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
        label_set: All text labels, so each doc's ``cats`` lists the absent ones as
            ``0.0``; by default every label (and scored label) of ``examples``.
        overwrite: Replace an existing output (``E170`` otherwise).
        inputs: Files the output must never be (``E172``).

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "train.spacy"
        >>> write([Example("hi", labels=["greet"]), Example("bye", labels=["leave"])], out)
        2
        >>> from spacy.tokens import DocBin
        >>> from spacy.vocab import Vocab
        >>> [d.cats for d in DocBin().from_disk(out).get_docs(Vocab())]
        [{'greet': 1.0, 'leave': 0.0}, {'greet': 0.0, 'leave': 1.0}]
    """
    _require_spacy()
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    items = list(examples)
    labels = list(label_set) if label_set is not None else _label_set(items)
    vocab = Vocab()
    doc_bin = DocBin(store_user_data=True)
    for example in items:
        doc_bin.add(example_to_doc(example, vocab, label_set=labels))
    data = doc_bin.to_bytes()
    with atomic_file(path, overwrite=overwrite, inputs=inputs, binary=True) as fh:
        fh.write(data)
    return len(doc_bin)


def _label_set(examples: Iterable[Example]) -> list[str]:
    """Every text label of ``examples``, gold or scored, in order of first appearance."""
    names: dict[str, None] = {}
    for example in examples:
        names.update(dict.fromkeys(example.labels))
        names.update(dict.fromkeys(example.label_scores or {}))
    return list(names)
