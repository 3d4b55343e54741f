"""Config files and dotted command-line overrides, in the manner of spaCy's config system.

A config is a table of settings, read from JSON or TOML (:func:`read_config`); the
command line changes any of its values by dotted name (:func:`parse_overrides`,
:func:`apply_overrides`), and :func:`flatten` lists the effective settings one per line.

Example:
    >>> config = {"mode": "mre", "training": {"epochs": 6, "learning_rate": 1e-4}}
    >>> overrides = parse_overrides(["--training.epochs", "10", "--use-crf"])
    >>> flatten(apply_overrides(config, overrides))
    {'mode': 'mre', 'training.epochs': 10, 'training.learning_rate': 0.0001, 'use_crf': True}

This module sits in the lowest layer of the package: it imports only :mod:`mrekit.errors`.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError

#: One part of a dotted setting name: ``training``, ``learning_rate``.
_NAME_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Where :mod:`tomllib` puts the line in its messages: ``... (at line 3, column 9)``.
_TOML_LINE = re.compile(r"at line (\d+)")


def read_config(path: str | Path) -> dict[str, Any]:
    """Read a JSON or TOML config file (TOML for a ``.toml`` suffix, JSON otherwise) into a dict.

    Args:
        path: The config file.

    Returns:
        The top-level table, with sub-tables as nested dicts.

    Raises:
        MrekitError: ``E100`` for a missing file (or a folder), ``E102`` for bytes that are
            not UTF-8, ``E103`` for malformed JSON or TOML (with its line), ``E106`` for
            JSON nested too deeply, ``E108`` for ``NaN``/``Infinity`` in JSON, ``E183`` for
            a file whose top level is not a table.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "run.toml").write_text('mode = "mre"\\n[training]\\nepochs = 6\\n')
        >>> read_config(folder / "run.toml")
        {'mode': 'mre', 'training': {'epochs': 6}}
        >>> _ = (folder / "bad.json").write_text('{"mode": "mre",\\n "epochs": }')
        >>> read_config(folder / "bad.json")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E103] .../bad.json:2: malformed config: ...
    """
    p = Path(path)
    if not p.exists():
        raise MrekitError("E100", "config file not found", path=p)
    if p.is_dir():
        raise MrekitError("E100", "the config path is a folder, not a file", path=p)
    text = _read_utf8(p)
    if p.suffix.lower() == ".toml":
        try:
            data: object = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            found = _TOML_LINE.search(str(err))
            line = int(found[1]) if found else text.count("\n") + 1  # "at end of document"
            raise MrekitError("E103", f"malformed config: {err}", path=p, line=line) from None
    else:
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as err:
            raise MrekitError(
                "E103", f"malformed config: {err.msg} at column {err.colno}", path=p, line=err.lineno
            ) from None
        except RecursionError:
            raise MrekitError("E106", "the config is nested too deeply", path=p) from None
        except MrekitError as err:
            raise err.at(p) from None
    if not isinstance(data, dict):
        raise MrekitError(
            "E183", f"a config holds a table of settings (a JSON object), not a {type(data).__name__}", path=p
        )
    return data


def parse_overrides(args: Sequence[str]) -> dict[str, Any]:
    """Dotted settings from command-line words: ``--training.epochs 6`` or ``--training.epochs=6``.

    A value is read as a JSON literal where it is one (numbers, ``true``/``false``,
    ``null``, lists, objects, quoted strings) and kept as a string otherwise; a name
    followed by another ``--name`` (or by nothing) is ``True``. Dashes in names become
    underscores (``--training.batch-size`` is ``training.batch_size``).

    Args:
        args: The words after the command's own arguments, e.g. ``sys.argv[2:]``.

    Returns:
        Dotted name -> value, in the order given.

    Raises:
        MrekitError: ``E183`` naming a word that is not ``--name`` or ``--name=value``,
            a malformed name (``--training..epochs``), a name given twice, or a name
            that is a table holding another one given (``--training`` and ``--training.epochs``).

    Example:
        >>> parse_overrides(["--training.epochs", "6", "--training.learning_rate=2e-4", "--mode", "mre", "--use_crf"])
        {'training.epochs': 6, 'training.learning_rate': 0.0002, 'mode': 'mre', 'use_crf': True}
        >>> parse_overrides(["--levels", '["word"]', "--training.batch-size", "16", "--train", "data/x.jsonl"])
        {'levels': ['word'], 'training.batch_size': 16, 'train': 'data/x.jsonl'}
        >>> parse_overrides(["6"])
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E183] field '6': expected a setting such as --training.epochs, not '6' \
(write --name value or --name=value)
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        word = str(args[i])
        if not word.startswith("--"):
            raise MrekitError(
                "E183",
                f"expected a setting such as --training.epochs, not {word!r}",
                field=word,
                hint="write --name value or --name=value",
            )
        name, equals, text = word[2:].partition("=")
        value: Any
        if equals:
            value = _literal(text)
        elif i + 1 < len(args) and not str(args[i + 1]).startswith("--"):
            i += 1
            value = _literal(str(args[i]))
        else:
            value = True
        name = _check_name(name.replace("-", "_"), word)
        if name in out:
            raise MrekitError("E183", f"{word} is given twice", field=name, hint="give each setting once")
        out[name] = value
        i += 1
    for name in out:
        for other in out:
            if other.startswith(name + "."):
                raise MrekitError(
                    "E183",
                    f"--{name} replaces the table that --{other} sets a value in",
                    field=name,
                    hint="give the whole table or its values, not both",
                )
    return out


def apply_overrides(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with each dotted name of ``overrides`` set, in order.

    Sub-tables that do not exist yet are created; a value that replaces a table
    replaces it whole. Neither ``config`` nor ``overrides`` is changed, and the result
    shares no tables or lists with them.

    Args:
        config: Nested tables of settings (e.g. from :func:`read_config`).
        overrides: Dotted name -> value (e.g. from :func:`parse_overrides`).

    Returns:
        The new nested dict.

    Raises:
        MrekitError: ``E183`` for a malformed name, or one that sets a key inside a
            value that is not a table (``training.epochs`` when ``training`` is ``5``).

    Example:
        >>> config = {"mode": "mre", "training": {"epochs": 6}}
        >>> apply_overrides(config, {"training.epochs": 10, "training.seed": 1, "model.x.y": True})
        {'mode': 'mre', 'training': {'epochs': 10, 'seed': 1}, 'model': {'x': {'y': True}}}
        >>> config
        {'mode': 'mre', 'training': {'epochs': 6}}
        >>> apply_overrides(config, {"mode.name": "mre"})
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E183] field 'mode.name': cannot set 'name' inside 'mode', \
which is a str, not a table
    """
    out = _copy_tables(config)
    for dotted, value in overrides.items():
        parts = str(dotted).split(".")
        if not all(parts):
            raise MrekitError("E183", f"{dotted!r} is not a setting name", field=str(dotted) or "(empty)")
        table = out
        for depth, part in enumerate(parts[:-1]):
            inner = table.setdefault(part, {})
            if not isinstance(inner, dict):
                where = ".".join(parts[: depth + 1])
                raise MrekitError(
                    "E183",
                    f"cannot set {parts[depth + 1]!r} inside {where!r}, which is a {type(inner).__name__}, not a table",
                    field=dotted,
                )
            table = inner
        table[parts[-1]] = _copy_tables(value) if isinstance(value, Mapping) else copy.deepcopy(value)
    return out


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted name -> value for every setting that is not a table; empty tables are kept as ``{}``.

    ``apply_overrides({}, flatten(config))`` rebuilds ``config`` (for keys without dots).

    Args:
        config: Nested tables of settings.
        prefix: Put before every name (with a dot), e.g. ``"training"``.

    Returns:
        The flat dict, in the config's order (values are not copied).

    Example:
        >>> flatten({"train": "snips:train", "training": {"epochs": 6, "extra": {}}, "levels": ["word"]})
        {'train': 'snips:train', 'training.epochs': 6, 'training.extra': {}, 'levels': ['word']}
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name))
        else:
            out[name] = {} if isinstance(value, Mapping) else value
    return out


def _read_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise MrekitError(
            "E102",
            f"byte {data[err.start]:#04x} is not UTF-8",
            path=path,
            line=line,
            hint="re-encode the file as UTF-8",
        ) from None


def _reject_constant(name: str) -> float:
    raise MrekitError("E108", f"{name} is not a JSON number", hint="write a finite number or null")


def _literal(text: str) -> Any:
    """``text`` as a JSON literal where it is one (``NaN``/``Infinity`` stay strings), else ``text``."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, MrekitError, RecursionError):
        return text


def _check_name(name: str, given: str) -> str:
    if not all(_NAME_PART.match(part) for part in name.split(".")):
        raise MrekitError(
            "E183",
            f"{given!r} is not a setting name",
            field=name or given,
            hint="names are words joined by dots, such as training.epochs",
        )
    return name


def _copy_tables(value: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy with every mapping turned into a plain dict."""
    return {str(k): _copy_tables(v) if isinstance(v, Mapping) else copy.deepcopy(v) for k, v in value.items()}
