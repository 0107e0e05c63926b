"""The committer for coroutines gathering over passes of the loop (placement's): batches on
a pooled writer thread or inline on the loop, per-job outcomes, cancellation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from vintry.db.group_commit import AsyncGroupCommitter
from vintry.money import from_fen
from vintry.orders.pricing import yuan_text

WAIT_BOUND_SECONDS = 10.0
"""How long a test waits for the writer thread (bounded; never a fixed sleep)."""


class Recorder:
    """A ``run`` that records its batches and their threads; a job named ``bad`` fails
    alone, ``boom`` fails its whole batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[int] = set()
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, jobs: Sequence[str]) -> list[str | BaseException]:
        self.started.set()
        self.release.wait(WAIT_BOUND_SECONDS)
        self.batches.append(list(jobs))
        self.threads.add(threading.get_ident())
        if "boom" in jobs:
            raise RuntimeError("the batch failed")
        return [ValueError(job) if job == "bad" else job.upper() for job in jobs]


def test_each_job_gets_its_own_outcome_from_a_writer_thread() -> None:
    run = Recorder()
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(run, gathering="loop")

    async def scenario() -> None:
        assert await committer.submit("a") == "A"
        with pytest.raises(ValueError, match="bad"):
            await committer.submit("bad")

    asyncio.run(scenario())
    assert run.batches == [["a"], ["bad"]]
    assert threading.get_ident() not in run.threads


def test_jobs_submitted_in_one_pass_of_the_loop_share_a_batch() -> None:
    run = Recorder()
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(run, gathering="loop")

    async def scenario() -> list[str | BaseException]:
        return await asyncio.gather(
            *(committer.submit(job) for job in ("a", "bad", "c")), return_exceptions=True
        )

    a, bad, c = asyncio.run(scenario())
    assert (a, c) == ("A", "C") and isinstance(bad, ValueError)
    assert run.batches == [["a", "bad", "c"]]
    assert (committer.batches, committer.jobs) == (1, 3)


def test_jobs_queued_while_a_batch_is_written_make_the_next_batch() -> None:
    run = Recorder()
    run.release.clear()
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(
        run, max_batch=2, gathering="loop"
    )

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(committer.submit("a"))
        assert await asyncio.to_thread(run.started.wait, WAIT_BOUND_SECONDS)
        later = [asyncio.ensure_future(committer.submit(job)) for job in ("b", "c", "d")]
        run.release.set()
        return list(await asyncio.wait_for(asyncio.gather(first, *later), WAIT_BOUND_SECONDS))

    assert asyncio.run(scenario()) == ["A", "B", "C", "D"]
    assert run.batches == [["a"], ["b", "c"], ["d"]]


def test_inline_batches_run_on_the_event_loop_gathered_the_same_way() -> None:
    """``inline`` (SQLite): each batch runs on the loop that gathered it, with the jobs of
    one pass of the loop together, per-job outcomes, and a failing batch failing only its
    own jobs."""
    run = Recorder()
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(
        run, gathering="loop", inline=True
    )
    loop_threads: set[int] = set()

    async def scenario() -> list[str | BaseException]:
        loop_threads.add(threading.get_ident())
        first = await asyncio.gather(
            *(committer.submit(job) for job in ("a", "bad", "c")), return_exceptions=True
        )
        failed = await asyncio.gather(
            committer.submit("x"), committer.submit("boom"), return_exceptions=True
        )
        return [*first, *failed, await committer.submit("z")]

    a, bad, c, x, boom, z = asyncio.run(scenario())
    assert (a, c, z) == ("A", "C", "Z") and isinstance(bad, ValueError)
    assert isinstance(x, RuntimeError) and isinstance(boom, RuntimeError)
    assert run.batches == [["a", "bad", "c"], ["x", "boom"], ["z"]]
    assert run.threads == loop_threads


def test_an_exception_escaping_the_batch_fails_each_of_its_jobs() -> None:
    run = Recorder()
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(run, gathering="loop")

    async def scenario() -> list[str | BaseException]:
        return await asyncio.gather(
            committer.submit("a"), committer.submit("boom"), return_exceptions=True
        )

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert asyncio.run(_one(committer, "z")) == "Z"  # the committer goes on


def test_a_cancelled_awaiter_s_job_is_still_written() -> None:
    run = Recorder()
    run.release.clear()
    committer: AsyncGroupCommitter[str, str] = AsyncGroupCommitter(run, gathering="loop")

    async def scenario() -> str:
        gone = asyncio.ensure_future(committer.submit("gone"))
        assert await asyncio.to_thread(run.started.wait, WAIT_BOUND_SECONDS)
        gone.cancel()
        run.release.set()
        return await asyncio.wait_for(committer.submit("next"), WAIT_BOUND_SECONDS)

    assert asyncio.run(scenario()) == "NEXT"
    assert run.batches == [["gone"], ["next"]]


async def _one(committer: AsyncGroupCommitter[str, str], job: str) -> str:
    return await committer.submit(job)


@pytest.mark.parametrize(
    "fen", [0, 1, 5, 10, 99, 100, 101, 12_345, 100_000_000_00, -1, -99, -100, -12_345]
)
def test_amounts_are_written_as_decimal_yuan_would_be(fen: int) -> None:
    assert yuan_text(fen) == str(from_fen(fen))
