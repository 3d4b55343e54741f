"""Conditioned and cascade training for the joint encoder model.

``conditioned=p``: besides every plain training text, with probability ``p`` per example and
direction, a copy whose input carries the other level (see :mod:`mrekit.conditioning`); the
test input stays plain, so inference costs nothing more. ``cascade=True``: the model is
trained the same way, but half the conditioned copies carry *predicted* information,
cross-fitted (each fold's predictions come from a model trained on the other folds), and at
test time it conditions on its own first-pass predictions (:func:`~mrekit.conditioning.cascade_predict`).

Dev selection during training scores plain (single-pass) predictions for every setting: the
epoch loop stays the same, and a cascade's second pass reads inputs it was trained on.
The cross-fitted fold models are trained with the run's own arguments and dev set, in a
temporary folder that is removed afterwards; they cost about one more training run.

Example:
    >>> from mrekit.schema import Example, Span
    >>> train = [Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])]
    >>> [ex.text for ex in with_conditioned_copies(train, 1.0, "gold", seed=0)]
    ['play muse', 'PlayMusic | play muse', 'play muse | artist muse']
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mrekit.conditioning import CONTENTS, conditioned_copies
from mrekit.errors import MrekitError
from mrekit.schema import Example

logger = logging.getLogger(__name__)

#: Folds of the cross-fitted first-pass predictions that cascade training learns from.
CASCADE_FOLDS = 2


def check_conditioning(conditioned: Any, content: Any, cascade: Any) -> None:
    """``E183`` for a conditioning setting of the wrong type or out of range.

    Example:
        >>> check_conditioning(0.5, "gold", False)
        >>> check_conditioning(0.0, "gold", True)
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E183] field 'cascade': cascade needs conditioned training (conditioned > 0)...
    """
    number = isinstance(conditioned, (int, float)) and not isinstance(conditioned, bool)
    if not number or not 0.0 <= float(conditioned) <= 1.0:
        what = f"conditioned must be a probability in [0, 1], not {conditioned!r}"
        raise MrekitError("E183", what, field="conditioned")
    choices = tuple(c for c in CONTENTS if c != "predicted")
    if content not in choices:
        raise MrekitError(
            "E183", f"condition_content must be one of {', '.join(choices)}, not {content!r}", field="condition_content"
        )
    if not isinstance(cascade, bool):
        raise MrekitError("E183", f"cascade must be true or false, not {cascade!r}", field="cascade")
    if cascade and not conditioned:
        raise MrekitError(
            "E183",
            "cascade needs conditioned training (conditioned > 0): the model must have seen conditioned inputs",
            field="cascade",
            hint="set conditioned = 0.5",
        )


def with_conditioned_copies(
    train: Sequence[Example],
    probability: float,
    content: str,
    *,
    seed: int,
    predictions: Sequence[Example] | None = None,
) -> list[Example]:
    """``train`` followed by its conditioned copies (logged: how many of each direction)."""
    copies = conditioned_copies(train, probability, content=content, seed=seed, predictions=predictions)
    if copies:
        to_word = sum(c.meta["conditioned"] == "text_to_word" for c in copies)
        logger.info(
            "conditioned training: %d plain texts + %d text→word and %d word→text copies (%s content%s)",
            len(train),
            to_word,
            len(copies) - to_word,
            content,
            ", half predicted" if predictions is not None else "",
        )
    return [*train, *copies]


def crossfit_predictions(
    make_model: Callable[[], Any],
    train: Sequence[Example],
    dev: Sequence[Example] | None,
    args: Any,
    *,
    folds: int = CASCADE_FOLDS,
    progress: Any = None,
) -> list[Example]:
    """Every training text predicted by a plain model that did not train on it.

    Args:
        make_model: A fresh, unfitted plain model (``fit``/``predict``).
        train: The training examples (their order is kept in the output).
        dev: Selection data for the fold models.
        args: Training arguments of the fold models (the run's own).
        folds: Interleaved folds: example ``i`` is in fold ``i % folds``.
        progress: Passed on to each fold's ``fit``.

    Returns:
        One prediction per training example, in order.
    """
    train = list(train)
    predictions: list[Example | None] = [None] * len(train)
    with tempfile.TemporaryDirectory(prefix="mrekit-crossfit-") as tmp:
        for fold in range(folds):
            held = [i for i in range(len(train)) if i % folds == fold]
            rest = [ex for i, ex in enumerate(train) if i % folds != fold]
            logger.info("cascade: fold %d/%d, %d texts to train, %d to predict", fold + 1, folds, len(rest), len(held))
            model = make_model().fit(rest, dev, args=args, output_dir=Path(tmp) / f"fold{fold}", progress=progress)
            for i, pred in zip(held, model.predict([train[i].text for i in held]), strict=True):
                predictions[i] = pred
    return [p for p in predictions if p is not None]
