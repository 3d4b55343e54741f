"""Few-shot text classification with a word-level verbalizer (the empirical MRE study's WLI verbalizer)."""

from __future__ import annotations

from mrekit.fewshot.experiment import METHODS, FewShotConfig, run_fewshot, sample_shots
from mrekit.fewshot.verbalizers import (
    Verbalizer,
    names_verbalizer,
    read_verbalizer,
    wli_verbalizer,
    write_verbalizer,
)

__all__ = [
    "METHODS",
    "FewShotConfig",
    "Verbalizer",
    "names_verbalizer",
    "read_verbalizer",
    "run_fewshot",
    "sample_shots",
    "wli_verbalizer",
    "write_verbalizer",
]
