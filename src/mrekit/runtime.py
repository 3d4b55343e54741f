"""What both engines and the trainer need from the machine: devices, seeds, batching, provenance.

Engine-neutral: nothing here knows a model. Loads of Hugging Face files run inside
:func:`offline`, which quiets ``transformers`` for their duration only; no code path can
reach a model hub because every loader passes ``local_files_only=True``.
"""

from __future__ import annotations

import contextlib
import platform
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _package_version
from typing import Any

import numpy as np
import torch

from mrekit.errors import MrekitError


def _version(package: str) -> str:
    try:
        return _package_version(package)
    except PackageNotFoundError:
        return "unknown"


def pick_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is ``E183``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MrekitError("E183", f"device {name} is not available here", field="device", hint="use auto or cpu")
    return device


def device_name(setting: str) -> str:
    """What ``setting`` trains on, for run records: the GPU's name or ``cpu``.

    Example:
        >>> device_name("cpu")
        'cpu'
    """
    device = pick_device(setting)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def bucketed_batches(lengths: Sequence[int], batch_size: int, *, seed: int | None, window: int = 50) -> list[list[int]]:
    """Group indices into batches of similar length, to waste little compute on padding.

    With a seed, indices are shuffled, sorted by length inside windows of
    ``window`` batches, and the batches shuffled; the same seed gives the same
    batches (which is what makes resuming exact). Without a seed, indices are
    sorted by length (for prediction).

    Example:
        >>> bucketed_batches([5, 1, 3, 2], 2, seed=None)
        [[1, 3], [2, 0]]
    """
    order = list(range(len(lengths)))
    if seed is None:
        order.sort(key=lambda i: lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = random.Random(seed)
    rng.shuffle(order)
    chunk = batch_size * window
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """Quiet ``transformers`` while mrekit loads local files, then restore what the user had.

    Hub access is excluded by every loader itself (``local_files_only=True``,
    ``trust_remote_code=False``, safetensors only), not by this context: the process's
    environment (``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``) is never changed, and
    transformers' verbosity and progress bars are set back on leaving, so a program that
    uses ``transformers`` beside mrekit keeps its own configuration.

    Example:
        >>> from transformers.utils import logging as hf_logging
        >>> before = hf_logging.get_verbosity()
        >>> with offline():
        ...     hf_logging.get_verbosity() == hf_logging.ERROR
        True
        >>> hf_logging.get_verbosity() == before
        True
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    # Weight-loading bars and notices are noise inside mrekit's own progress display.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def provenance() -> dict[str, Any]:
    """Library versions, time and machine for a model manifest, so a folder says what wrote it.

    Example:
        >>> sorted(provenance())
        ['created', 'machine', 'versions']
    """
    import transformers

    return {
        "versions": {
            "mrekit": _version("mrekit"),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(),
    }
