"""mrekit: joint text-level and word-level information extraction (Mutual Reinforcement Effect)."""

from __future__ import annotations

from mrekit.errors import MrekitError
from mrekit.schema import Event, Example, Relation, Span, validate

__version__ = "0.1.0"

__all__ = ["Event", "Example", "MrekitError", "Relation", "Span", "validate", "__version__"]
