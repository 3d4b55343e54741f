"""Data sets that ship inside the package, and resolution of data arguments.

A data argument is either a path (file or folder, format inferred or given) or
``NAME:SPLIT`` for a bundled data set, e.g. ``snips:train``. In a config file it may
also be a table naming one part of a fixed, seeded split of such a file
(:func:`data_spec`), so that a data set without a dev split needs no extra files:

.. code-block:: toml

    train = {path = "Restaurants_Train_v2.xml", split = [0.9, 0.1], part = 0, seed = 0}
    dev = {path = "Restaurants_Train_v2.xml", split = [0.9, 0.1], part = 1, seed = 0}

With ``by``, the split cuts groups instead of examples: ``by = "document"`` keeps all the
examples with the same ``meta["document"]`` in one part (:func:`split_groups`).
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

from mrekit import formats
from mrekit.errors import MrekitError
from mrekit.schema import Example

T = TypeVar("T")

#: Bundled data sets and their splits.
BUILTIN: dict[str, tuple[str, ...]] = {"snips": ("train", "dev", "test")}

_SPEC = re.compile(r"^(?P<name>[a-z0-9_-]+):(?P<split>[a-z]+)$")


def builtin_path(name: str, split: str) -> Path:
    """Path of a bundled split in canonical JSONL.

    Raises:
        MrekitError: ``E100`` for an unknown data set or split.

    Example:
        >>> builtin_path("snips", "test").name
        'test.jsonl'
    """
    if name not in BUILTIN or split not in BUILTIN[name]:
        known = ", ".join(f"{n}:{s}" for n, splits in BUILTIN.items() for s in splits)
        raise MrekitError("E100", f"no bundled data set {name}:{split}", hint=f"bundled: {known}")
    return Path(str(resources.files("mrekit") / "data" / name / f"{split}.jsonl"))


def load_builtin(name: str, split: str) -> list[Example]:
    """Load a bundled split into memory.

    Example:
        >>> len(load_builtin("snips", "test"))
        700
    """
    return list(formats.read(builtin_path(name, split), "jsonl"))


def resolve(spec: str | Path) -> tuple[Path, str | None]:
    """Turn a data argument into ``(path, format)``; format ``None`` means infer it.

    Example:
        >>> resolve("snips:dev")[0].name, resolve("snips:dev")[1]
        ('dev.jsonl', 'jsonl')
    """
    path = Path(spec)
    if path.exists():
        return path, None
    match = _SPEC.match(str(spec))
    if match and match["name"] in BUILTIN:
        return builtin_path(match["name"], match["split"]), "jsonl"
    raise MrekitError(
        "E100", "file or folder not found", path=path, hint="give a path or a bundled set such as snips:train"
    )


#: The keys of a data table in a config file.
SPEC_KEYS = ("path", "format", "split", "part", "seed", "by")


def split(examples: Sequence[T], fractions: Sequence[float], seed: int = 0) -> list[list[T]]:
    """A fixed, seeded split into consecutive shares; the last share takes the rest.

    The order is ``random.Random(seed).shuffle`` of the indices, so the same examples,
    fractions and seed always give the same parts (those of ``bench/joint.py``).

    Args:
        examples: What to split (not changed).
        fractions: The share of each part, e.g. ``(0.8, 0.1, 0.1)``.
        seed: Seed of the shuffle.

    Returns:
        One list per fraction.

    Example:
        >>> [len(part) for part in split(list(range(10)), (0.8, 0.1, 0.1))]
        [8, 1, 1]
        >>> split(list("abcde"), (0.6, 0.4), seed=1)
        [['c', 'd', 'e'], ['a', 'b']]
    """
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    out, start = [], 0
    for i, share in enumerate(fractions):
        end = len(order) if i == len(fractions) - 1 else start + round(share * len(order))
        out.append([examples[j] for j in order[start:end]])
        start = end
    return out


def split_groups(
    examples: Sequence[Example], fractions: Sequence[float], seed: int = 0, *, by: str = "document", field: str = "by"
) -> list[list[Example]]:
    """A fixed, seeded split of whole groups: the examples sharing ``meta[by]`` stay in one part.

    The group keys (``meta[by]`` as strings) are sorted and split with :func:`split`, so the
    shares are shares of groups; a part holds its groups in that shuffled order, and each
    group's examples in their input order.

    Args:
        examples: What to split (not changed).
        fractions: The share of groups of each part.
        seed: Seed of the shuffle.
        by: The ``meta`` key naming an example's group, e.g. ``"document"``.
        field: The config key named in errors.

    Raises:
        MrekitError: ``E183`` naming ``field`` for an example whose ``meta[by]`` is not a
            string or an integer.

    Example:
        >>> docs = [Example(t, meta={"document": d}) for t, d in (("a", "x"), ("b", "y"), ("c", "x"))]
        >>> [[ex.text for ex in part] for part in split_groups(docs, (0.5, 0.5))]
        [['a', 'c'], ['b']]
    """
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        key = ex.meta.get(by)
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise MrekitError(
                "E183",
                f"by = {by!r} groups examples by meta[{by!r}], which example {ex.id!r} lacks",
                field=field,
                hint="group by a meta key every example has, or drop by",
            )
        groups.setdefault(str(key), []).append(ex)
    return [[ex for key in part for ex in groups[key]] for part in split(sorted(groups), fractions, seed)]


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A checked data argument: a path or bundled set, and optionally one part of a seeded split.

    Args:
        path: A file, folder or bundled set (``snips:train``).
        format: The format's name (``None``: inferred from the file).
        split: Shares of a fixed split (:func:`split`), or ``None`` for all examples.
        part: Which share of ``split`` (0-based).
        seed: Seed of the split.
        by: A ``meta`` key: split whole groups of examples sharing its value
            (:func:`split_groups`); ``None`` splits single examples.

    Example:
        >>> spec = DataSpec("train.jsonl", split=(0.5, 0.5), part=1)
        >>> spec.select(list(range(6)))
        [0, 5, 3]
    """

    path: str
    format: str | None = None
    split: tuple[float, ...] | None = None
    part: int | None = None
    seed: int = 0
    by: str | None = None

    def select(self, examples: Sequence[T], *, field: str = "data") -> list[T]:
        """The examples this spec names among all of ``path``'s (all of them without a split)."""
        if self.split is None:
            return list(examples)
        if self.by is not None:
            grouped = split_groups(
                cast(Sequence[Example], examples), self.split, self.seed, by=self.by, field=f"{field}.by"
            )
            return cast(list[T], grouped[self.part or 0])
        return split(examples, self.split, self.seed)[self.part or 0]


def data_spec(value: object, field: str = "data") -> DataSpec:
    """Check a data argument of a config file (a string or a table) before any data is read.

    Args:
        value: ``"snips:train"``, a path, or a table with ``path`` and optionally
            ``format``, ``split`` (shares summing to 1), ``part`` (required with
            ``split``), ``seed`` (default 0) and ``by`` (a ``meta`` key whose groups
            the split keeps whole, e.g. ``"document"``).
        field: The config key it came from (``train``, ``dev``, ``test``), for errors.

    Returns:
        The checked spec.

    Raises:
        MrekitError: ``E183`` naming the field (``dev.part``) for a value of the wrong
            type, an unknown key, a missing ``path``, bad shares or a part out of range.

    Example:
        >>> data_spec("snips:dev")
        DataSpec(path='snips:dev', format=None, split=None, part=None, seed=0, by=None)
        >>> data_spec({"path": "ner.json", "split": [0.8, 0.1, 0.1], "part": 2}, "test")
        DataSpec(path='ner.json', format=None, split=(0.8, 0.1, 0.1), part=2, seed=0, by=None)
        >>> data_spec({"path": "ner.json", "split": [0.8, 0.2], "part": 2}, "test")
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E183] field 'test.part': part must be an integer from 0 to 1 \
(one of the 2 shares of split), not 2
    """
    if isinstance(value, str | Path):
        if not str(value):
            raise MrekitError("E183", "the data path is empty", field=field)
        return DataSpec(str(value))
    if not isinstance(value, Mapping):
        raise MrekitError(
            "E183",
            f"{field} must be a path, a bundled set such as snips:{field} or a table with a path, not {value!r}",
            field=field,
        )
    unknown = sorted(str(k) for k in value if k not in SPEC_KEYS)
    if unknown:
        raise MrekitError(
            "E183",
            f"unknown key(s) {', '.join(unknown)} in {field}",
            field=f"{field}.{unknown[0]}",
            hint=f"known: {', '.join(SPEC_KEYS)}",
        )
    path = value.get("path")
    if not isinstance(path, str) or not path:
        raise MrekitError("E183", f"path must be a file, folder or bundled set, not {path!r}", field=f"{field}.path")
    fmt = value.get("format")
    if fmt is not None and (not isinstance(fmt, str) or not fmt):
        raise MrekitError("E183", f"format must be a format's name such as jsonl, not {fmt!r}", field=f"{field}.format")
    if "split" not in value:
        for key in ("part", "seed", "by"):
            if key in value:
                raise MrekitError(
                    "E183", f"{key} is given without split", field=f"{field}.{key}", hint="add split = [0.9, 0.1]"
                )
        return DataSpec(path, fmt)
    shares = _shares(value["split"], f"{field}.split")
    part, seed = value.get("part"), value.get("seed", 0)
    if not _is_int(part) or not 0 <= part < len(shares):
        raise MrekitError(
            "E183",
            f"part must be an integer from 0 to {len(shares) - 1} (one of the {len(shares)} shares of split), "
            f"not {part!r}",
            field=f"{field}.part",
        )
    if not _is_int(seed):
        raise MrekitError("E183", f"seed must be an integer, not {seed!r}", field=f"{field}.seed")
    by = value.get("by")
    if by is not None and (not isinstance(by, str) or not by):
        raise MrekitError("E183", f'by must be a meta key such as "document", not {by!r}', field=f"{field}.by")
    return DataSpec(path, fmt, shares, part, seed, by)


def read_data(
    spec: str | Path | Mapping[str, Any] | DataSpec, fmt: str | None = None, *, field: str = "data"
) -> list[Example]:
    """Read a data argument: a file, folder or bundled set, or one part of a seeded split of one.

    The spec is checked (:func:`data_spec`) before anything is read.

    Args:
        spec: A path or bundled set (``snips:train``), or a config table such as
            ``{"path": "train.xml", "split": [0.9, 0.1], "part": 1, "seed": 0, "format": "semeval-absa"}``.
        fmt: The format (wins over the table's ``format``; ``None``: the table's, else inferred).
        field: The config key ``spec`` came from, named in errors (``dev.split``).

    Returns:
        The examples, in memory.

    Raises:
        MrekitError: ``E183`` for a bad table (naming the field), ``E100`` for a missing
            file, ``E130``/``E131`` for an unknown or unclear format, and the readers' errors.

    Example:
        >>> len(read_data("snips:test")), len(read_data({"path": "snips:test", "split": [0.9, 0.1], "part": 1}))
        (700, 70)
    """
    checked = spec if isinstance(spec, DataSpec) else data_spec(spec, field)
    path, builtin_format = resolve(checked.path)
    return checked.select(list(formats.read(path, fmt or checked.format or builtin_format)), field=field)


def _shares(value: object, field: str) -> tuple[float, ...]:
    ok = (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in value)
    )
    if not ok:
        raise MrekitError(
            "E183", f"split must be a list of positive shares such as [0.9, 0.1], not {value!r}", field=field
        )
    shares = tuple(value)  # type: ignore[arg-type]
    if abs(sum(shares) - 1) > 1e-6:
        raise MrekitError("E183", f"the shares of split sum to {sum(shares):g}, not 1", field=field)
    return shares


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
