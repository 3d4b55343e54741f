"""The run folder a training run owns: refusing an earlier run, discarding it, a missing checkpoint.

A run folder holds ``model-best/``, ``checkpoint/`` and ``metrics.jsonl``; only these, and only
when mrekit wrote them (``E174`` otherwise), are ever removed or replaced.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from mrekit.errors import MrekitError
from mrekit.outputs import check_output_dir, check_output_file


def remove_checkpoint(out: Path) -> None:
    """Remove ``out/checkpoint`` in one rename (never half deleted), if it is there."""
    checkpoint = out / "checkpoint"
    if checkpoint.exists():
        check_output_dir(checkpoint, overwrite=True)
        aside = out / f".checkpoint.mrekit-{os.getpid()}-discarded.tmp"
        os.replace(checkpoint, aside)
        shutil.rmtree(aside, ignore_errors=True)


def no_checkpoint(folder: Path) -> MrekitError:
    """``E184`` for a missing checkpoint; it says so when the run in the folder had finished."""
    try:
        last = json.loads((folder.parent / "metrics.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    except (OSError, ValueError, IndexError):
        last = {}
    if isinstance(last, dict) and last.get("finished"):
        return MrekitError(
            "E184",
            f"no checkpoint to resume from: the run finished ({last['finished']}, best epoch "
            f"{last.get('best_epoch')}) and its checkpoint was removed",
            path=folder,
            hint="the model is in model-best/; to train again use --overwrite "
            "(--keep-checkpoint keeps the checkpoint of a finished run)",
        )
    return MrekitError("E184", "no checkpoint to resume from", path=folder, hint="start without --resume")


RUN_FILES = ("model-best", "checkpoint", "metrics.jsonl")


def refuse_earlier_run(out: Path, *, overwrite: bool) -> None:
    """``E170`` when ``out`` holds an earlier run and the caller did not ask to start it again.

    Example:
        >>> refuse_earlier_run(Path("no-such-run"), overwrite=False)
    """
    found = [name for name in RUN_FILES if (out / name).exists()]
    if found and not overwrite:
        raise MrekitError(
            "E170",
            f"the output folder holds an earlier run ({', '.join(found)}); nothing in it was changed",
            path=out,
            hint="pass overwrite=True (mrekit train --overwrite) to start it again, resume=True (--resume) "
            "to continue it, or name a new folder",
        )


def start_fresh(out: Path) -> None:
    """Discard the checkpoint and log of an earlier run in ``out``: they belong to another run.

    Only mrekit's own files go (``E174`` for a ``checkpoint``/``model-best`` folder
    that mrekit did not write); ``model-best`` stays until the new run replaces it.
    """
    check_output_dir(out / "model-best", overwrite=True)
    remove_checkpoint(out)
    log = out / "metrics.jsonl"
    check_output_file(log, overwrite=True)
    log.unlink(missing_ok=True)
