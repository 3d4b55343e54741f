"""Readers and writers, one module per format, behind one registry.

Each format module defines ``read(path, **options) -> Iterator[Example]`` and,
when the format can be written, ``write(examples, path, **options) -> int``
(the number of examples written, atomically: nothing is left on failure).

:data:`SUFFIXES` is the one table of file suffixes: :func:`infer_format` reads it
for inputs, :func:`infer_output_format` for outputs (``mrekit convert``).

Example:
    >>> from mrekit import formats
    >>> sorted(formats.FORMATS)[:3]
    ['ade', 'bio', 'chabsa']
    >>> formats.infer_output_format("train.spacy")
    'spacy'
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from mrekit.errors import MrekitError
from mrekit.files import iter_lines, read_text, strict_json_loads
from mrekit.schema import Example

#: Format name -> module implementing it.
FORMATS: dict[str, str] = {
    "jsonl": "mrekit.formats.jsonl",
    "bio": "mrekit.formats.bio",
    "conll": "mrekit.formats.conll",
    "semeval-absa": "mrekit.formats.semeval",
    "stockmark": "mrekit.formats.stockmark",
    "chabsa": "mrekit.formats.chabsa",
    "oiellm": "mrekit.formats.oiellm",
    "giellm": "mrekit.formats.giellm",
    "spacy": "mrekit.formats.spacy",
    "labelstudio": "mrekit.formats.labelstudio",
    "doccano": "mrekit.formats.doccano",
    "spert": "mrekit.formats.spert",
    "ade": "mrekit.formats.ade",
    "phee": "mrekit.formats.phee",
}

#: File suffix -> the formats stored under it; the first is the one a suffix alone means.
#: ``.jsonl`` and ``.json`` inputs are told apart by content (see :func:`infer_format`);
#: a ``.json`` output needs ``--to`` (Label Studio tasks are one kind of JSON among many).
SUFFIXES: dict[str, tuple[str, ...]] = {
    ".jsonl": ("jsonl", "doccano", "oiellm", "giellm"),
    ".json": ("stockmark", "labelstudio", "chabsa", "spert", "phee", "ade"),
    ".xml": ("semeval-absa",),
    ".spacy": ("spacy",),
    ".conll": ("conll",),
    ".iob": ("conll",),
    ".bio": ("conll",),
}

#: Formats written as a folder rather than a file.
FOLDER_FORMATS = frozenset({"bio"})


def format_module(name: str) -> ModuleType:
    """Return the module implementing format ``name``.

    Raises:
        MrekitError: ``E130`` for a name that is not a known format.
    """
    if name not in FORMATS:
        raise MrekitError("E130", f"unknown format {name!r}", hint=f"choose one of: {', '.join(sorted(FORMATS))}")
    return importlib.import_module(FORMATS[name])


def writable(name: str) -> bool:
    """Whether format ``name`` can be written (``E130`` if unknown).

    Example:
        >>> writable("conll"), writable("stockmark")
        (True, False)
    """
    return hasattr(format_module(name), "write")


def infer_format(path: str | Path) -> str:
    """Guess the format of ``path`` from its layout, suffix and first record.

    Raises:
        MrekitError: ``E100`` if ``path`` is missing, ``E131`` if ambiguous.

    Example:
        >>> import tempfile, pathlib
        >>> tasks = pathlib.Path(tempfile.mkdtemp()) / "tasks.json"
        >>> _ = tasks.write_text('[{"data": {"text": "hi"}, "annotations": []}]')
        >>> infer_format(tasks)
        'labelstudio'
    """
    p = Path(path)
    if not p.exists():
        raise MrekitError("E100", "file or folder not found", path=p)
    if p.is_dir():
        if (p / "seq.in").exists():
            return "bio"
        if any(p.glob("*_ann.json")):
            return "chabsa"
        raise MrekitError(
            "E131", "a folder without seq.in or *_ann.json files is no known format", path=p, hint="pass --from"
        )
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        return _infer_jsonl(p)
    if suffix == ".json":
        return _infer_json(p)
    if suffix in SUFFIXES:
        return SUFFIXES[suffix][0]
    raise MrekitError(
        "E131", f"cannot tell the format from the suffix {suffix or '(none)'!r}", path=p, hint="pass --from"
    )


def infer_output_format(path: str | Path, to_format: str | None = None) -> str:
    """The format to write ``path`` in: ``to_format``, checked against the path, or the suffix's.

    ``-`` (standard output) and a path whose suffix no format uses mean ``jsonl``
    unless ``to_format`` says otherwise.

    Raises:
        MrekitError: ``E130`` for an unknown ``to_format``; ``E135`` when it contradicts
            the suffix (``--to jsonl`` into ``y.spacy``, ``--to bio`` into a file name);
            ``E131`` for a ``.json`` output without ``to_format``.

    Example:
        >>> infer_output_format("out.conll"), infer_output_format("-"), infer_output_format("bio_dir", "bio")
        ('conll', 'jsonl', 'bio')
        >>> infer_output_format("y.spacy", "jsonl")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E135] y.spacy: --to jsonl contradicts the output name: a .spacy file is spacy (...)
    """
    suffix = "" if str(path) == "-" else Path(path).suffix.lower()
    known = SUFFIXES.get(suffix)
    if to_format is not None:
        format_module(to_format)  # E130 first
        if known is not None and to_format not in known:
            raise _contradiction(path, to_format, suffix, known)
        return to_format
    if suffix == ".json":
        raise MrekitError(
            "E131",
            "a .json output could be one of several formats",
            path=path,
            hint="pass --to labelstudio for Label Studio tasks, or name the file .jsonl for mrekit JSONL",
        )
    return known[0] if known is not None else "jsonl"


def _contradiction(path: str | Path, to_format: str, suffix: str, known: tuple[str, ...]) -> MrekitError:
    if to_format in FOLDER_FORMATS:
        return MrekitError(
            "E135",
            f"--to {to_format} writes a folder, but the output name has the file suffix {suffix}",
            path=path,
            hint=f"name a folder without {suffix}, or drop --to to write {known[0]}",
        )
    usable = [name for name in known if writable(name)]
    return MrekitError(
        "E135",
        f"--to {to_format} contradicts the output name: a {suffix} file is {' or '.join(known)}",
        path=path,
        hint=f"drop --to to write {usable[0]}, or rename the output"
        if usable and suffix != ".json"
        else f"pass --to {' or --to '.join(usable)}, or rename the output",
    )


def _infer_jsonl(path: Path) -> str:
    for _, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            first = strict_json_loads(line)
        except MrekitError:
            return "jsonl"  # let the reader report the malformed line
        if not isinstance(first, dict) or "text" not in first:
            if isinstance(first, dict) and "input" in first and "output" in first:
                raise MrekitError(
                    "E131",
                    "input/output lines may be OIELLM or GIELLM strings",
                    path=path,
                    hint="pass --from oiellm or giellm",
                )
            return "jsonl"
        return "doccano" if _looks_doccano(first) else "jsonl"
    return "jsonl"


def _looks_doccano(record: dict[str, Any]) -> bool:
    """doccano's ``label`` list, ``cats`` or ``entities``, where mrekit JSONL has none of its own keys."""
    if "labels" in record or "spans" in record:
        return False
    return isinstance(record.get("label"), list) or "cats" in record or isinstance(record.get("entities"), list)


def _infer_json(path: Path) -> str:
    """``labelstudio`` when the first task has ``data`` and no ``text``, ``spert`` when the
    first element has ``tokens`` and ``entities``, ``chabsa`` for an object with ``header``
    and ``sentences``, ``phee`` for lines whose first object has ``context`` and
    ``annotations``, else ``stockmark``.

    Only the first array element (or line) is decoded; anything malformed is left to the reader.
    (An ADE fold file is SpERT JSON: its joint ADE-vs-none reading needs ``--from ade``.)
    """
    text = read_text(path).lstrip()
    if text.startswith("{"):
        if _looks_phee(text):
            return "phee"
        return "chabsa" if _looks_chabsa(text) else "stockmark"
    if not text.startswith("["):
        return "stockmark"
    try:
        first, _ = json.JSONDecoder().raw_decode(text, len(text) - len(text[1:].lstrip()))
    except (ValueError, RecursionError):
        return "stockmark"
    if isinstance(first, dict) and isinstance(first.get("data"), dict) and "text" not in first:
        return "labelstudio"
    if isinstance(first, dict) and isinstance(first.get("tokens"), list) and isinstance(first.get("entities"), list):
        return "spert"
    return "stockmark"


def _looks_phee(text: str) -> bool:
    try:
        first, _ = json.JSONDecoder().raw_decode(text.partition("\n")[0])
    except (ValueError, RecursionError):
        return False
    return isinstance(first, dict) and isinstance(first.get("context"), str) and "annotations" in first


def _looks_chabsa(text: str) -> bool:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "header" in data and "sentences" in data


def read(path: str | Path, fmt: str | None = None, **options: Any) -> Iterator[Example]:
    """Read examples from ``path`` in format ``fmt`` (inferred when ``None``).

    Example:
        >>> import tempfile, pathlib
        >>> data = pathlib.Path(tempfile.mkdtemp()) / "d.jsonl"
        >>> _ = data.write_text('{"text": "東京", "label": [[0, 2, "地名"]]}\\n')
        >>> [(s.start, s.end, s.label) for s in next(read(data)).spans]  # doccano, inferred
        [(0, 2, '地名')]
    """
    name = fmt or infer_format(path)
    return format_module(name).read(path, **options)


def write(examples: Iterable[Example], path: str | Path, fmt: str, **options: Any) -> int:
    """Write ``examples`` to ``path`` in format ``fmt``; returns how many were written.

    Every writer takes ``overwrite`` (replace an existing output mrekit may replace)
    and ``inputs`` (files the output must never be); see :mod:`mrekit.outputs`.

    Raises:
        MrekitError: ``E130`` if ``fmt`` is unknown or can only be read; ``E170``
            for an existing output without ``overwrite``; ``E172`` if it is an input.
    """
    module = format_module(fmt)
    if not hasattr(module, "write"):
        raise MrekitError("E130", f"format {fmt!r} can be read but not written", hint="write jsonl instead")
    return module.write(examples, path, **options)
