"""ADE Corpus V2 (read only): adverse drug effects, joint ADE-vs-none text labels and relations.

The ADE corpus (Gurulingappa et al., 2012; research use) comes as a folder::

    ade/
      folds/ade_split_K_train.json, ade_split_K_test.json   K = 0..9 (SpERT JSON)
      raw/DRUG-AE.rel    PMID|sentence|effect|begin|end|drug|begin|end   (one line per relation)
      raw/ADE-NEG.txt    PMID NEG sentence                               (one line per sentence)

* **Positives** are the sentences of the folds, the standard 10-fold split of the
  relation benchmark (SpERT / PFN; 4,272 sentences, each in exactly one test fold). They
  are read with :mod:`mrekit.formats.spert` (entities ``Drug`` / ``Adverse-Effect`` as
  spans, overlapping ones kept; relations ``Adverse-Effect`` from the effect to the drug)
  and get the text label ``ADE``.
* **Negatives** are the lines of ``ADE-NEG.txt``: ``labels=["none"]`` and ``spans=None``
  (the corpus annotates no entity in them, so their word level is *unannotated*, not
  empty: they add no span loss and no span counts). ``id`` is ``NEG-<PMID>-<k>``, ``k``
  the 0-based number of the line among that PMID's lines, and ``meta`` holds ``document``
  (the PMID), ``line`` and ``fold`` (see below). The file has 16,695 lines but 16,625
  sentences: a sentence given again (the same text, whitespace aside; mostly boilerplate
  such as ``A case report.`` under several PMIDs) is read once, at its first line.

**Raw text of the positives.** The fold texts are tokens joined by spaces
(``53-year - old man .``) while the negatives are plain sentences (``53-year-old man.``);
a text classifier would learn the spacing instead of the ADE. So the joint data gives
the positives their sentence as written: ``orig_id`` is the index of the sentence among
the distinct ``(PMID, sentence)`` pairs of ``raw/DRUG-AE.rel`` in file order, the
sentence must spell the same characters as the tokens (whitespace aside, else ``E124``),
and every span is moved onto the same characters of it. The positive then also has
``meta["document"]`` (its PMID).

**The joint fold K** (:func:`ade_fold`, and the ``ade`` format reading a fold file):

* ``part="train"``: the positives of ``ade_split_K_train.json`` and the negatives whose
  fold is not K; ``part="test"``: those of ``ade_split_K_test.json`` and the negatives
  of fold K;
* a negative's fold is ``int(sha256(PMID).hexdigest(), 16) % 10``
  (:func:`negative_fold`): fixed, and by document, so the negatives of one abstract are
  all in one fold (about a tenth of them in each). The positive folds are the published
  ones, which split sentences, not documents;
* a negative whose sentence is also a positive (whitespace aside) is dropped, so no
  sentence is counted as both (the published corpus has none);
* order: the fold file's positives, then the negatives in file order.

A data config reads part ``test`` of fold 3 as ``test = {path =
"ade/folds/ade_split_3_test.json", format = "ade"}``: the fold and part come from the file
name, the raw files from ``../raw/``. For the relation benchmark alone (positives,
tokenized text, no text label, as published) read the fold files as ``spert``.

Example:
    >>> import json, pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "folds").mkdir(); (root / "raw").mkdir()
    >>> pos = {"tokens": ["Rash", "after", "drug-x", "."], "orig_id": 0,
    ...        "entities": [{"type": "Adverse-Effect", "start": 0, "end": 1}, {"type": "Drug", "start": 2, "end": 3}],
    ...        "relations": [{"type": "Adverse-Effect", "head": 0, "tail": 1}]}
    >>> other = {"tokens": ["Fever", "."], "entities": [], "relations": [], "orig_id": 1}
    >>> for part, item in (("train", other), ("test", pos)):
    ...     _ = (root / "folds" / f"ade_split_0_{part}.json").write_text(json.dumps([item]))
    >>> _ = (root / "raw" / "DRUG-AE.rel").write_text("7|Rash after drug-x.|Rash|0|4|drug-x|11|17\\n")
    >>> _ = (root / "raw" / "ADE-NEG.txt").write_text("90007 NEG No effect was seen.\\n")
    >>> test = ade_fold(root, 0, "test")  # PMID 90007 is in fold 0
    >>> [(ex.id, ex.text, ex.labels, ex.meta["document"]) for ex in test]
    [('0', 'Rash after drug-x.', ['ADE'], '7'), ('NEG-90007-0', 'No effect was seen.', ['none'], '90007')]
    >>> [(test[0].surface(s), s.label) for s in test[0].spans], test[0].relations[0].head, test[1].spans
    ([('Rash', 'Adverse-Effect'), ('drug-x', 'Drug')], 0, None)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from mrekit.errors import MrekitError
from mrekit.files import iter_lines, require_exists
from mrekit.formats import spert
from mrekit.schema import Example, Span

#: The text label of a sentence with an adverse drug effect, and of one without.
LABEL = "ADE"
NONE = "none"
#: How many folds the benchmark has.
FOLDS = 10
#: The names of the fold files, the negatives and the relations, in the corpus folder.
FOLD_FILE = re.compile(r"^ade_split_(?P<k>\d+)_(?P<part>train|test)\.json$")
NEGATIVES = Path("raw") / "ADE-NEG.txt"
RELATIONS = Path("raw") / "DRUG-AE.rel"
PARTS = ("train", "test")


def read(path: str | Path) -> Iterator[Example]:
    """The ``ade`` format: a fold file gives its joint fold, ``ADE-NEG.txt`` the negatives.

    Args:
        path: ``<corpus>/folds/ade_split_K_{train,test}.json`` (the joint data of fold K's
            part, :func:`ade_fold` with the corpus folder two levels up), or any file named
            ``ADE-NEG.txt`` (its negatives, :func:`read_negatives`).

    Raises:
        MrekitError: ``E126`` for another file name or a folder, and the errors of
            :func:`ade_fold` and :func:`read_negatives`.

    Example:
        >>> len(list(read("tests/fixtures/ade_mini/folds/ade_split_1_test.json")))  # doctest: +SKIP
        5
    """
    file = require_exists(path)
    if file.is_file() and file.name == NEGATIVES.name:
        yield from read_negatives(file)
        return
    match = FOLD_FILE.match(file.name) if file.is_file() else None
    if match is None:
        raise MrekitError(
            "E126",
            "the ade format reads a fold file ade_split_K_train.json / ade_split_K_test.json or ADE-NEG.txt",
            path=file,
            hint="read other SpERT JSON as spert",
        )
    yield from _fold(file.parent.parent, int(match["k"]), match["part"], file)


def ade_fold(folder: str | Path, k: int, part: str, *, raw_text: bool = True) -> list[Example]:
    """The joint ADE-vs-none data of fold ``k``'s ``part`` (the rule is in the module docstring).

    Args:
        folder: The corpus folder (holding ``folds/`` and ``raw/``).
        k: The fold, ``0 .. 9``.
        part: ``"train"`` or ``"test"``.
        raw_text: Give the positives their sentence from ``raw/DRUG-AE.rel`` (the spacing
            of the negatives); ``False`` keeps the tokens joined by spaces.

    Returns:
        The fold file's positives, then the fold's negatives.

    Raises:
        MrekitError: ``E100`` for a missing file, ``E124`` for a positive whose raw
            sentence differs from its tokens, ``E104`` for a malformed raw line, and the
            errors of :func:`mrekit.formats.spert.read`.
        ValueError: for a fold or part that does not exist.
    """
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < FOLDS:
        raise ValueError(f"k must be a fold from 0 to {FOLDS - 1}, not {k!r}")
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    root = require_exists(folder, folder=True)
    return list(_fold(root, k, part, root / "folds" / f"ade_split_{k}_{part}.json", raw_text=raw_text))


def read_positives(
    path: str | Path, *, relations: str | Path | None = None, raw_text: bool = True
) -> Iterator[Example]:
    """The sentences of one fold file with the text label ``ADE``.

    Args:
        path: A fold file (SpERT JSON).
        relations: ``DRUG-AE.rel``, to give each sentence its raw text and PMID
            (``None``: keep the tokens joined by spaces and no PMID).
        raw_text: With ``relations``, move the text and spans to the raw sentence.

    Raises:
        MrekitError: As :func:`ade_fold`.
    """
    sentences = _raw_sentences(relations) if relations is not None else None
    for example in spert.read(path, label=LABEL, source="ade"):
        if sentences is not None:
            example = _with_raw(example, sentences, Path(path), raw_text)
        yield example


def read_negatives(path: str | Path, *, unique: bool = True) -> Iterator[Example]:
    """The sentences of ``ADE-NEG.txt`` (``PMID NEG sentence`` lines), labelled ``none``.

    Args:
        path: The file.
        unique: Read a sentence given again (whitespace aside) only at its first line.

    Raises:
        MrekitError: ``E104`` naming the line of one that is not ``PMID NEG sentence``,
            ``E101`` for a file without sentences, ``E102`` for bytes that are not UTF-8.

    Example:
        >>> import pathlib, tempfile
        >>> neg = pathlib.Path(tempfile.mkdtemp()) / "ADE-NEG.txt"
        >>> _ = neg.write_text("12 NEG A case report.\\n34 NEG A case report.\\n")
        >>> [(ex.id, ex.labels, ex.spans, ex.meta["fold"]) for ex in read_negatives(neg)]
        [('NEG-12-0', ['none'], None, 6)]
    """
    counts: dict[str, int] = {}
    seen: set[str] = set()
    found = False
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[0].isdigit() or parts[1] != "NEG" or not parts[2].strip():
            raise MrekitError(
                "E104",
                "a line of the negatives must be 'PMID NEG sentence'",
                path=path,
                line=number,
                hint="PMID digits, the word NEG, then the sentence, separated by spaces",
            )
        found = True
        pmid, text = parts[0], parts[2].strip()
        k = counts.get(pmid, 0)
        counts[pmid] = k + 1
        key = _key(text)
        if unique and key in seen:
            continue
        seen.add(key)
        yield Example(
            text=text,
            id=f"NEG-{pmid}-{k}",
            labels=[NONE],
            spans=None,
            meta={"source": "ade", "document": pmid, "line": number, "fold": negative_fold(pmid)},
        )
    if not found:
        raise MrekitError("E101", "no sentences in file", path=path)


def negative_fold(pmid: str) -> int:
    """The fold of a negative: ``sha256`` of its PMID, mod :data:`FOLDS` (by document, fixed).

    Example:
        >>> negative_fold("12"), negative_fold("90007")
        (6, 0)
    """
    return int(hashlib.sha256(pmid.encode("utf-8")).hexdigest(), 16) % FOLDS


def _fold(root: Path, k: int, part: str, file: Path, *, raw_text: bool = True) -> Iterator[Example]:
    negatives_path = require_exists(root / NEGATIVES, folder=False)
    relations = require_exists(root / RELATIONS, folder=False) if raw_text else None
    positives = list(read_positives(file, relations=relations, raw_text=raw_text))
    # Every positive is in fold k's train or test file: both are checked against the negatives.
    other = file.with_name(f"ade_split_{k}_{'test' if part == 'train' else 'train'}.json")
    taken = {_key(ex.text) for ex in positives}
    taken |= {_key(ex.text) for ex in spert.read(require_exists(other, folder=False))}
    yield from positives
    for negative in read_negatives(negatives_path):
        if (negative.meta["fold"] == k) == (part == "test") and _key(negative.text) not in taken:
            yield negative


def _key(text: str) -> str:
    """A sentence without its whitespace: tokenized and raw spellings compare equal."""
    return "".join(text.split())


def _raw_sentences(path: str | Path) -> list[tuple[str, str]]:
    """The distinct ``(PMID, sentence)`` pairs of ``DRUG-AE.rel``, in file order."""
    pairs: dict[tuple[str, str], None] = {}
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 8 or not fields[0].isdigit():
            raise MrekitError(
                "E104",
                "a line of the relations must be 'PMID|sentence|effect|begin|end|drug|begin|end'",
                path=path,
                line=number,
            )
        pairs.setdefault((fields[0], "|".join(fields[1:-6])), None)
    return list(pairs)


def _with_raw(example: Example, sentences: list[tuple[str, str]], path: Path, raw_text: bool) -> Example:
    index = int(example.id) if example.id is not None and example.id.isdigit() else -1
    if not 0 <= index < len(sentences) or _key(sentences[index][1]) != _key(example.text):
        raise MrekitError(
            "E124",
            f"sentence {example.id}: its tokens do not spell sentence {index} of DRUG-AE.rel",
            path=path,
            field="orig_id",
            hint="pass raw_text=False, or read the fold as spert",
        )
    pmid, raw = sentences[index]
    example.meta["document"] = pmid
    if raw_text:
        example.spans = _moved(example, raw, path)
        example.text = raw
    return example


def _moved(example: Example, raw: str, path: Path) -> list[Span]:
    """The spans of ``example`` on the same non-space characters of ``raw`` (same ``_key``)."""
    where = [i for i, c in enumerate(raw) if not c.isspace()]
    rank: dict[int, int] = {}  # offset of each non-space character of the tokenized text -> its rank
    for i, c in enumerate(example.text):
        if not c.isspace():
            rank[i] = len(rank)
    moved = []
    for j, span in enumerate(example.spans or []):
        if span.start not in rank or span.end - 1 not in rank:
            raise MrekitError(
                "E124",
                f"sentence {example.id}: entity {j} begins or ends with whitespace, which has no place in the raw text",
                path=path,
                field=f"entities[{j}]",
            )
        moved.append(Span(where[rank[span.start]], where[rank[span.end - 1]] + 1, span.label, attrs=dict(span.attrs)))
    return moved
