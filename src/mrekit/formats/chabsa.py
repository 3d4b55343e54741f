"""chABSA JSON (read only): Japanese securities-report sentences with opinion targets.

chABSA (chakki-works/chABSA-dataset, CC BY 4.0: keep the attribution when you share
anything made from it) holds one JSON file per document, ``eNNNNN_ann.json``::

    {"header": {"document_id": "E00008", "category17": "食品", "category33": "水産・農林業", ...},
     "sentences": [{"sentence_id": 0, "sentence": "...",
                    "opinions": [{"target": "売上高", "category": "company#sales",
                                  "polarity": "positive", "from": 3, "to": 6}]}]}

Each sentence becomes one :class:`~mrekit.schema.Example`:

* ``id`` is ``"{document_id}-{sentence_id}"`` (``E00008-0``);
* ``labels`` is ``[header.category17]``, the document's industry (17 classes), copied to
  each of its sentences: chABSA annotates no label per sentence;
* each opinion is a span ``[from, to)`` (character offsets, end exclusive) labelled with
  its ``entity#attribute`` category (``company#sales``, ``NULL#general``) and
  ``attrs={"polarity": ...}`` (``positive``, ``negative`` or ``neutral``). One target with
  several categories gives several spans over the same characters;
* a sentence without opinions has ``spans=[]`` (annotated, no opinion);
* ``meta`` is ``{"lang": "ja", "source": "chabsa", "document": document_id}``.

The target string is checked against the text at its offsets. When they differ (offsets
inside the text, other characters there), ``fix_offsets`` moves the span to the target
when it occurs exactly once within :data:`FIX_WINDOW` characters of ``from``; otherwise
the file is refused with ``E112``. (The 230 published documents need no fix: all their
7,723 offsets are exact.)

chABSA has no official split. :func:`split_documents` is the fixed one: by document, so
that no document has sentences in two parts. The document ids are sorted, shuffled with
``random.Random(seed)`` and cut into consecutive shares of documents (``round(share * n)``
each, the last share taking the rest); each part holds its documents' sentences, the
documents in shuffled order and the sentences in reading order. A config gets the same
parts with a table such as ``{path = "chabsa", format = "chabsa", split = [0.8, 0.1, 0.1],
part = 0, seed = 0, by = "document"}`` (:mod:`mrekit.datasets`).

Example:
    >>> ex = next(read("tests/fixtures/chabsa_mini"))  # doctest: +SKIP
    >>> ex.id, ex.labels, [(ex.surface(s), s.label, s.attrs) for s in ex.spans]  # doctest: +SKIP
    ('E90001-0', ['食品'], [('売上高', 'company#sales', {'polarity': 'positive'})])
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.files import read_text, require_exists, strict_json_loads
from mrekit.schema import Example, Span, validate

#: The polarities chABSA annotates.
POLARITIES = ("positive", "negative", "neutral")
#: How far (in characters, from ``from``) a misplaced target is looked for.
FIX_WINDOW = 10
#: The names of the documents in a chABSA folder.
PATTERN = "*_ann.json"


def read(path: str | Path, *, fix_offsets: bool = True) -> Iterator[Example]:
    """Read the sentences of a chABSA folder (every ``*_ann.json``, sorted) or of one document.

    Args:
        path: The chABSA folder, or one ``_ann.json`` file.
        fix_offsets: Move an opinion whose offsets do not cover its target to the one
            occurrence of the target near them (see the module docstring); ``False``
            refuses every such opinion.

    Raises:
        MrekitError: Naming the file and field: ``E100`` missing path, ``E101`` a folder
            without documents, ``E103`` malformed JSON (with line), ``E104`` a missing or
            mistyped field, ``E107`` a document or sentence id given twice, ``E110``/``E111``
            offsets outside the text or empty, ``E112`` a target not at its offsets.

    Example:
        >>> [ex.id for ex in read("tests/fixtures/chabsa_mini/e90001_ann.json")]  # doctest: +SKIP
        ['E90001-0', 'E90001-1', 'E90001-2']
    """
    root = require_exists(path)
    files = sorted(root.glob(PATTERN)) if root.is_dir() else [root]
    if not files:
        raise MrekitError("E101", f"no {PATTERN} documents in the folder", path=root, hint="pass a chABSA folder")
    documents: dict[str, Path] = {}
    for file in files:
        yield from _document(file, documents, fix_offsets)


def split_documents(
    examples: Iterable[Example], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[list[Example]]:
    """The fixed split by document: whole documents go to parts by their share of documents.

    Args:
        examples: Sentences read by :func:`read` (each with ``meta["document"]``).
        fractions: The share of documents of each part, summing to 1.
        seed: Seed of the shuffle of the sorted document ids.

    Returns:
        One list of examples per fraction (the same as a config table with
        ``by = "document"``, :meth:`mrekit.datasets.DataSpec.select`).

    Raises:
        MrekitError: ``E104`` for an example without ``meta["document"]``.
        ValueError: for shares that are not positive or do not sum to 1.

    Example:
        >>> parts = split_documents(read("tests/fixtures/chabsa_mini"), (1 / 3, 1 / 3, 1 / 3))  # doctest: +SKIP
        >>> [sorted({ex.meta["document"] for ex in part}) for part in parts]  # doctest: +SKIP
        [['E90001'], ['E90003'], ['E90002']]
    """
    shares = tuple(fractions)
    if not shares or not all(math.isfinite(s) and s > 0 for s in shares) or abs(sum(shares) - 1) > 1e-6:
        raise ValueError(f"fractions must be positive shares summing to 1, not {fractions!r}")
    documents: dict[str, list[Example]] = {}
    for ex in examples:
        document = ex.meta.get("document")
        if not isinstance(document, str):
            raise MrekitError("E104", f"example {ex.id!r} has no meta['document']", field="meta.document")
        documents.setdefault(document, []).append(ex)
    order = sorted(documents)
    random.Random(seed).shuffle(order)
    parts, start = [], 0
    for i, share in enumerate(shares):
        end = len(order) if i == len(shares) - 1 else start + round(share * len(order))
        parts.append([ex for document in order[start:end] for ex in documents[document]])
        start = end
    return parts


def _document(path: Path, documents: dict[str, Path], fix_offsets: bool) -> Iterator[Example]:
    try:
        data = strict_json_loads(read_text(path))
    except MrekitError as err:
        raise err.at(path) from None
    if not isinstance(data, dict):
        raise MrekitError("E104", "expected a JSON object with 'header' and 'sentences'", path=path)
    header = _field(data, "header", dict, path, "header")
    document = _field(header, "document_id", str, path, "header.document_id")
    category = _field(header, "category17", str, path, "header.category17")
    sentences = _field(data, "sentences", list, path, "sentences")
    if document in documents:
        raise MrekitError(
            "E107",
            f"document id {document!r} is also that of {documents[document]}",
            path=path,
            field="header.document_id",
        )
    documents[document] = path
    seen: set[str] = set()
    for i, item in enumerate(sentences):
        example = _sentence(item, f"sentences[{i}]", document, category, path, fix_offsets)
        if example.id in seen:
            raise MrekitError(
                "E107", f"sentence id {example.id!r} is given twice", path=path, field=f"sentences[{i}].sentence_id"
            )
        seen.add(str(example.id))
        yield example


def _sentence(item: Any, where: str, document: str, category: str, path: Path, fix_offsets: bool) -> Example:
    if not isinstance(item, dict):
        raise MrekitError("E104", f"'{where}' must be an object", path=path, field=where)
    if "sentence_id" not in item:
        raise MrekitError(
            "E104", f"missing required field '{where}.sentence_id'", path=path, field=f"{where}.sentence_id"
        )
    sentence_id = item["sentence_id"]
    if not isinstance(sentence_id, int | str) or isinstance(sentence_id, bool):
        raise MrekitError(
            "E104", f"'{where}.sentence_id' must be an integer or a string", path=path, field=f"{where}.sentence_id"
        )
    text = _field(item, "sentence", str, path, f"{where}.sentence", allow_empty=True)
    opinions = _field(item, "opinions", list, path, f"{where}.opinions", allow_empty=True)
    spans = [_opinion(op, text, f"{where}.opinions[{j}]", path, fix_offsets) for j, op in enumerate(opinions)]
    example = Example(
        text=text,
        id=f"{document}-{sentence_id}",
        labels=[category],
        spans=spans,
        meta={"lang": "ja", "source": "chabsa", "document": document},
    )
    problems = validate(example)
    if problems:
        err = problems[0]
        field = f"{where}.opinions{err.field[len('spans') :]}" if (err.field or "").startswith("spans[") else where
        raise MrekitError(err.code, f"sentence {example.id}: {err.message}", path=path, field=field, hint=err.hint)
    return example


def _opinion(op: Any, text: str, where: str, path: Path, fix_offsets: bool) -> Span:
    if not isinstance(op, dict):
        raise MrekitError("E104", f"'{where}' must be an object", path=path, field=where)
    target = _field(op, "target", str, path, f"{where}.target", allow_empty=True)
    category = _field(op, "category", str, path, f"{where}.category")
    polarity = _field(op, "polarity", str, path, f"{where}.polarity")
    if polarity not in POLARITIES:
        raise MrekitError(
            "E104",
            f"'{where}.polarity' must be one of {', '.join(POLARITIES)}, not {polarity!r}",
            path=path,
            field=f"{where}.polarity",
        )
    start = _field(op, "from", int, path, f"{where}.from")
    end = _field(op, "to", int, path, f"{where}.to")
    if 0 <= start < end <= len(text) and text[start:end] != target:
        # Offsets outside the text or empty are left to validate() (E110, E111).
        start = _locate(text, target, start, end, where, path, fix_offsets)
        end = start + len(target)
    return Span(start, end, category, attrs={"polarity": polarity}, surface=target)


def _locate(text: str, target: str, start: int, end: int, where: str, path: Path, fix_offsets: bool) -> int:
    """The start of the one occurrence of ``target`` within :data:`FIX_WINDOW` of ``start``, else ``E112``."""
    near = []
    if target and fix_offsets:
        at = text.find(target)
        while at != -1:
            if abs(at - start) <= FIX_WINDOW:
                near.append(at)
            at = text.find(target, at + 1)
    if len(near) == 1:
        return near[0]
    if not fix_offsets:
        why = "and offsets are not fixed (fix_offsets=False)"
    elif not near:
        why = f"and the target does not occur within {FIX_WINDOW} characters of {start}"
    else:
        why = f"and the target occurs {len(near)} times within {FIX_WINDOW} characters of {start}"
    raise MrekitError(
        "E112",
        f"offsets {start}-{end} cover {text[start:end]!r}, not the target {target!r}, {why}",
        path=path,
        field=where,
        hint="fix 'from' and 'to' of the opinion",
    )


def _field(data: dict, key: str, kind: type, path: Path, name: str, *, allow_empty: bool = False) -> Any:
    if key not in data:
        raise MrekitError("E104", f"missing required field '{name}'", path=path, field=name)
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MrekitError(
            "E104", f"'{name}' must be {kind.__name__}, got {type(value).__name__}", path=path, field=name
        )
    if kind is str and not value and not allow_empty:
        raise MrekitError("E104", f"'{name}' is empty", path=path, field=name)
    return value
