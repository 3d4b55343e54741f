"""``mrekit train --engine generative``: train a generative model from a config dict.

A config (JSON or TOML file, or CLI flags) holds ``train``, ``dev``, the model
settings of :class:`~mrekit.generative.engine.GenerativeModel` (``model``,
``format``, ``task``, ``kind``, ``condition``, ``scratch``, ``attr_keys``,
``separator``) and a ``training`` table with the fields of
:class:`~mrekit.generative.training.GenerativeArguments`, e.g.::

    engine = "generative"
    train = "snips:train"
    dev = "snips:dev"
    format = "oiellm"
    task = "NER"
    model = "checkpoints/flan-t5-base"   # leave out to train a small T5 from scratch

    [training]
    epochs = 5
    lora = true
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mrekit.datasets import read_data
from mrekit.errors import MrekitError
from mrekit.generative.engine import GenerativeArguments, GenerativeModel
from mrekit.trainer import read_log

#: Model settings a generative config may hold beside ``engine``, ``train``, ``dev`` and ``training``.
GENERATIVE_KEYS = ("model", "format", "task", "kind", "condition", "scratch", "attr_keys", "separator")


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
        The log record of the best epoch (``epoch``, ``train_loss``, ``dev`` metrics).

    Raises:
        MrekitError: ``E202`` for missing data or unknown keys; ``E189`` when ``resume``
            meets another run's checkpoint.

    Example:
        >>> train_from_config({"train": "snips:train", "training": {"epochs": 1}}, "runs/gen")  # doctest: +SKIP
    """
    if "train" not in config:
        raise MrekitError("E202", "no training data: give --train or 'train' in the config", field="train")
    unknown = sorted(set(config) - {"engine", "train", "dev", "test", "training", *GENERATIVE_KEYS})
    if unknown:
        raise MrekitError(
            "E202",
            f"config key(s) not used by the generative engine: {', '.join(unknown)}",
            hint=f"known: {', '.join(GENERATIVE_KEYS)}",
        )
    args = GenerativeArguments.from_dict(config.get("training", {}))
    train = read_data(config["train"], field="train")
    dev = read_data(config["dev"], field="dev") if config.get("dev") else None
    model = GenerativeModel(**{k: config[k] for k in GENERATIVE_KEYS if k in config})
    model.fit(train, dev, args=args, output_dir=output, resume=resume, overwrite=overwrite, progress=progress)
    return read_log(output)
