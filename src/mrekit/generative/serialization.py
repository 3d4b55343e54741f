"""A generative model is a folder: manifest, Hugging Face model (safetensors) and tokenizer.

Layout::

    mrekit.json    manifest: engine "generative", format version, library versions, architecture,
                   output format (format, task word, label set, type set, ...), generation
                   settings, training summary, SHA-256 of every other file ("files") and of
                   the settings that shape predictions ("config_sha256")
    model/         save_pretrained(): config.json, generation_config.json, *.safetensors
    tokenizer/     the fast tokenizer's files
    README.md      the model card (:mod:`mrekit.modelcard`), hashed like every other file

The folder is written under a temporary name and renamed when complete
(:func:`mrekit.outputs.atomic_dir`, as for the encoder model). Loading checks
the manifest, refuses a folder that asks to run its own code (``E185``), checks
every file's hash and refuses files added after saving (``E201``), vets the model
configuration (``E187``) and reads safetensors only with ``trust_remote_code=False``:
nothing is unpickled, no shipped code runs and nothing is fetched from a hub.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    verify_files,
)
from mrekit.modelcard import CARD, card_fields, encoder_licence, render_card
from mrekit.outputs import atomic_dir
from mrekit.predictor import check_format, model_folder
from mrekit.predictor import read_manifest as read_manifest_file
from mrekit.runtime import offline, provenance

FORMAT = "mrekit-generative-model"
#: 2: the manifest records every file's hash ("files") and the settings' ("config_sha256").
FORMAT_VERSION = 2
ENGINE = "generative"
MANIFEST = "mrekit.json"
#: Manifest fields that shape predictions, covered by "config_sha256".
SETTINGS = ("architecture", "output", "generation")


def save_generative(
    model: Any,
    tokenizer: Any,
    folder: str | Path,
    manifest: dict[str, Any],
    *,
    overwrite: bool = False,
    metrics: dict[str, Any] | None = None,
    data_licence: str | None = None,
) -> Path:
    """Write ``model``, ``tokenizer``, the manifest and the model card (``README.md``) atomically.

    Args:
        model: A Hugging Face model without adapters (see :func:`~mrekit.generative.modeling.merged`).
        tokenizer: Its tokenizer.
        folder: Destination; an existing model there is replaced only when the new one is complete.
        manifest: Model facts (architecture, output format, generation settings, training summary).
        overwrite: Replace an earlier mrekit model at ``folder`` (else ``E170``).
        metrics: Test metrics for the card (:func:`mrekit.metrics.evaluate`, with ``ci``).
        data_licence: The training data's licence, for the card (default: unknown).

    Example:
        >>> save_generative(model, tokenizer, "runs/gen/model-best", {"architecture": "seq2seq"})  # doctest: +SKIP
    """
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        # transformers writes safetensors by default; what it writes is checked below, never assumed.
        model.save_pretrained(tmp / "model")
        tokenizer.save_pretrained(tmp / "tokenizer")
        weights = sorted((tmp / "model").glob("*.safetensors"))
        if not weights:
            raise MrekitError("E201", "save_pretrained wrote no safetensors weights", path=tmp / "model")
        data = json.loads(json.dumps({**manifest}))  # the form it is read back in
        data = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "engine": ENGINE,
            **provenance(),
            **card_fields(encoder=_base_licence(data), data=data_licence),
            **data,
            "config_sha256": canonical_sha256({key: data.get(key) for key in SETTINGS}),
        }
        output = data.get("output") if isinstance(data.get("output"), dict) else {}
        card = render_card(
            data, labels=output.get("labels") or [], span_types=output.get("types") or [], metrics=metrics
        )
        # The card is hashed with the other files: it changes no prediction, but an edited card is tampering.
        (tmp / CARD).write_text(card, encoding="utf-8")
        files = hash_folder(tmp, skip=(MANIFEST,))
        data.update(weights_sha256={p.name: files[f"model/{p.name}"] for p in weights}, files=files)
        (tmp / MANIFEST).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return Path(folder)


def _base_licence(manifest: dict[str, Any]) -> str:
    """The licence of the model fine-tuned: a local folder's (read from it), unknown for one trained from scratch."""
    base = manifest.get("base_model")
    if not base or base == "scratch":
        return "none (trained from scratch)"
    return encoder_licence(base)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and check a generative model folder's manifest.

    Raises:
        MrekitError: ``E100`` for a missing folder; ``E200`` for a folder without a
            manifest, with one that is not valid JSON, not an object, of another engine,
            of an incompatible format version, or with missing or mistyped fields.

    Example:
        >>> read_manifest("runs/gen/model-best")["output"]["task"]  # doctest: +SKIP
        'NER'
    """
    path, manifest = read_manifest_file(folder, code="E200")
    manifest_path = path / MANIFEST
    if manifest.get("engine") != ENGINE:
        raise MrekitError("E200", "not a generative model (the manifest names another engine)", path=manifest_path)
    check_format(manifest, manifest_path, format=FORMAT, version=FORMAT_VERSION, code="E200")
    kinds = {"architecture": str, "output": dict, "generation": dict, "config_sha256": str, "files": dict}
    for key, kind in kinds.items():
        if not isinstance(manifest.get(key), kind):
            what = "no" if key not in manifest else f"a {type(manifest[key]).__name__} as"
            raise MrekitError("E200", f"the manifest has {what} {key!r}", path=manifest_path, field=key)
    if manifest["architecture"] not in ("seq2seq", "causal"):
        raise MrekitError(
            "E200", f"unknown architecture {manifest['architecture']!r}", path=manifest_path, field="architecture"
        )
    files = check_file_map(manifest["files"], manifest_path, code="E200")
    if "model/config.json" not in files or not any(_is_weights(name) for name in files):
        raise MrekitError(
            "E200", "the manifest records no model/config.json or safetensors weights", path=manifest_path
        )
    return manifest


def _is_weights(name: str) -> bool:
    return name.startswith("model/") and name.endswith(".safetensors")


def load_generative(folder: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """Load ``(model, tokenizer, manifest)`` from a folder written by :func:`save_generative`.

    Raises:
        MrekitError: ``E200`` for a missing or foreign manifest; ``E185`` when the folder
            asks to run its own code; ``E201`` for missing, added or changed files (weights,
            tokenizer, configuration, the manifest's settings); ``E187`` for special or
            oversized files and configurations of absurd size.

    Example:
        >>> model, tokenizer, manifest = load_generative("runs/gen/model-best")  # doctest: +SKIP
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path = model_folder(folder)
    manifest = read_manifest(path)
    if not (path / "tokenizer").is_dir():
        raise MrekitError("E201", "the tokenizer folder is missing", path=path / "tokenizer", hint="re-save the model")
    check_no_remote_code(path / "model")
    check_no_remote_code(path / "tokenizer")
    files = manifest["files"]
    verify_files(path, files, skip=(MANIFEST,), code="E201")
    if canonical_sha256({key: manifest.get(key) for key in SETTINGS}) != manifest["config_sha256"]:
        raise MrekitError(
            "E201",
            f"the settings in {MANIFEST} ({', '.join(SETTINGS)}) differ from their recorded hash "
            "(changed after saving)",
            path=path / MANIFEST,
            hint="re-save the model",
        )
    weights_bytes = sum(check_regular(path / name) for name in files if _is_weights(name))
    config_path = path / "model" / "config.json"
    check_config(read_json(config_path, code="E201"), config_path, weights_bytes=weights_bytes)
    auto = AutoModelForSeq2SeqLM if manifest["architecture"] == "seq2seq" else AutoModelForCausalLM
    with offline(), reading(path, code="E201", what="the model or tokenizer files"):
        model = auto.from_pretrained(
            path / "model", local_files_only=True, use_safetensors=True, trust_remote_code=False, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(path / "tokenizer", local_files_only=True, trust_remote_code=False)
    model.eval()
    return model, tokenizer, manifest
