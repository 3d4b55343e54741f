"""Decision thresholds of a multi-label text head, tuned on dev after training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mrekit.schema import Example

if TYPE_CHECKING:
    from mrekit.encoder.model import MREModel


def tune_thresholds(model: MREModel, dev: Sequence[Example]) -> list[float]:
    """Per-label thresholds that maximise each label's F1 on dev (0.5 if the label is absent)."""
    probs = model.predict_proba([ex.text for ex in dev])
    gold = np.array([[label in ex.labels for label in model.labels_] for ex in dev])
    grid = np.linspace(0.05, 0.95, 19)
    thresholds = []
    for j in range(len(model.labels_)):
        if not gold[:, j].any():
            thresholds.append(0.5)
            continue
        pred = probs[:, j][None, :] >= grid[:, None]
        tp = (pred & gold[:, j]).sum(axis=1)
        f1 = 2 * tp / (pred.sum(axis=1) + gold[:, j].sum())
        thresholds.append(float(grid[int(f1.argmax())]))
    return thresholds
