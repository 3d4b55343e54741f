"""The encoder engine: one transformer encoder, a text head and a BIO tag head (modes isolated/shared/mre).

Modules, one concern each:

* :mod:`~mrekit.encoder.backbone`: the bundled MiniLM (hash-pinned) or a local encoder folder; tiny test encoders.
* :mod:`~mrekit.encoder.features`: label spaces, subword features from character offsets, batches.
* :mod:`~mrekit.encoder.heads`, :mod:`~mrekit.encoder.joint`: the heads and the joint model.
* :mod:`~mrekit.encoder.inference`: scores -> Viterbi -> examples with character offsets.
* :mod:`~mrekit.encoder.onnx`: the PyTorch and ONNX Runtime backends and the export.
* :mod:`~mrekit.encoder.serialization`: the model folder (manifest, safetensors, tokenizer).
* :mod:`~mrekit.encoder.checks`: truncation counts, position limits, the levels a model learns.
* :mod:`~mrekit.encoder.training`: the engine's hooks into :class:`mrekit.trainer.Trainer`.
* :mod:`~mrekit.encoder.model`: :class:`MREModel`, the fit/predict/save/load API.
* :mod:`~mrekit.encoder.recipe`: ``mrekit train`` configs.

Importing the package registers the engine as ``encoder`` (:func:`mrekit.predictor.register`).
"""

from __future__ import annotations

from mrekit.encoder.joint import MODES, JointConfig, JointModel
from mrekit.encoder.model import MREModel
from mrekit.encoder.recipe import train_from_config
from mrekit.encoder.thresholds import tune_thresholds
from mrekit.predictor import register

ENGINE = register(
    "encoder",
    load=MREModel.load,
    train_from_config=train_from_config,
    description="joint encoder model (text head + BIO tag head; modes isolated, shared, mre)",
)

__all__ = ["ENGINE", "MODES", "JointConfig", "JointModel", "MREModel", "tune_thresholds"]
