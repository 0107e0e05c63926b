"""The group committer: batches, per-job outcomes, and gathering announced jobs."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from vintry.db.group_commit import GroupCommitter

WAIT_BOUND_SECONDS = 10.0
"""How long a test waits for another thread to reach a state (polled; never a fixed sleep)."""


class Recorder:
    """A ``run`` that records its batches; a job named ``bad`` fails alone."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, jobs: Sequence[str]) -> list[str | BaseException]:
        self.batches.append(list(jobs))
        return [ValueError(job) if job == "bad" else job.upper() for job in jobs]


def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_BOUND_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)  # polling another thread, bounded by the deadline


def _submit_in_thread(committer: GroupCommitter[str, str], job: str) -> dict[str, object]:
    outcome: dict[str, object] = {}

    def submit() -> None:
        try:
            outcome["result"] = committer.submit(job)
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=submit)
    thread.start()
    outcome["thread"] = thread
    return outcome


def test_each_job_gets_its_own_outcome() -> None:
    run = Recorder()
    committer: GroupCommitter[str, str] = GroupCommitter(run)
    assert committer.submit("a") == "A"
    with pytest.raises(ValueError, match="bad"):
        committer.submit("bad")
    assert run.batches == [["a"], ["bad"]]


def test_a_leader_waits_for_an_announced_job_and_takes_it_in_its_batch() -> None:
    run = Recorder()
    committer: GroupCommitter[str, str] = GroupCommitter(run, gather_seconds=WAIT_BOUND_SECONDS)
    with committer.arriving() as arrival:
        leader = _submit_in_thread(committer, "b")
        # The leader is gathering: it holds the batch open for the announced job.
        _until(lambda: committer._busy, "the leader to start gathering")
        assert run.batches == []
        assert committer.submit("a", arrival) == "A"
    leader["thread"].join(WAIT_BOUND_SECONDS)  # type: ignore[attr-defined]
    assert leader["result"] == "B"
    assert run.batches == [["b", "a"]]
    assert (committer.batches, committer.jobs) == (1, 2)


def test_a_withdrawn_announcement_releases_the_waiting_leader() -> None:
    run = Recorder()
    committer: GroupCommitter[str, str] = GroupCommitter(run, gather_seconds=WAIT_BOUND_SECONDS)
    with committer.arriving():
        leader = _submit_in_thread(committer, "b")
        _until(lambda: committer._busy, "the leader to start gathering")
        assert run.batches == []
    # Leaving the block without submitting withdraws the job: the leader goes on alone.
    leader["thread"].join(WAIT_BOUND_SECONDS)  # type: ignore[attr-defined]
    assert leader["result"] == "B"
    assert run.batches == [["b"]]


def test_a_lone_job_never_waits_and_an_announced_one_does_not_wait_for_itself() -> None:
    run = Recorder()
    committer: GroupCommitter[str, str] = GroupCommitter(run, gather_seconds=WAIT_BOUND_SECONDS)
    assert committer.submit("a") == "A"  # nothing announced: no gathering
    with committer.arriving() as arrival:
        # Submitting consumes the announcement before the job's own thread leads.
        assert committer.submit("b", arrival) == "B"
    committer.withdraw(arrival)  # after submitting: nothing to withdraw
    assert run.batches == [["a"], ["b"]]
