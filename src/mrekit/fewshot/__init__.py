"""Few-shot text classification with a word-level verbalizer (the empirical MRE study's WLI verbalizer).

A fitted scorer is a model folder like any other (:class:`~mrekit.fewshot.model.FewShotModel`):
importing the package registers the engine as ``fewshot``, so ``mrekit.load`` and
``mrekit serve`` take its folders.
"""

from __future__ import annotations

from mrekit.fewshot.experiment import METHODS, FewShotConfig, run_fewshot, sample_shots
from mrekit.fewshot.model import FewShotModel, train_from_config
from mrekit.fewshot.verbalizers import (
    Verbalizer,
    names_verbalizer,
    read_verbalizer,
    wli_verbalizer,
    write_verbalizer,
)
from mrekit.predictor import register

ENGINE = register(
    "fewshot",
    load=FewShotModel.load,
    train_from_config=train_from_config,
    description="few-shot text classifier: an encoder and one vector per label from a verbalizer",
)

__all__ = [
    "ENGINE",
    "METHODS",
    "FewShotModel",
    "FewShotConfig",
    "Verbalizer",
    "names_verbalizer",
    "read_verbalizer",
    "run_fewshot",
    "sample_shots",
    "wli_verbalizer",
    "write_verbalizer",
]
