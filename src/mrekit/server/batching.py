"""Micro-batching: texts from concurrent requests share one ``model.predict`` call.

A single worker task takes texts off an asyncio queue, waits up to ``wait_ms`` for
more to arrive (or until ``max_batch`` are pending), runs the model in a thread so
the event loop keeps serving, and resolves each text's future. One worker means the
model is never called concurrently, so it needs no locking.

When ``predict`` raises for a batch of several texts, the batch is predicted again one
text at a time, so one bad text (or one text the model chokes on) fails only the
caller that sent it (:class:`TextFailed`), never its neighbours in the batch. Log lines
name a failing text by a short hash and its length, never by its content.

Example:
    >>> import asyncio
    >>> class Upper:
    ...     def predict(self, texts):
    ...         return [t.upper() for t in texts]
    >>> async def main():
    ...     batcher = MicroBatcher(Upper().predict, max_batch=8, wait_ms=1)
    ...     results = await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b", "c"]))
    ...     await batcher.stop()
    ...     return results
    >>> asyncio.run(main())
    [['A'], ['B', 'C']]
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mrekit.errors import warn

logger = logging.getLogger(__name__)


class ShuttingDown(RuntimeError):
    """Raised by :meth:`MicroBatcher.submit` once the batcher has stopped accepting texts."""


class TextFailed(RuntimeError):
    """Raised by :meth:`MicroBatcher.submit` when ``predict`` failed on one of the caller's texts.

    Args:
        index: Position of the (first) failing text in the caller's list.
        error: What ``predict`` raised for it (``__cause__`` too).

    Example:
        >>> TextFailed(2, ValueError("x")).index
        2
    """

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(f"prediction failed for text {index} ({type(error).__name__})")
        self.index = index
        self.error = error


def text_ref(text: str) -> str:
    """How log lines name a text: a short hash and its length, never its content.

    Example:
        >>> text_ref("play muse")
        'text sha256:793ca926b7fc (9 chars)'
    """
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"text sha256:{digest} ({len(text)} chars)"


def error_ref(err: BaseException) -> str:
    """An exception's type and where it was raised, without its message (which may quote the text).

    Example:
        >>> error_ref(ValueError("secret"))
        'ValueError'
    """
    frames = traceback.extract_tb(err.__traceback__) if err.__traceback__ else []
    if not frames:
        return type(err).__name__
    last = frames[-1]
    return f"{type(err).__name__} at {last.filename}:{last.lineno} in {last.name}"


@dataclass
class _Pending:
    text: str
    future: asyncio.Future = field(repr=False)


#: Queued after the last accepted text; the worker exits when it reaches it.
_STOP = object()


class MicroBatcher:
    """Group texts from concurrent callers into batches for one predict function.

    Args:
        predict: ``list[str] -> list[result]``, one result per text, in order.
            Called from a worker thread, one call at a time.
        max_batch: Most texts per call.
        wait_ms: How long the first text of a batch waits for company.

    Example:
        >>> batcher = MicroBatcher(lambda texts: texts, max_batch=4, wait_ms=0)
        >>> batcher.running
        False
    """

    def __init__(self, predict: Callable[[list[str]], Sequence[Any]], *, max_batch: int = 64, wait_ms: float = 5):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._predict = predict
        self.max_batch = max_batch
        self.wait_s = max(wait_ms, 0) / 1000
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._accepting = True
        self._inflight: list[_Pending] = []
        #: Sizes of the batches run so far (texts per ``predict`` call), newest last.
        self.batch_sizes: list[int] = []

    @property
    def running(self) -> bool:
        """Whether the worker task is alive."""
        return self._worker is not None and not self._worker.done()

    def start(self) -> None:
        """Start the worker on the running event loop (``submit`` also starts it on first use)."""
        if self.running:
            return
        self._accepting = True
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="mrekit-microbatcher")

    async def submit(self, texts: Sequence[str]) -> list[Any]:
        """Queue ``texts`` and wait for their results (in order).

        Cancelling the caller (e.g. a request timeout) drops its texts that have not
        been predicted yet.

        Raises:
            ShuttingDown: After :meth:`stop` was called, or when the batcher stopped
                before these texts were predicted.
            TextFailed: ``predict`` raised for one of ``texts`` even on its own; its
                ``error`` is what it raised.

        Example:
            >>> batcher = MicroBatcher(lambda texts: [len(t) for t in texts])
            >>> asyncio.run(batcher.submit(["abc", "de"]))
            [3, 2]
        """
        if not self._accepting:
            raise ShuttingDown("the server is shutting down")
        if not self.running:
            self.start()
        loop = asyncio.get_running_loop()
        pending = [_Pending(text, loop.create_future()) for text in texts]
        for item in pending:
            self._queue.put_nowait(item)
        outcomes = await asyncio.gather(*(p.future for p in pending), return_exceptions=True)
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, ShuttingDown | asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                raise TextFailed(index, outcome) from outcome
        return list(outcomes)

    async def stop(self, timeout_s: float | None = None) -> None:
        """Stop accepting texts, finish every text already queued, then end the worker.

        Args:
            timeout_s: Give up waiting after this long and cancel what is left
                (``None`` waits for the queue to drain).

        Example:
            >>> asyncio.run(MicroBatcher(lambda texts: texts).stop())
        """
        self._accepting = False
        if not self.running:
            return
        self._queue.put_nowait(_STOP)
        try:
            await asyncio.wait_for(asyncio.shield(self._worker), timeout_s)
        except TimeoutError:
            warn(logger, "W302", f"micro-batcher did not drain within {timeout_s:.1f} s; cancelling the rest")
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._fail_left(ShuttingDown("the server shut down before this text was predicted"))

    async def _work(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = await self._next_batch()
            live = [p for p in batch if not p.future.done()]  # skip texts whose caller gave up
            if live:
                await self._run(live)
        logger.debug("micro-batcher drained and stopped")

    async def _next_batch(self) -> tuple[list[_Pending], bool]:
        """Up to ``max_batch`` queued texts, and whether the stop marker was reached."""
        first = await self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while len(batch) < self.max_batch:
            item = await self._get_before(deadline)
            if item is None:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    async def _get_before(self, deadline: float) -> Any:
        """The next queued item, or ``None`` if none arrives before ``deadline``."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), remaining)
        except TimeoutError:
            return None

    async def _run(self, batch: list[_Pending]) -> None:
        # Kept until the batch is resolved, so a cancelled worker's batch can still be failed.
        self._inflight = batch
        try:
            results = await self._call(batch)
        except Exception as err:  # a failed batch fails only its bad texts, never the worker
            if len(batch) == 1:
                self._fail_one(batch[0], err)
            else:
                warn(
                    logger,
                    "W300",
                    f"prediction failed for a batch of {len(batch)} texts ({error_ref(err)}); "
                    "predicting them one by one",
                )
                await self._run_one_by_one(batch)
            self._inflight = []
            return
        self._resolve(batch, results=results)

    async def _run_one_by_one(self, batch: list[_Pending]) -> None:
        for item in batch:
            if item.future.done():  # the caller gave up, or another of its texts failed
                continue
            try:
                (result,) = await self._call([item])
            except Exception as err:
                self._fail_one(item, err)
            else:
                if not item.future.done():
                    item.future.set_result(result)

    async def _call(self, batch: list[_Pending]) -> Sequence[Any]:
        texts = [p.text for p in batch]
        self.batch_sizes.append(len(texts))
        # In a thread: a forward pass takes milliseconds to seconds, and the
        # event loop must keep accepting requests (and timing them out) meanwhile.
        results = await asyncio.to_thread(self._predict, texts)
        if len(results) != len(texts):
            raise RuntimeError(f"predict returned {len(results)} results for {len(texts)} texts")
        return results

    def _fail_one(self, item: _Pending, err: Exception) -> None:
        logger.error("prediction failed for %s: %s", text_ref(item.text), error_ref(err))
        if not item.future.done():
            item.future.set_exception(err)

    def _resolve(self, batch: list[_Pending], *, results: Sequence[Any]) -> None:
        self._inflight = []
        for p, result in zip(batch, results, strict=True):
            if not p.future.done():  # else the caller gave up (timeout) meanwhile
                p.future.set_result(result)

    def _fail_left(self, err: Exception) -> None:
        """Fail the texts of an abandoned batch and everything still queued."""
        left = list(self._inflight)
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _STOP:
                left.append(item)
        for item in left:
            if not item.future.done():
                item.future.set_exception(err)
        self._inflight = []
