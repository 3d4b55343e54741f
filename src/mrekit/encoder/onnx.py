"""Inference backends: PyTorch, or ONNX Runtime (fp32 or dynamically quantised int8).

A backend turns a padded batch into two arrays, text-label probabilities
``(batch, labels)`` and tag scores ``(batch, tokens, tags)``; decoding is shared
(:mod:`mrekit.tags`). ``mrekit export DIR --format onnx [--quantize int8]``
writes ``model.onnx`` / ``model.int8.onnx`` and ``onnx.json`` beside the PyTorch
weights and records their SHA-256 in the folder's manifest; :func:`mrekit.load` uses
them when asked (``backend="onnx"``) or, with ``backend="auto"``, when they are present
and onnxruntime is installed, after checking them against the manifest (``E188``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mrekit.encoder.joint import JointModel
from mrekit.encoder.serialization import WEIGHTS, read_manifest, record_files
from mrekit.errors import MrekitError
from mrekit.integrity import check_regular, read_json, reading, verify_files

INPUTS = ("input_ids", "attention_mask", "real_mask")
OUTPUTS = ("text_probs", "tag_scores")
ONNX_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}


class _Scores(torch.nn.Module):
    """The exported graph: encoder, heads and the MRE interaction, up to the scores."""

    def __init__(self, model: JointModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, real_mask: torch.Tensor):
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "real_mask": real_mask}
        return self.model.scores(batch)


class TorchBackend:
    """Scores with the PyTorch model (in inference mode)."""

    name = "torch"

    def __init__(self, model: JointModel) -> None:
        self.model = model

    def scores(self, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            text, tags = self.model.scores({k: batch[k].to(device) for k in INPUTS})
        if was_training:
            self.model.train()
        return text.float().cpu().numpy(), tags.float().cpu().numpy()


class OnnxBackend:
    """Scores with ONNX Runtime on the CPU."""

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MrekitError("E132", "onnxruntime is not installed", hint="pip install mrekit[onnx]") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        check_regular(path)
        with reading(path, what="the ONNX export"):
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.name = "onnx-int8" if Path(path).name == ONNX_FILES["int8"] else "onnx"

    def scores(self, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        feeds = {k: batch[k].numpy().astype(np.int64) for k in INPUTS}
        text, tags = self.session.run(list(OUTPUTS), feeds)
        return text, tags


def export_onnx(model: JointModel, folder: str | Path, *, quantize: bool = False, opset: int = 17) -> list[Path]:
    """Write ``model.onnx`` (and ``model.int8.onnx`` when ``quantize``) into a model folder.

    The export records the SHA-256 of ``model.safetensors`` in ``onnx.json``, and the
    SHA-256 of each file written in the folder's manifest (rewritten atomically), so an
    export that no longer matches the weights, or a file swapped in from another model,
    is refused at load time.

    Example:
        >>> export_onnx(mrekit.load("runs/snips").model_, "runs/snips/model-best", quantize=True)  # doctest: +SKIP
    """
    folder = Path(folder)
    manifest = read_manifest(folder)  # a saved model folder, before anything is written into it
    model = model.cpu().eval()
    wrapper = _Scores(model)
    example = {
        "input_ids": torch.ones(2, 8, dtype=torch.long),
        "attention_mask": torch.ones(2, 8, dtype=torch.long),
        "real_mask": torch.ones(2, 8, dtype=torch.long),
    }
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    axes.update({"text_probs": {0: "batch"}, "tag_scores": {0: "batch", 1: "tokens"}})
    written = []
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=folder)
    os.close(fd)
    try:
        torch.onnx.export(
            wrapper,
            tuple(example[k] for k in INPUTS),
            tmp,
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
        os.replace(tmp, folder / ONNX_FILES["fp32"])
        written.append(folder / ONNX_FILES["fp32"])
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fd, qtmp = tempfile.mkstemp(suffix=".onnx", dir=folder)
            os.close(fd)
            # Per-channel weight scales: on SNIPS dev the per-tensor default changed
            # 2.4% of outputs against fp32, per-channel 0.4% (bench/results/speed.md).
            quantize_dynamic(str(folder / ONNX_FILES["fp32"]), qtmp, weight_type=QuantType.QInt8, per_channel=True)
            os.replace(qtmp, folder / ONNX_FILES["int8"])
            written.append(folder / ONNX_FILES["int8"])
    finally:
        for leftover in folder.glob("tmp*.onnx"):
            leftover.unlink()
    meta = {"weights_sha256": manifest["files"][WEIGHTS], "opset": opset, "files": [p.name for p in written]}
    (folder / "onnx.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    record_files(folder, [p.name for p in written] + ["onnx.json"])
    return written


def choose_backend(model: JointModel, folder: str | Path, backend: str = "auto", *, threads: int | None = None) -> Any:
    """``torch``, ``onnx``, ``onnx-int8`` or ``auto`` (the best ONNX export present, else torch).

    The chosen export and ``onnx.json`` are checked against the hashes in the manifest
    first: an export that was changed, or copied in from another model, is refused even
    with ``auto`` (never silently replaced by PyTorch).

    Raises:
        MrekitError: ``E181`` when an ONNX backend is asked for but not exported;
            ``E188`` when the export differs from the manifest's record; ``E182`` when
            it was made from other weights.
    """
    folder = Path(folder)
    if backend == "torch":
        return TorchBackend(model)
    wanted = {"onnx": ["fp32"], "onnx-int8": ["int8"], "auto": ["int8", "fp32"]}.get(backend)
    if wanted is None:
        raise MrekitError("E183", f"backend must be torch, onnx, onnx-int8 or auto, not {backend!r}", field="backend")
    meta_path = folder / "onnx.json"
    present = [kind for kind in wanted if (folder / ONNX_FILES[kind]).exists()]
    if backend == "auto":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return TorchBackend(model)
        if not present:
            return TorchBackend(model)
    elif not present:
        raise MrekitError(
            "E181", f"no {backend} export in the model folder", path=folder, hint=f"mrekit export {folder}"
        )
    chosen = ONNX_FILES[present[0]]
    files = read_manifest(folder)["files"]
    if chosen in files and meta_path.name in files:
        verify_files(folder, files, include=lambda name: name in (chosen, meta_path.name), complete=False)
    else:
        unrecorded = chosen if chosen not in files else meta_path.name
        state = "not recorded in mrekit.json (added after saving)" if (folder / unrecorded).exists() else "missing"
        raise MrekitError(
            "E188",
            f"{unrecorded} is {state}: the export is incomplete or not this model's",
            path=folder / unrecorded,
            hint=f"remove it, or export again: mrekit export {folder}",
        )
    meta = read_json(meta_path)
    if not isinstance(meta, dict) or meta.get("weights_sha256") != files[WEIGHTS]:
        raise MrekitError(
            "E182", "the ONNX export does not match model.safetensors", path=meta_path, hint="export again"
        )
    return OnnxBackend(folder / chosen, threads=threads)


def transitions(model: JointModel) -> tuple[np.ndarray, np.ndarray]:
    """The transition and start scores the decoder uses (BIO constraints, plus a CRF's if trained)."""
    with torch.no_grad():
        trans, start = model.crf.scores() if model.crf is not None else (model.bio_trans, model.bio_start)
    return trans.cpu().numpy().astype(np.float64), start.cpu().numpy().astype(np.float64)
