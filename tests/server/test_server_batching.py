"""The micro-batcher on its own: grouping, limits, failures, cancellation and draining."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from mrekit.server.batching import MicroBatcher, ShuttingDown, TextFailed


class Recorder:
    """Upper-cases texts, records each call's batch, optionally slowly."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[str]:
        self.calls.append(list(texts))
        time.sleep(self.delay_s)
        return [t.upper() for t in texts]


def test_concurrent_submissions_share_a_batch_and_keep_their_order():
    predict = Recorder()

    async def main():
        batcher = MicroBatcher(predict, max_batch=64, wait_ms=20)
        results = await asyncio.gather(*(batcher.submit([f"t{i}a", f"t{i}b"]) for i in range(10)))
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert results == [[f"T{i}A", f"T{i}B"] for i in range(10)]
    assert len(predict.calls) == 1 and len(predict.calls[0]) == 20


def test_batches_never_exceed_max_batch():
    predict = Recorder()

    async def main():
        batcher = MicroBatcher(predict, max_batch=3, wait_ms=5)
        results = await asyncio.gather(*(batcher.submit([str(i)]) for i in range(10)))
        await batcher.stop()
        return results

    assert asyncio.run(main()) == [[str(i)] for i in range(10)]
    assert max(len(c) for c in predict.calls) == 3
    assert sum(len(c) for c in predict.calls) == 10


def test_predict_runs_off_the_event_loop():
    predict = Recorder(delay_s=0.2)

    async def main():
        batcher = MicroBatcher(predict, max_batch=4, wait_ms=0)
        task = asyncio.create_task(batcher.submit(["slow"]))
        await asyncio.sleep(0.02)
        ticks = 0
        while not task.done():  # the loop keeps running while the model works
            ticks += 1
            await asyncio.sleep(0.01)
        await batcher.stop()
        return ticks

    assert asyncio.run(main()) >= 5


def test_a_failing_batch_fails_its_callers_but_not_the_worker():
    def flaky(texts):
        if "boom" in texts:
            raise ValueError("model exploded")
        return texts

    async def main():
        batcher = MicroBatcher(flaky, max_batch=8, wait_ms=0)
        with pytest.raises(TextFailed) as caught:
            await batcher.submit(["boom"])
        assert isinstance(caught.value.error, ValueError) and caught.value.index == 0
        ok = await batcher.submit(["fine"])
        await batcher.stop()
        return ok

    assert asyncio.run(main()) == ["fine"]


def test_wrong_result_count_is_an_error():
    async def main():
        batcher = MicroBatcher(lambda texts: texts[:-1], max_batch=8, wait_ms=0)
        with pytest.raises(TextFailed) as caught:
            await batcher.submit(["a", "b"])
        assert "0 results for 1 texts" in str(caught.value.error)  # alone too, after the batch of 2
        await batcher.stop()

    asyncio.run(main())


def test_texts_of_a_cancelled_caller_are_not_predicted():
    release = threading.Event()
    calls: list[list[str]] = []

    def blocking(texts):
        calls.append(list(texts))
        release.wait(5)
        return texts

    async def main():
        batcher = MicroBatcher(blocking, max_batch=1, wait_ms=0)
        first = asyncio.create_task(batcher.submit(["first"]))
        await asyncio.sleep(0.02)  # "first" is now in the model
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.submit(["abandoned"]), 0.02)
        release.set()
        await first
        await batcher.stop()

    asyncio.run(main())
    assert calls == [["first"]]


def test_stop_drains_queued_texts_then_refuses_new_ones():
    predict = Recorder(delay_s=0.03)

    async def main():
        batcher = MicroBatcher(predict, max_batch=2, wait_ms=0)
        tasks = [asyncio.create_task(batcher.submit([f"q{i}"])) for i in range(7)]
        await asyncio.sleep(0.01)  # one batch in the model, the rest queued
        await batcher.stop()
        assert not batcher.running
        with pytest.raises(ShuttingDown):
            await batcher.submit(["late"])
        return [t.result() for t in tasks]

    assert asyncio.run(main()) == [[f"Q{i}"] for i in range(7)]
    assert sum(len(c) for c in predict.calls) == 7


def test_stop_with_a_timeout_fails_what_is_left():
    release = threading.Event()

    def stuck(texts):
        release.wait(5)
        return texts

    async def main():
        batcher = MicroBatcher(stuck, max_batch=1, wait_ms=0)
        tasks = [asyncio.create_task(batcher.submit([str(i)])) for i in range(3)]
        await asyncio.sleep(0.02)
        await batcher.stop(timeout_s=0.05)
        release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(o, ShuttingDown) for o in outcomes)


def test_stop_before_start_is_a_no_op():
    async def main():
        batcher = MicroBatcher(lambda texts: texts)
        await batcher.stop()
        with pytest.raises(ShuttingDown):
            await batcher.submit(["x"])

    asyncio.run(main())


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(lambda texts: texts, max_batch=0)
