"""The output folder of ``mrekit annotate``: its manifest, what may be replaced, and what resumes.

``OUT/manifest.json`` says which run the folder holds (inputs' paths, sizes and mtimes;
the settings that decide the shards' content; the model's identity) and which shards
are finished (file, documents, size, sha256, first and last id). It is rewritten
atomically after each finished shard, so a kill at any instant leaves a manifest that
lists only shards whose files are whole. The folder's marker (``.mrekit-output.json``)
lists every file a run may have written (a shard's name is added before it is
written), which is what ``overwrite`` may replace.

Example:
    >>> MANIFEST, is_own_name("part-00012.parquet"), is_own_name("notes.txt")
    ('manifest.json', True, False)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.integrity import canonical_sha256, sha256_file
from mrekit.outputs import MARKER, atomic_file, read_marker, write_marker
from mrekit.predictor import read_manifest

#: The manifest of an annotation output folder.
MANIFEST = "manifest.json"
FORMAT = "mrekit-annotate"
FORMAT_VERSION = 1
#: The only names an annotation run writes (besides the marker).
_OWN = re.compile(r"part-\d{5,}\.(jsonl|parquet)|manifest\.json|errors\.jsonl")
#: Temporary files of mrekit's atomic writes (``.NAME.mrekit-PID-….tmp``), never someone else's.
_TEMP = re.compile(r"\..+\.mrekit-\d+.*\.(tmp|old)")


def is_own_name(name: str) -> bool:
    """Whether ``name`` is one an annotation run writes."""
    return _OWN.fullmatch(name) is not None


def mrekit_version() -> str:
    try:
        return package_version("mrekit")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def model_identity(model: str | Path) -> dict[str, Any]:
    """The model's name, folder and version as every row names them, and a fingerprint for ``resume``.

    The fingerprint is the weights' hash from the model's manifest (else the hash of
    its recorded files' hashes, else its folder): resuming with another model is ``E189``.

    Raises:
        MrekitError: ``E100``/``E181`` for a folder that is not a model (see :func:`mrekit.predictor.read_manifest`).
    """
    path, manifest = read_manifest(model)
    path = Path(os.path.abspath(path))
    name = path.parent.name if path.name == "model-best" else path.name
    weights = manifest.get("weights_sha256")
    weights = weights if isinstance(weights, str) else None
    files = manifest.get("files")
    fingerprint = weights or (canonical_sha256(files) if isinstance(files, dict) else f"folder:{path}")
    return {
        "folder": str(path),
        "model": {"name": name, "path": str(path)},
        "model_version": {"mrekit": mrekit_version(), "weights_sha256": weights},
        "fingerprint": fingerprint,
    }


def new_manifest(*, inputs: list[dict], settings: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a run that has just started (no shard finished)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mrekit": mrekit_version(),
        "inputs": inputs,
        "settings": settings,
        "model": {**model["model"], "fingerprint": model["fingerprint"]},
        "model_version": model["model_version"],
        "shards": {},
        "complete": False,
        "documents": 0,
        "errors": 0,
    }


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Put ``manifest`` in place atomically and record it in the folder's marker."""
    with atomic_file(out / MANIFEST, overwrite=True) as fh:
        fh.write(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")
    record_written(out, [MANIFEST])


def record_written(out: Path, names: list[str]) -> None:
    """Add ``names`` to the files the marker says mrekit wrote (before writing them)."""
    write_marker(out, added=names)


def read_run(out: Path) -> dict[str, Any] | None:
    """The manifest of the annotation run in ``out``, or ``None`` if there is none."""
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("shards"), dict):
        return None
    return data


def _foreign(out: Path, written: set[str]) -> list[str]:
    """Entries of ``out`` that mrekit did not write (its marker and temporary files aside)."""
    found = []
    for entry in sorted(out.iterdir()):
        if entry.name == MARKER or _TEMP.fullmatch(entry.name) or entry.name in written:
            continue
        found.append(entry.name + ("/" if entry.is_dir() else ""))
    return found


def _refuse_inputs(out: Path, protected: list[Path]) -> None:
    """``E172`` when ``out`` holds an input, or is, holds or lies in the model folder."""
    here = Path(os.path.realpath(out))
    for item in protected:
        real = Path(os.path.realpath(item))
        if here == real or here in real.parents or (real.is_dir() and real in here.parents):
            raise MrekitError(
                "E172", f"the output folder holds, is or lies in the input {item}", path=out, hint="choose another"
            )


def prepare_output(
    output: str | Path, *, resume: bool, overwrite: bool, protected: list[Path]
) -> tuple[Path, dict[str, Any] | None]:
    """Check what may be written in ``output`` and clear what ``overwrite`` replaces.

    Returns ``(folder, the manifest of the run to resume or None)``. A missing or empty
    folder starts a new run (also with ``resume``).

    Raises:
        MrekitError: ``E183`` for both ``resume`` and ``overwrite``; ``E173`` for a file;
            ``E172`` for a folder holding an input or the model; ``E174`` for a folder
            with files mrekit did not write (or, with ``overwrite``, another kind of mrekit
            output); ``E170`` for an earlier run without ``resume``/``overwrite``;
            ``E184`` for ``resume`` in a folder without an annotation run.
    """
    if resume and overwrite:
        raise MrekitError(
            "E183", "--resume continues the run in the output and --overwrite starts it again: give one", field="resume"
        )
    out = Path(os.path.abspath(output))
    if out.exists() and not out.is_dir():
        raise MrekitError("E173", "the output path is a file; a folder is expected here", path=output)
    _refuse_inputs(out, protected)
    if not out.exists() or not any(out.iterdir()):
        return out, None
    written = read_marker(out)
    if written is None:
        raise MrekitError(
            "E174",
            "the output folder exists and was not written by mrekit; nothing in it is replaced",
            path=output,
            hint="choose a new or empty folder",
        )
    run = read_run(out)
    if resume:
        if run is None:
            raise MrekitError("E184", "the output folder holds no annotation run to resume", path=output)
        clashes = [name for name in _foreign(out, written) if is_own_name(name)]
        if clashes:
            raise MrekitError("E174", f"the output folder holds files mrekit did not write ({clashes[0]})", path=output)
        return out, run
    if not overwrite:
        raise MrekitError(
            "E170",
            "the output folder already exists",
            path=output,
            hint="pass --resume to continue the run in it, or --overwrite to start it again",
        )
    others = sorted(name for name in written if not is_own_name(name))
    foreign = _foreign(out, written)
    if others or foreign:
        shown = ", ".join((others + foreign)[:5])
        what = "another kind of mrekit output" if others else "files mrekit did not write"
        raise MrekitError("E174", f"the output folder holds {what} ({shown}); it is not replaced", path=output)
    for name in sorted(written):
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    (out / MARKER).unlink()
    return out, None


def check_resume(previous: dict[str, Any], current: dict[str, Any], out: Path) -> None:
    """Refuse to resume a run with other inputs, settings or model (``E189``), naming what differs."""
    for key, what in (("inputs", "inputs"), ("settings", "settings"), ("model", "model")):
        before, now = previous.get(key), current.get(key)
        if key == "model":
            before = (before or {}).get("fingerprint")
            now = now["fingerprint"]
        if before != now:
            raise MrekitError(
                "E189",
                f"the {what} differ from those of the run in the output folder ({_difference(key, before, now)})",
                path=out / MANIFEST,
                hint="resume with the same inputs, settings and model, or pass --overwrite to start again",
            )


def _difference(key: str, before: Any, now: Any) -> str:
    if key == "inputs" and isinstance(before, list) and isinstance(now, list):
        old = {i.get("path"): i for i in before if isinstance(i, dict)}
        new = {i["path"]: i for i in now}
        for path in sorted(set(old) | set(new)):
            if path not in old:
                return f"new input {path}"
            if path not in new:
                return f"missing input {path}"
            if old[path] != new[path]:
                return f"{path} changed (size or modification time)"
        return "the order of the inputs"
    if key == "settings" and isinstance(before, dict):
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        return ", ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
    return "another model" if key == "model" else f"{before!r} -> {now!r}"


def finished_shards(out: Path, run: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The shards of ``run`` whose files are in place and unchanged (size and sha256), by index."""
    good: dict[int, dict[str, Any]] = {}
    for key, entry in run["shards"].items():
        if not (isinstance(entry, dict) and key.isdigit() and isinstance(entry.get("name"), str)):
            continue
        path = out / entry["name"]
        try:
            same = path.stat().st_size == entry.get("bytes") and sha256_file(path) == entry.get("sha256")
        except OSError:
            same = False
        if same:
            good[int(key)] = entry
    return good


def shard_key(index: int) -> str:
    """The manifest's key of shard ``index``."""
    return f"{index:05d}"
