"""``mrekit train`` with the encoder engine: train a joint model from a config dict.

A config (JSON or TOML file, plus dotted overrides on the command line) holds ``train``,
``dev``, the model settings of :class:`~mrekit.encoder.model.MREModel` (``mode``,
``encoder``, ``use_crf``, ``max_length``, ``levels``, ``encoder_layers``, ``conditioned``,
``cascade``, ...) and a
``training`` table with the fields of :class:`mrekit.trainer.TrainingArguments`::

    train = "snips:train"
    dev = "snips:dev"
    mode = "mre"

    [training]
    epochs = 6
    learning_rate = 2e-4

Benchmark configs may also hold ``test``; training does not read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mrekit.datasets import read_data
from mrekit.encoder.model import MREModel
from mrekit.errors import MrekitError
from mrekit.trainer import TrainingArguments, read_log

#: Model settings a config may hold beside ``train``, ``dev``, ``test`` and ``training``.
MODEL_KEYS = (
    "mode",
    "encoder",
    "use_crf",
    "max_length",
    "levels",
    "encoder_layers",
    "freeze_embeddings",
    "split_cjk",
    "conditioned",
    "condition_content",
    "cascade",
)


def check_config(config: dict[str, Any]) -> tuple[TrainingArguments, MREModel]:
    """Every setting of ``config``, checked before any data is read or any file written.

    Raises:
        MrekitError: ``E183`` naming an unknown key, missing data or a bad value.
    """
    config = {k: v for k, v in config.items() if k != "engine"}
    if "train" not in config:
        raise MrekitError("E183", "no training data: give --train or 'train' in the config", field="train")
    unknown = sorted(set(config) - {"train", "dev", "test", "training", *MODEL_KEYS})
    if unknown:
        raise MrekitError(
            "E183", f"unknown config key(s): {', '.join(unknown)}", hint=f"known: {', '.join(MODEL_KEYS)}"
        )
    args = TrainingArguments.from_dict(config.get("training", {}))
    model = MREModel(**{k: config[k] for k in MODEL_KEYS if k in config})
    return args, model


def train_from_config(
    config: dict[str, Any],
    output: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: Any = None,
) -> dict[str, Any]:
    """Train from a config dict; the best dev epoch goes to ``output/model-best``.

    Returns:
        The log record of the best epoch.

    Example:
        >>> train_from_config({"train": "snips:train", "training": {"epochs": 1}}, "runs/x")  # doctest: +SKIP
    """
    args, model = check_config(config)
    train = read_data(config["train"], field="train")
    dev = read_data(config["dev"], field="dev") if config.get("dev") else None
    model.fit(train, dev, args=args, output_dir=output, resume=resume, overwrite=overwrite, progress=progress)
    return read_log(output)
