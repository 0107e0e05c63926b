"""Group commit: several requests' writes in one transaction, one durable commit for all.

At full durability (SQLite ``synchronous=FULL``, PostgreSQL's default) every commit waits
for the disk, and SQLite has one writer at a time: a request per transaction spends most
of its life queueing for that lock and that flush. Here a request hands its write (a
*job*) to the process's committer and waits. Whichever waiting thread finds the committer
idle becomes the *leader*: it takes every job queued so far (up to ``max_batch``), runs
them through ``run`` in one transaction, hands each job its outcome, and steps down; jobs
that arrived meanwhile form the next batch. There is no extra thread to start or stop, a
lone request pays nothing for batching, and under load the batch grows by itself.
:class:`AsyncGroupCommitter` does the same for coroutines: a request awaits its job on the
event loop, and the batches run on the loop (a local database) or a writer thread.

``run`` decides what a failed job means: it returns an outcome per job (a result, or an
exception to raise in that job's thread), so one job's refusal never fails its
neighbours. An exception escaping ``run`` fails every job of the batch with it.

**Gathering.** Every batch pays a fixed cost (a transaction, its statements, a durable
commit) whatever its size, so a bigger batch is cheaper per job. A request that will
submit a job soon — it is still preparing it (pricing an order) — can say so with
:meth:`GroupCommitter.arriving`. A leader that finds such jobs on their way waits for them,
at most ``gather_seconds``, before it takes its batch: the idea of PostgreSQL's
``commit_delay``, which waits only when ``commit_siblings`` other transactions are active.
A lone request never waits (nothing else is arriving), and the wait is bounded, so a
request that never submits (its preparation failed) only ever costs that bound.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

J = TypeVar("J")
R = TypeVar("R")


def run_outcomes(
    run: Callable[[Sequence[J]], Sequence[R | BaseException]], jobs: Sequence[J]
) -> list[R | BaseException]:
    """*run* over *jobs*: an outcome per job, in order. An exception escaping *run* (or a
    wrong number of outcomes) becomes every job's outcome."""
    try:
        outcomes = list(run(jobs))
        if len(outcomes) != len(jobs):
            raise RuntimeError(f"a batch of {len(jobs)} jobs gave {len(outcomes)} outcomes")
    except BaseException as error:  # handed to the jobs' callers, like every outcome
        return [error] * len(jobs)
    return outcomes


def hand_outcomes(
    futures: Sequence[asyncio.Future[Any]], outcomes: Sequence[Any]
) -> None:
    """From any thread: each future its outcome (a result, or an exception to raise), on
    the future's own event loop, one call per loop. A future whose awaiter gave up, or
    whose loop is closed, is skipped."""
    per_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for future, outcome in zip(futures, outcomes, strict=True):
        per_loop.setdefault(future.get_loop(), []).append((future, outcome))
    for loop, settled in per_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # that loop closed: nobody awaits these any more
            continue


def _settle(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    """On the futures' event loop."""
    for future, outcome in settled:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


@dataclass(eq=False)
class _Slot(Generic[J, R]):
    job: J
    done: bool = False
    result: R | None = None
    error: BaseException | None = None
    event: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False)
class Arrival:
    """A job announced by :meth:`GroupCommitter.arriving`, not yet submitted."""

    submitted: bool = False


class GroupCommitter(Generic[J, R]):
    """Runs submitted jobs in batches, one batch at a time, on the submitters' threads."""

    def __init__(
        self,
        run: Callable[[Sequence[J]], Sequence[R | BaseException]],
        *,
        max_batch: int = 32,
        gather_seconds: float = 0.0,
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._gather_seconds = gather_seconds
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: list[_Slot[J, R]] = []
        self._busy = False
        self._arriving = 0
        self.batches = 0
        """Batches run so far (for metrics and tests)."""
        self.jobs = 0
        """Jobs run so far."""

    @contextmanager
    def arriving(self) -> Iterator[Arrival]:
        """Announce a job this thread will submit (pass the arrival to :meth:`submit`):
        until it is submitted, or the block ends without it, a leader may wait for it."""
        arrival = Arrival()
        with self._lock:
            self._arriving += 1
        try:
            yield arrival
        finally:
            self.withdraw(arrival)

    def withdraw(self, arrival: Arrival) -> None:
        """The announced job will not come (or not through :meth:`submit`): stop waiting
        for it. Idempotent; nothing happens once it was submitted."""
        with self._lock:
            if not arrival.submitted:
                arrival.submitted = True
                self._arriving -= 1
                self._arrived.notify_all()

    def submit(self, job: J, arrival: Arrival | None = None) -> R:
        """Run *job* in the next batch and return its result (or raise its exception).

        *arrival* is the announcement of this job made with :meth:`arriving`, if any."""
        slot: _Slot[J, R] = _Slot(job)
        with self._lock:
            self._queue.append(slot)
            if arrival is not None and not arrival.submitted:
                arrival.submitted = True
                self._arriving -= 1
            self._arrived.notify_all()
        while True:
            with self._lock:
                if slot.done:
                    break
                if self._busy:
                    lead = False
                else:
                    self._busy = True
                    lead = True
                    self._gather()
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

    def _gather(self) -> None:
        """Called by the new leader, lock held: wait (bounded) for announced jobs."""
        if not self._arriving or self._gather_seconds <= 0:
            return
        deadline = time.monotonic() + self._gather_seconds
        while self._arriving and len(self._queue) < self._max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._arrived.wait(left)

    def _run_batch(self, batch: list[_Slot[J, R]]) -> None:
        outcomes = run_outcomes(self._run, [s.job for s in batch])
        self.batches += 1
        self.jobs += len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                slot.error = outcome
            else:
                slot.result = outcome
            slot.done = True
            slot.event.set()


# --- for coroutines ----------------------------------------------------------------------


@dataclass(eq=False)
class _Awaited(Generic[J, R]):
    job: J
    future: asyncio.Future[R]
    inline: bool = False


_pooled_writers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vintry-writer")
"""The threads that write loop-gathered batches off the loop, shared by every committer
(one batch at a time each)."""


class AsyncGroupCommitter(Generic[J, R]):
    """Group commit for coroutines: a request awaits its job without holding a thread.

    :meth:`submit` queues the job and awaits a future; a batch takes every job queued so
    far (up to ``max_batch``), runs them through ``run`` in one transaction and completes
    each future on its own event loop. One batch runs at a time; jobs queued while it runs
    form the next, so under load batches grow by themselves, and a lone job is never held
    for a batch to fill.

    ``run`` is as for :class:`GroupCommitter`: an outcome per job (a result, or an exception
    raised in that job's coroutine); an exception escaping ``run`` fails every job of that
    batch and no other. A job whose coroutine was cancelled meanwhile is still run (its
    write may already be committed); only its answer is dropped.

    **Where a batch runs.** *Inline* (``inline``, or ``inline(job)`` true as the job is
    submitted — a local database: SQLite): on the event loop of its first job. Otherwise on
    a writer thread, and the loop is never blocked, whatever the database does. A writer
    thread shares the interpreter lock with the loop, and each of the loop's socket reads
    and writes releases it: the writer takes it and the loop waits to get it back, which
    costs more than a local batch blocks the loop (see ``docs/architecture.md``, "What runs
    on the event loop").

    **When a batch starts** (``gathering``):

    - ``"loop"`` (always, inline): once a pass of the event loop has queued nothing new —
      the requests the loop already holds are read, authenticated and prepared first and
      join the batch; bounded by ``gather_seconds`` (2 ms when 0) and ended at once by a
      full batch. A lone job pays one pass of the loop. Off the loop the batch then runs on
      a thread of a small pool shared by every committer (an idle committer holds none),
      and the jobs queued meanwhile are gathered again on their loop.
    - ``"announced"``: one writer thread per committer starts with the first job and stops
      after ``linger_seconds`` without one. A request that will submit a job soon (it is
      still being authenticated and parsed) announces it with :meth:`announce`, as
      :meth:`GroupCommitter.arriving`; before it takes a batch the writer waits — at most
      ``gather_seconds`` — for the jobs announced by then to be submitted or withdrawn
      (later announcements do not hold it up). With nothing announced it never waits.
    """

    def __init__(
        self,
        run: Callable[[Sequence[J]], Sequence[R | BaseException]],
        *,
        max_batch: int = 32,
        gather_seconds: float = 0.0,
        linger_seconds: float = 1.0,
        name: str = "vintry-group-commit",
        inline: Callable[[J], bool] | bool = False,
        gathering: Literal["loop", "announced"] = "announced",
    ) -> None:
        self._run = run
        self._inline = inline
        self._gathering = gathering
        self._max_batch = max_batch
        self._gather_seconds = gather_seconds
        self._linger_seconds = linger_seconds
        self._name = name
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._queue: list[_Awaited[J, R]] = []
        self._writer: threading.Thread | None = None
        """The ``"announced"`` writer thread, while it runs."""
        self._gathered = False
        """A loop-gathered batch is being gathered or run."""
        self._arriving = 0
        self._settled = 0
        self.batches = 0
        """Batches run so far (for metrics and tests)."""
        self.jobs = 0
        """Jobs run so far."""

    def announce(self) -> Arrival:
        """Announce a job the caller will submit (pass the arrival to :meth:`submit`, or to
        :meth:`withdraw` if it will not come)."""
        with self._lock:
            self._arriving += 1
        return Arrival()

    def withdraw(self, arrival: Arrival) -> None:
        """The announced job will not come: stop waiting for it. Idempotent; nothing
        happens once it was submitted."""
        with self._lock:
            self._settle_arrival(arrival)

    def _settle_arrival(self, arrival: Arrival) -> None:
        """Lock held."""
        if not arrival.submitted:
            arrival.submitted = True
            self._arriving -= 1
            self._settled += 1
            self._queued.notify()

    async def submit(self, job: J, arrival: Arrival | None = None) -> R:
        """Run *job* in the next batch and return its result (or raise its exception).

        *arrival* is the announcement of this job made with :meth:`announce`, if any."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        inline = self._inline(job) if callable(self._inline) else self._inline
        with self._lock:
            self._queue.append(_Awaited(job, future, inline))
            if arrival is not None:
                self._settle_arrival(arrival)
            if (inline or self._gathering == "loop") and self._writer is None:
                start = not self._gathered
                self._gathered = True
                if start:
                    loop.call_soon(self._gather_on_loop, 0, time.monotonic() + self._bound)
            elif self._writer is None:
                self._writer = threading.Thread(target=self._write, name=self._name, daemon=True)
                self._writer.start()
            else:
                self._queued.notify()
        return await future

    # --- gathered over passes of the loop -------------------------------------------------

    @property
    def _bound(self) -> float:
        return self._gather_seconds if self._gather_seconds > 0 else 0.002

    def _gather_on_loop(self, seen: int, deadline: float) -> None:
        """On an event loop: start the batch once a pass of the loop queued nothing new (or
        the batch is full, or the bound is reached); else look again after one more."""
        with self._lock:
            queued = len(self._queue)
            inline = bool(self._queue) and self._queue[0].inline
        if queued == seen or queued >= self._max_batch or time.monotonic() >= deadline:
            if inline:
                self._write_gathered()
            else:
                _pooled_writers.submit(self._write_gathered)
        else:
            asyncio.get_running_loop().call_soon(self._gather_on_loop, queued, deadline)

    def _write_gathered(self) -> None:
        """On the loop (inline) or a pooled writer thread: one batch; then the jobs queued
        meanwhile are gathered on their loop, or the committer goes idle."""
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        if batch:
            self._run_batch(batch)
        with self._lock:
            if not self._queue:
                self._gathered = False
                return
            loop = self._queue[0].future.get_loop()
        try:
            loop.call_soon_threadsafe(self._gather_on_loop, -1, time.monotonic() + self._bound)
        except RuntimeError:  # that loop is closed: the queued jobs are written all the same
            self._write_gathered()

    # --- the announced writer thread -------------------------------------------------------

    def _write(self) -> None:
        """The writer thread: batch after batch while jobs come, then step down."""
        while True:
            with self._lock:
                if not self._queue:
                    self._queued.wait(self._linger_seconds)
                    if not self._queue:
                        self._writer = None
                        return
                self._gather()
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            self._run_batch(batch)

    def _gather(self) -> None:
        """Lock held: wait (bounded) for the jobs announced so far."""
        if not self._arriving or self._gather_seconds <= 0:
            return
        target = self._settled + self._arriving
        deadline = time.monotonic() + self._gather_seconds
        while self._settled < target and len(self._queue) < self._max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._queued.wait(left)

    def _run_batch(self, batch: list[_Awaited[J, R]]) -> None:
        outcomes = run_outcomes(self._run, [a.job for a in batch])
        self.batches += 1
        self.jobs += len(batch)
        hand_outcomes([a.future for a in batch], outcomes)
