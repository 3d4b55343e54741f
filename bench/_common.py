"""What every benchmark results file shares: the ``_meta`` block (cells come from ``mrekit.metrics.summarize``)."""

from __future__ import annotations

import json
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


def cell_text(cell: dict[str, Any] | None, count: str = "({n})") -> str:
    """A results cell as ``mean ± sd (n)`` in percent ("–" when empty); ``count`` formats n."""
    if not cell or cell.get("mean") is None or not cell.get("n"):
        return "–"
    sd = f" ± {100 * cell['sd']:.1f}" if cell["n"] > 1 else ""
    return f"{100 * cell['mean']:.1f}{sd} {count.format(n=cell['n'])}"


def write_results(name: str, results: dict[str, Any], markdown: str) -> None:
    """``bench/results/<name>.json`` and ``.md``, each replaced atomically (never half-written)."""
    from mrekit.outputs import atomic_file

    for suffix, text in ((".json", json.dumps(results, indent=2, ensure_ascii=False) + "\n"), (".md", markdown)):
        with atomic_file(ROOT / "results" / f"{name}{suffix}", overwrite=True) as fh:
            fh.write(text)
