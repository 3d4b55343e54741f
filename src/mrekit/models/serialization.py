"""A model is a folder: manifest, label maps, encoder config, tokenizer, safetensors weights.

Layout::

    mrekit.json          manifest: format version, library versions, model config, weights hash
    labels.json          text labels, span labels and BIO tags, in index order
    model.safetensors    every weight of the joint model
    encoder/config.json  the encoder's architecture (weights are in model.safetensors)
    tokenizer/           the fast tokenizer's files

The folder is written under a temporary name and renamed when complete; loading
checks the format version and the weights' SHA-256, and never unpickles anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.formats._io import atomic_dir
from mrekit.models.encoder import offline, provenance, sha256_file
from mrekit.models.joint import JointConfig, JointModel

FORMAT = "mrekit-joint-model"
FORMAT_VERSION = 1


def save_model(model: JointModel, tokenizer: Any, folder: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` and ``tokenizer`` to ``folder`` atomically.

    Args:
        model: The joint model.
        tokenizer: Its fast tokenizer.
        folder: Destination; an existing model there is replaced only when the new one is complete.
        extra: More JSON-ready facts for the manifest (training arguments, metrics, ...).
    """
    from safetensors.torch import save_file

    with atomic_dir(folder) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        model.encoder.config.save_pretrained(tmp / "encoder")
        tokenizer.save_pretrained(tmp / "tokenizer")
        config = model.config
        labels = {"text_labels": config.text_labels, "span_labels": config.span_labels, "tags": config.tags}
        (tmp / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=2), encoding="utf-8")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **provenance(),
            "config": config.to_dict(),
            "weights_sha256": sha256_file(tmp / "model.safetensors"),
            **(extra or {}),
        }
        (tmp / "mrekit.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return Path(folder)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and check a model folder's manifest.

    Raises:
        MrekitError: ``E100`` for a missing folder, ``E181`` for a folder that is
            not an mrekit model or comes from an incompatible format version.
    """
    path = Path(folder)
    if not path.is_dir():
        raise MrekitError("E100", "model folder not found", path=path)
    manifest_path = path / "mrekit.json"
    if not manifest_path.exists():
        raise MrekitError(
            "E181", "no mrekit.json: not an mrekit model folder", path=path, hint="train one with mrekit train"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise MrekitError(
            "E181", f"mrekit.json is not valid JSON ({err.msg})", path=manifest_path, line=err.lineno
        ) from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        found = f"{manifest.get('format')} v{manifest.get('format_version')}"
        raise MrekitError(
            "E181",
            f"model format {found} is not {FORMAT} v{FORMAT_VERSION}",
            path=manifest_path,
            hint="retrain the model with this mrekit version",
        )
    return manifest


def load_model(folder: str | Path) -> tuple[JointModel, Any, dict[str, Any]]:
    """Load ``(model, tokenizer, manifest)`` from a folder written by :func:`save_model`.

    Raises:
        MrekitError: ``E181`` for a foreign or incompatible folder, ``E182``
            when ``model.safetensors`` changed after saving.

    Example:
        >>> model, tokenizer, manifest = load_model("runs/snips/model-best")  # doctest: +SKIP
    """
    offline()
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = Path(folder)
    manifest = read_manifest(path)
    weights = path / "model.safetensors"
    if not weights.exists() or sha256_file(weights) != manifest.get("weights_sha256"):
        raise MrekitError(
            "E182",
            "model.safetensors is missing or differs from the hash in mrekit.json",
            path=weights,
            hint="re-save the model",
        )
    config = JointConfig(**manifest["config"])
    encoder = AutoModel.from_config(
        AutoConfig.from_pretrained(path / "encoder", local_files_only=True), add_pooling_layer=False
    )
    model = JointModel(config, encoder)
    missing, unexpected = model.load_state_dict(load_file(str(weights)), strict=False)
    if missing or unexpected:
        raise MrekitError(
            "E181", f"weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})", path=weights
        )
    tokenizer = AutoTokenizer.from_pretrained(path / "tokenizer", local_files_only=True, use_fast=True)
    model.eval()
    return model, tokenizer, manifest
