"""Inference backends: PyTorch, or ONNX Runtime (fp32 or dynamically quantised int8).

A backend turns a padded batch into the arrays named by ``JointConfig.outputs``:
text-label probabilities ``(batch, labels)``, tag scores ``(batch, tokens, tags)`` and,
for a model with attributes, span-attribute logits ``(batch, tokens, values)`` and
label-attribute logits ``(batch, labels, values)``; decoding is shared
(:mod:`mrekit.tags`, :mod:`mrekit.encoder.attributes`). ``mrekit export DIR --format onnx [--quantize int8]``
writes ``model.onnx`` / ``model.int8.onnx`` and ``onnx.json`` beside the PyTorch
weights and records their SHA-256 in the folder's manifest; :func:`mrekit.load` uses
them when asked (``backend="onnx"`` / ``"onnx-int8"``); the default ``backend="auto"`` is
the exact model: ``model.onnx`` when present and onnxruntime is installed, else PyTorch
(never the int8 export, whose outputs differ slightly). Exports are checked against the
manifest before use (``E188``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mrekit.encoder.backbone import architecture_name
from mrekit.encoder.joint import JointModel
from mrekit.encoder.serialization import WEIGHTS, read_manifest, record_files
from mrekit.errors import MrekitError
from mrekit.integrity import check_regular, read_json, reading, verify_files

INPUTS = ("input_ids", "attention_mask", "real_mask")
ONNX_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}

logger = logging.getLogger(__name__)


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

    def scores(self, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, ...]:
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            arrays = self.model.scores({k: batch[k].to(device) for k in INPUTS})
        if was_training:
            self.model.train()
        return tuple(a.float().cpu().numpy() for a in arrays)


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
        # The exporter drops an input the graph never reads (``real_mask`` of a model without
        # the mre interaction): feed exactly the inputs the graph declares.
        self.inputs = [node.name for node in self.session.get_inputs() if node.name in INPUTS]
        self.outputs = [node.name for node in self.session.get_outputs()]

    def scores(self, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, ...]:
        feeds = {k: batch[k].numpy().astype(np.int64) for k in self.inputs}
        return tuple(self.session.run(self.outputs, feeds))


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
    axes.update({"span_attr_logits": {0: "batch", 1: "tokens"}, "label_attr_logits": {0: "batch"}})
    axes.update({"token_states": {0: "batch", 1: "tokens"}, "pair_context": {0: "batch"}})
    axes = {name: value for name, value in axes.items() if name in INPUTS or name in model.config.outputs}
    written = []
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=folder)
    os.close(fd)
    try:
        _trace(wrapper, example, tmp, axes, opset, folder)
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


def _trace(wrapper: _Scores, example: dict[str, torch.Tensor], path: str, axes: dict, opset: int, folder: Path) -> None:
    """Trace the scores graph into ``path``; ``E192`` naming the architecture when it cannot be exported."""
    try:
        torch.onnx.export(
            wrapper,
            tuple(example[k] for k in INPUTS),
            path,
            input_names=list(INPUTS),
            output_names=list(wrapper.model.config.outputs),
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    except Exception as err:  # noqa: BLE001 - the exporter raises anything an architecture's code trips on
        kind = architecture_name(wrapper.model.encoder.config)
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise MrekitError(
            "E192",
            f"the {kind} encoder cannot be exported to ONNX ({type(err).__name__}: {detail})",
            path=folder,
            hint="keep the PyTorch backend (backend='torch', the default without an export)",
        ) from None


def choose_backend(model: JointModel, folder: str | Path, backend: str = "auto", *, threads: int | None = None) -> Any:
    """``torch``, ``onnx``, ``onnx-int8`` or ``auto``: the fp32 ONNX export when present, else torch.

    ``auto`` gives the exact model: fp32 ONNX Runtime where an export and onnxruntime are
    present (the same outputs as PyTorch), else PyTorch. The int8 export gives slightly
    different outputs and is used only when asked for (``onnx-int8``). The chosen
    backend's name is logged at INFO.

    Every export file present is checked against the hashes in the manifest first (with
    ``auto`` too, even one that is not used): an export that was changed, or copied in
    from another model, is refused, never silently replaced by PyTorch.

    Raises:
        MrekitError: ``E181`` when an ONNX backend is asked for but not exported;
            ``E188`` when an export differs from the manifest's record; ``E182`` when
            it was made from other weights; ``E183`` for an unknown backend.
    """
    folder = Path(folder)
    if backend == "torch":
        return _chosen(TorchBackend(model), folder)
    kinds = {"onnx": "fp32", "onnx-int8": "int8", "auto": "fp32"}
    if backend not in kinds:
        raise MrekitError("E183", f"backend must be torch, onnx, onnx-int8 or auto, not {backend!r}", field="backend")
    wanted = ONNX_FILES[kinds[backend]]
    present = [name for name in ONNX_FILES.values() if (folder / name).exists()]
    if backend == "auto":
        if not present:
            return _chosen(TorchBackend(model), folder)
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return _chosen(TorchBackend(model), folder)
        _check_exports(folder, present)
        if wanted not in present:  # only an int8 export: not the exact model
            return _chosen(TorchBackend(model), folder)
    elif wanted not in present:
        raise MrekitError(
            "E181", f"no {backend} export in the model folder", path=folder, hint=f"mrekit export {folder}"
        )
    else:
        _check_exports(folder, [wanted])
    return _chosen(OnnxBackend(folder / wanted, threads=threads), folder)


def _chosen(backend: Any, folder: Path) -> Any:
    logger.info("model %s runs on the %s backend", folder, backend.name)
    return backend


def _check_exports(folder: Path, names: list[str]) -> None:
    """``E188``/``E182`` unless ``names`` and ``onnx.json`` are this model's, as recorded in its manifest."""
    meta_path = folder / "onnx.json"
    files = read_manifest(folder)["files"]
    for name in [*names, meta_path.name]:
        if name not in files:
            state = "not recorded in mrekit.json (added after saving)" if (folder / name).exists() else "missing"
            raise MrekitError(
                "E188",
                f"{name} is {state}: the export is incomplete or not this model's",
                path=folder / name,
                hint=f"remove it, or export again: mrekit export {folder}",
            )
    checked = {*names, meta_path.name}
    verify_files(folder, files, include=lambda name: name in checked, complete=False)
    meta = read_json(meta_path)
    if not isinstance(meta, dict) or meta.get("weights_sha256") != files[WEIGHTS]:
        raise MrekitError(
            "E182", "the ONNX export does not match model.safetensors", path=meta_path, hint="export again"
        )


def transitions(model: JointModel) -> tuple[np.ndarray, np.ndarray]:
    """The transition and start scores the decoder uses (BIO constraints, plus a CRF's if trained)."""
    with torch.no_grad():
        trans, start = model.crf.scores() if model.crf is not None else (model.bio_trans, model.bio_start)
    return trans.cpu().numpy().astype(np.float64), start.cpu().numpy().astype(np.float64)
