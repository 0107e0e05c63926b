"""The group committer for coroutines: batches under concurrency, per-job outcomes, a lone
job that never waits, gathering announced jobs, and jobs from several event loops."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from vintry.db.group_commit import AsyncGroupCommitter

BOUND_SECONDS = 10.0
"""How long a test waits for the writer thread (a bound on a wait, never a fixed sleep)."""
LONG_GATHER = 60.0
"""A gathering bound no test may reach: a test finishing within BOUND_SECONDS never waited it."""


class Gate:
    """A ``run`` that records its batches, holds the first batch until released (so later
    jobs queue behind it), fails a job named ``bad`` alone and a batch holding ``boom``
    whole."""

    def __init__(self, *, hold_first: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, jobs: Sequence[str]) -> list[str | BaseException]:
        self.batches.append(list(jobs))
        self.entered.set()
        if not self.release.wait(BOUND_SECONDS):
            raise AssertionError("the test never released the batch")
        if "boom" in jobs:
            raise RuntimeError("the transaction failed")
        return [ValueError(job) if job == "bad" else job.upper() for job in jobs]


async def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(BOUND_SECONDS):
        while not condition():
            await asyncio.sleep(0.001)  # polling the writer thread, bounded above
    assert condition(), what


def test_jobs_queued_behind_a_batch_form_the_next_one() -> None:
    gate = Gate(hold_first=True)
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(gate, max_batch=8)

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(committer.submit("a"))
        await _until(gate.entered.is_set, "the first batch to start")
        rest = [asyncio.ensure_future(committer.submit(job)) for job in ("b", "c", "d")]
        await asyncio.sleep(0)  # let every submission queue
        gate.release.set()
        async with asyncio.timeout(BOUND_SECONDS):
            return list(await asyncio.gather(first, *rest))

    assert asyncio.run(scenario()) == ["A", "B", "C", "D"]
    assert gate.batches == [["a"], ["b", "c", "d"]]
    assert (committer.batches, committer.jobs) == (2, 4)


def test_a_batch_never_exceeds_max_batch() -> None:
    gate = Gate(hold_first=True)
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(gate, max_batch=2)

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(committer.submit("a"))
        await _until(gate.entered.is_set, "the first batch to start")
        rest = [asyncio.ensure_future(committer.submit(job)) for job in ("b", "c", "d", "e")]
        await asyncio.sleep(0)
        gate.release.set()
        async with asyncio.timeout(BOUND_SECONDS):
            return list(await asyncio.gather(first, *rest))

    assert asyncio.run(scenario()) == ["A", "B", "C", "D", "E"]
    assert gate.batches == [["a"], ["b", "c"], ["d", "e"]]


def test_a_refused_job_fails_alone_and_a_failed_batch_fails_only_its_jobs() -> None:
    gate = Gate(hold_first=True)
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(gate, max_batch=8)

    async def scenario() -> None:
        first = asyncio.ensure_future(committer.submit("boom"))
        await _until(gate.entered.is_set, "the first batch to start")
        neighbours = [asyncio.ensure_future(committer.submit(job)) for job in ("x", "bad", "y")]
        await asyncio.sleep(0)
        gate.release.set()
        async with asyncio.timeout(BOUND_SECONDS):
            with pytest.raises(RuntimeError, match="the transaction failed"):
                await first
            results = await asyncio.gather(*neighbours, return_exceptions=True)
        assert results[0] == "X" and results[2] == "Y"
        assert isinstance(results[1], ValueError) and str(results[1]) == "bad"
        # The committer goes on after a failed batch.
        async with asyncio.timeout(BOUND_SECONDS):
            assert await committer.submit("z") == "Z"

    asyncio.run(scenario())
    assert gate.batches == [["boom"], ["x", "bad", "y"], ["z"]]


def test_a_lone_job_does_not_wait_for_a_batch_to_fill() -> None:
    gate = Gate()
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(
        gate, max_batch=64, gather_seconds=LONG_GATHER
    )

    async def scenario() -> str:
        async with asyncio.timeout(BOUND_SECONDS):
            return await committer.submit("alone")

    assert asyncio.run(scenario()) == "ALONE"
    assert gate.batches == [["alone"]]


def test_the_writer_waits_for_announced_jobs_and_stops_waiting_when_one_is_withdrawn() -> None:
    gate = Gate()
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(
        gate, max_batch=64, gather_seconds=LONG_GATHER
    )

    async def scenario() -> list[str]:
        announced = [committer.announce() for _ in range(3)]
        first = asyncio.ensure_future(committer.submit("a", announced[0]))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(committer.submit("b", announced[1]))
        await asyncio.sleep(0)
        committer.withdraw(announced[2])  # its request was refused before it could submit
        committer.withdraw(announced[2])  # idempotent
        async with asyncio.timeout(BOUND_SECONDS):
            return list(await asyncio.gather(first, second))

    assert asyncio.run(scenario()) == ["A", "B"]
    assert gate.batches == [["a", "b"]]


def test_jobs_from_several_event_loops_each_get_their_answer() -> None:
    gate = Gate()
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(gate, max_batch=64)
    answers: dict[str, str] = {}

    def loop_of(jobs: list[str]) -> None:
        async def scenario() -> None:
            async with asyncio.timeout(BOUND_SECONDS):
                found = await asyncio.gather(*(committer.submit(job) for job in jobs))
            answers.update(zip(jobs, found, strict=True))

        asyncio.run(scenario())

    threads = [
        threading.Thread(target=loop_of, args=([f"{name}{n}" for n in range(20)],))
        for name in ("p", "q", "r")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND_SECONDS)
    expected = [f"{name}{n}" for name in "pqr" for n in range(20)]
    assert answers == {job: job.upper() for job in expected}
    assert committer.jobs == 60


def test_a_cancelled_awaiter_leaves_the_job_run_and_the_writer_sound() -> None:
    gate = Gate(hold_first=True)
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(gate, max_batch=8)

    async def scenario() -> str:
        gone = asyncio.ensure_future(committer.submit("gone"))
        await _until(gate.entered.is_set, "the batch to start")
        gone.cancel()
        gate.release.set()
        async with asyncio.timeout(BOUND_SECONDS):
            return await committer.submit("next")

    assert asyncio.run(scenario()) == "NEXT"
    assert gate.batches == [["gone"], ["next"]]


def test_inline_jobs_run_on_the_event_loop_and_announced_ones_join_the_batch() -> None:
    """``inline(job)`` true: no writer thread; the jobs one pass of the loop submits,
    announced or not, form one batch on the loop; a job for which ``inline`` is false
    goes to the writer thread; outcomes stay per job."""
    threads: list[int] = []

    def run(jobs: Sequence[str]) -> list[str | BaseException]:
        threads.append(threading.get_ident())
        return Gate()(jobs)

    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(
        run, gather_seconds=LONG_GATHER, inline=lambda job: job != "threaded"
    )

    async def scenario() -> list[str | BaseException]:
        arrival = committer.announce()

        async def announced() -> str:
            await asyncio.sleep(0)  # still being parsed when the others submit
            return await committer.submit("c", arrival)

        async with asyncio.timeout(BOUND_SECONDS):
            batch = await asyncio.gather(
                committer.submit("a"),
                committer.submit("bad"),
                announced(),
                return_exceptions=True,
            )
            return [*batch, await committer.submit("threaded")]

    loop_thread: list[int] = []

    async def main() -> list[str | BaseException]:
        loop_thread.append(threading.get_ident())
        return await scenario()

    a, bad, c, threaded = asyncio.run(main())
    assert (a, c, threaded) == ("A", "C", "THREADED") and isinstance(bad, ValueError)
    assert threads[0] == loop_thread[0] and threads[-1] != loop_thread[0]
    assert (committer.batches, committer.jobs) == (2, 4)
