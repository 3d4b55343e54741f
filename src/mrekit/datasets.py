"""Data sets that ship inside the package, and resolution of data arguments.

A data argument is either a path (file or folder, format inferred or given) or
``NAME:SPLIT`` for a bundled data set, e.g. ``snips:train``.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from mrekit.errors import MrekitError
from mrekit.schema import Example

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
    from mrekit.formats import jsonl

    return list(jsonl.read(builtin_path(name, split)))


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
