"""Group commit: several requests' writes in one transaction, one durable commit for all.

At full durability (SQLite ``synchronous=FULL``, PostgreSQL's default) every commit waits
for the disk, and SQLite has one writer at a time: a request per transaction spends most
of its life queueing for that lock and that flush. Here a request hands its write (a
*job*) to the process's committer and waits. Whichever waiting thread finds the committer
idle becomes the *leader*: it takes every job queued so far (up to ``max_batch``), runs
them through ``run`` in one transaction, hands each job its outcome, and steps down; jobs
that arrived meanwhile form the next batch. There is no extra thread to start or stop, a
lone request pays nothing for batching, and under load the batch grows by itself.

``run`` decides what a failed job means: it returns an outcome per job (a result, or an
exception to raise in that job's thread), so one job's refusal never fails its
neighbours. An exception escaping ``run`` fails every job of the batch with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")


@dataclass(eq=False)
class _Slot(Generic[J, R]):
    job: J
    done: bool = False
    result: R | None = None
    error: BaseException | None = None
    event: threading.Event = field(default_factory=threading.Event)


class GroupCommitter(Generic[J, R]):
    """Runs submitted jobs in batches, one batch at a time, on the submitters' threads."""

    def __init__(
        self,
        run: Callable[[Sequence[J]], Sequence[R | BaseException]],
        *,
        max_batch: int = 32,
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[J, R]] = []
        self._busy = False
        self.batches = 0
        """Batches run so far (for metrics and tests)."""
        self.jobs = 0
        """Jobs run so far."""

    def submit(self, job: J) -> R:
        """Run *job* in the next batch and return its result (or raise its exception)."""
        slot: _Slot[J, R] = _Slot(job)
        with self._lock:
            self._queue.append(slot)
        while True:
            with self._lock:
                if slot.done:
                    break
                if self._busy:
                    lead = False
                else:
                    self._busy = True
                    lead = True
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
            if not lead:
                slot.event.wait()
                slot.event.clear()
                continue
            try:
                self._run_batch(batch)
            finally:
                with self._lock:
                    self._busy = False
                    waiting = list(self._queue)
                # Wake one queued job's thread to lead the next batch (all of them: each
                # either finds its job done or competes for the lead; losers wait again).
                for other in waiting:
                    other.event.set()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _run_batch(self, batch: list[_Slot[J, R]]) -> None:
        try:
            outcomes = list(self._run([s.job for s in batch]))
            if len(outcomes) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} jobs gave {len(outcomes)} outcomes")
        except BaseException as error:
            outcomes = [error] * len(batch)
        self.batches += 1
        self.jobs += len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                slot.error = outcome
            else:
                slot.result = outcome
            slot.done = True
            slot.event.set()
