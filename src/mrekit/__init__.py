"""mrekit: joint text-level and word-level information extraction (Mutual Reinforcement Effect)."""

from __future__ import annotations

from mrekit.errors import MrekitError
from mrekit.schema import Event, Example, Relation, Span, validate

__version__ = "0.1.0"

__all__ = ["Event", "Example", "MREModel", "MrekitError", "Relation", "Span", "TrainingArguments", "load", "validate"]


def __getattr__(name: str):
    # The model API pulls in torch; import it only when it is used.
    if name in ("MREModel", "load"):
        from mrekit import pipeline

        return getattr(pipeline, name)
    if name == "TrainingArguments":
        from mrekit.training import TrainingArguments

        return TrainingArguments
    raise AttributeError(f"module 'mrekit' has no attribute {name!r}")
