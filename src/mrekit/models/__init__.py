"""Encoders, heads and the joint MRE model; a saved model is a folder (see :mod:`mrekit.models.serialization`)."""

from __future__ import annotations

from mrekit.models.joint import MODES, JointConfig, JointModel

__all__ = ["MODES", "JointConfig", "JointModel"]
