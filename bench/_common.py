"""What every benchmark results file shares: the ``_meta`` block (cells come from ``mrekit.metrics.summarize``)."""

from __future__ import annotations

import os
import platform
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
