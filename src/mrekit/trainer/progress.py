"""Progress of a training run as plain lines and events, for logs that are not a terminal.

Every optimisation step makes an event ``{"epoch", "epochs", "step", "total", "loss",
"steps_per_second", "eta_seconds", "elapsed_seconds"}`` (``step`` counts from the
start of the run, ``loss`` is the mean of the last 50 steps) for a callback; a plain
line goes to the :data:`PROGRESS_LOGGER` logger at ``INFO`` every :data:`EVERY_SECONDS`
seconds, at each tenth of the run and at its last step::

    epoch 3/19 step 120/608 (20%): loss 0.4321, 2.10 steps/s, ETA 3m52s

The run's budget line and one line per finished epoch go to the same logger when no
rich progress display is given. ``logging.basicConfig(level=logging.INFO)`` shows them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

#: The logger of progress lines (a child of ``mrekit.trainer``).
PROGRESS_LOGGER = "mrekit.trainer.progress"

#: A plain line at least this often (seconds).
EVERY_SECONDS = 30.0

#: A plain line at each 1/MARKS of the run's steps.
MARKS = 10

logger = logging.getLogger(PROGRESS_LOGGER)


def format_seconds(seconds: float) -> str:
    """Seconds as ``1h02m``, ``3m05s`` or ``42s``.

    Example:
        >>> format_seconds(42.4), format_seconds(185), format_seconds(3720)
        ('42s', '3m05s', '1h02m')
    """
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def progress_line(event: dict[str, Any]) -> str:
    """The plain line of a step event.

    Example:
        >>> progress_line({"epoch": 3, "epochs": 19, "step": 120, "total": 608, "loss": 0.43214,
        ...                "steps_per_second": 2.1, "eta_seconds": 232.4})
        'epoch 3/19 step 120/608 (20%): loss 0.4321, 2.10 steps/s, ETA 3m52s'
    """
    share = event["step"] / max(1, event["total"])
    return (
        f"epoch {event['epoch']}/{event['epochs']} step {event['step']}/{event['total']} ({share:.0%}): "
        f"loss {event['loss']:.4f}, {event['steps_per_second']:.2f} steps/s, ETA {format_seconds(event['eta_seconds'])}"
    )


class StepReporter:
    """Turns optimisation steps into events (for ``callback``) and throttled plain log lines.

    Args:
        total: Optimisation steps of the whole run.
        epochs: Epochs of the run.
        start_step: Steps already made (a resumed run); speed counts from here.
        callback: Called with each step's event.
        every_seconds: A plain line at least this often.
        marks: A plain line at each ``1/marks`` of ``total``.
        clock: Seconds, monotonic (tests pass a fake one).

    Example:
        >>> ticks = iter(range(0, 100, 5))
        >>> reporter = StepReporter(4, 1, clock=lambda: next(ticks), marks=2)
        >>> [reporter.step(1, s, 0.5)["eta_seconds"] for s in (1, 2)]
        [15.0, 10.0]
        >>> reporter.lines
        1
    """

    def __init__(
        self,
        total: int,
        epochs: int,
        *,
        start_step: int = 0,
        callback: Callable[[dict[str, Any]], None] | None = None,
        every_seconds: float = EVERY_SECONDS,
        marks: int = MARKS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.epochs, self.start_step = total, epochs, start_step
        self.callback, self.every_seconds, self.marks, self.clock = callback, every_seconds, marks, clock
        self.started = self.last_line = clock()
        self.last_mark = self._mark(start_step)
        self.lines = 0

    def _mark(self, step: int) -> int:
        return step * self.marks // max(1, self.total)

    def step(self, epoch: int, step: int, loss: float) -> dict[str, Any]:
        """Report step ``step`` (counted from the run's start) of epoch ``epoch`` (from 1); returns its event."""
        now = self.clock()
        elapsed = now - self.started
        rate = (step - self.start_step) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else 0.0
        event = {
            "epoch": epoch,
            "epochs": self.epochs,
            "step": step,
            "total": self.total,
            "loss": float(loss),
            "steps_per_second": rate,
            "eta_seconds": eta,
            "elapsed_seconds": elapsed,
        }
        if self.callback is not None:
            self.callback(event)
        mark = self._mark(step)
        if mark > self.last_mark or now - self.last_line >= self.every_seconds or step >= self.total:
            self.last_mark, self.last_line = mark, now
            self.lines += 1
            logger.info("%s", progress_line(event))
        return event
