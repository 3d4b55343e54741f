"""What every benchmark results file shares: the ``{mean, sd, n}`` cells and the ``_meta`` block."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent


def commit() -> str:
    """Short hash of the checked-out commit ("unknown" outside git)."""
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def run_meta(command: str, **extra: Any) -> dict[str, Any]:
    """``{"command", "commit", "date", "machine", ...extra}`` for a results file."""
    return {
        "command": command,
        "commit": commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        **extra,
    }


def summarize(values: list[float | None]) -> dict[str, Any] | None:
    """A results cell ``{"mean", "sd", "n"}`` over the values that exist (sd 0 for one value), or None."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    sd = statistics.stdev(present) if len(present) > 1 else 0.0
    return {"mean": statistics.fmean(present), "sd": sd, "n": len(present)}
