"""A generative model is a folder: manifest, Hugging Face model (safetensors) and tokenizer.

Layout::

    mrekit.json    manifest: engine "generative", format version, library versions, architecture,
                   output format (format, task word, label set, type set, ...), generation
                   settings, training summary, SHA-256 of every weights file
    model/         save_pretrained(): config.json, generation_config.json, *.safetensors
    tokenizer/     the fast tokenizer's files

The folder is written under a temporary name and renamed when complete
(:func:`mrekit.formats._io.atomic_dir`, as for the encoder model). Loading
checks the manifest and the weights' hashes and reads safetensors only: nothing
is unpickled and nothing is fetched from a hub.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.formats._io import atomic_dir
from mrekit.models.encoder import offline, provenance, sha256_file

FORMAT = "mrekit-generative-model"
FORMAT_VERSION = 1
ENGINE = "generative"
MANIFEST = "mrekit.json"


def model_folder(folder: str | Path) -> Path:
    """The model folder itself, also when given a training output folder holding ``model-best``.

    Example:
        >>> model_folder("runs/none").name
        'none'
    """
    path = Path(folder)
    if not (path / MANIFEST).exists() and (path / "model-best" / MANIFEST).exists():
        return path / "model-best"
    return path


def is_generative_folder(folder: str | Path) -> bool:
    """Whether ``folder`` (or its ``model-best``) holds a manifest naming the generative engine.

    Cheap (reads one small JSON file), so :func:`mrekit.load` can dispatch on it.

    Example:
        >>> is_generative_folder("no/such/folder")
        False
    """
    manifest = model_folder(folder) / MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("engine") == ENGINE


def save_generative(model: Any, tokenizer: Any, folder: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``model``, ``tokenizer`` and the manifest to ``folder`` atomically.

    Args:
        model: A Hugging Face model without adapters (see :func:`~mrekit.generative.modeling.merged`).
        tokenizer: Its tokenizer.
        folder: Destination; an existing model there is replaced only when the new one is complete.
        manifest: Model facts (architecture, output format, generation settings, training summary).

    Example:
        >>> save_generative(model, tokenizer, "runs/gen/model-best", {"architecture": "seq2seq"})  # doctest: +SKIP
    """
    with atomic_dir(folder) as tmp:
        # transformers writes safetensors by default; what it writes is checked below, never assumed.
        model.save_pretrained(tmp / "model")
        tokenizer.save_pretrained(tmp / "tokenizer")
        weights = sorted((tmp / "model").glob("*.safetensors"))
        if not weights:
            raise MrekitError("E201", "save_pretrained wrote no safetensors weights", path=tmp / "model")
        data = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "engine": ENGINE,
            **provenance(),
            **manifest,
            "weights_sha256": {p.name: sha256_file(p) for p in weights},
        }
        (tmp / MANIFEST).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return Path(folder)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and check a generative model folder's manifest.

    Raises:
        MrekitError: ``E100`` for a missing folder; ``E200`` for a folder without a
            manifest, with one that is not valid JSON, of another engine or of an
            incompatible format version.

    Example:
        >>> read_manifest("runs/gen/model-best")["output"]["task"]  # doctest: +SKIP
        'NER'
    """
    path = model_folder(folder)
    if not path.is_dir():
        raise MrekitError("E100", "model folder not found", path=path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise MrekitError(
            "E200", f"no {MANIFEST}: not an mrekit model folder", path=path, hint="train one with mrekit train"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MrekitError("E200", f"{MANIFEST} is not valid JSON ({err})", path=manifest_path) from None
    if not isinstance(manifest, dict) or manifest.get("engine") != ENGINE:
        raise MrekitError("E200", "not a generative model (the manifest names another engine)", path=manifest_path)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        found = f"{manifest.get('format')} v{manifest.get('format_version')}"
        raise MrekitError(
            "E200",
            f"model format {found} is not {FORMAT} v{FORMAT_VERSION}",
            path=manifest_path,
            hint="retrain the model with this mrekit version",
        )
    for key in ("architecture", "output", "generation", "weights_sha256"):
        if key not in manifest:
            raise MrekitError("E200", f"the manifest has no {key!r}", path=manifest_path, field=key)
    return manifest


def load_generative(folder: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """Load ``(model, tokenizer, manifest)`` from a folder written by :func:`save_generative`.

    Raises:
        MrekitError: ``E200`` for a missing or foreign manifest, ``E201`` for missing
            files or weights whose hash differs from the manifest's.

    Example:
        >>> model, tokenizer, manifest = load_generative("runs/gen/model-best")  # doctest: +SKIP
    """
    offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path = model_folder(folder)
    manifest = read_manifest(path)
    _check_weights(path, manifest)
    if not (path / "tokenizer").is_dir():
        raise MrekitError("E201", "the tokenizer folder is missing", path=path / "tokenizer", hint="re-save the model")
    auto = AutoModelForSeq2SeqLM if manifest["architecture"] == "seq2seq" else AutoModelForCausalLM
    try:
        model = auto.from_pretrained(path / "model", local_files_only=True, use_safetensors=True, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path / "tokenizer", local_files_only=True)
    except (OSError, ValueError) as err:
        raise MrekitError("E201", f"the model or tokenizer files cannot be read: {err}", path=path) from None
    model.eval()
    return model, tokenizer, manifest


def _check_weights(path: Path, manifest: dict[str, Any]) -> None:
    expected = manifest["weights_sha256"]
    found = {p.name for p in (path / "model").glob("*.safetensors")} if (path / "model").is_dir() else set()
    if not isinstance(expected, dict) or not expected or found != set(expected):
        raise MrekitError(
            "E201",
            f"weights files {sorted(found)} differ from those in {MANIFEST} ({sorted(expected or [])})",
            path=path / "model",
            hint="re-save the model",
        )
    for name, digest in expected.items():
        if sha256_file(path / "model" / name) != digest:
            raise MrekitError(
                "E201",
                "weights differ from the hash in the manifest",
                path=path / "model" / name,
                hint="re-save the model",
            )
