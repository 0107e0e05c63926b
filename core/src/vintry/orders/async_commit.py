"""Group commit for coroutines: orders awaited on the event loop, written by one thread.

:class:`~vintry.db.group_commit.GroupCommitter` runs a batch on the thread of one of its
submitters, so every placement waiting for its batch parks a thread. The API's placement
is a coroutine instead: it awaits a future while :class:`AsyncGroupCommitter` writes the
batches, one at a time, on a writer thread.

**When a batch starts.** A batch costs about the same whatever its size (a transaction,
its statements, a durable commit), and in one process the event loop and the writer
share one interpreter lock: while the writer runs Python, the loop waits. So a batch is
not started the moment a job arrives, nor the moment the previous batch ends, but when
the event loop has been through its ready work without queueing another job: the
requests the loop already has in hand are read, authenticated and priced first, and
join the batch. That costs a lone request one pass of the loop (microseconds); under load
it is what makes batches grow. The wait is bounded (``gather_seconds``) and ends at once
when ``max_batch`` jobs are queued.

**Where a batch runs.** With ``inline`` (a local database: SQLite), on the event loop
that gathered it, right away: its statements are library calls on a local file, and its
durable commit (an fsync, with the interpreter lock released) is what every job of the
batch awaits anyway. A writer thread would share the interpreter lock with the loop, and
each of the loop's socket reads and writes releases the lock: the writer takes it, and the
loop waits for it back — measured on placement, the thread cost a third of the
throughput. Otherwise (PostgreSQL: round trips to a server) a writer thread is taken from
a small pool shared by every committer of the process for each batch, so the loop keeps
serving while the batch waits on the network; an idle platform holds no thread. Each
job's outcome is handed to its own event loop (a batch may serve several loops: tests run
an app per loop), one call per loop and batch.

``run`` has :class:`~vintry.db.group_commit.GroupCommitter`'s contract: an outcome per job
(a result, or an exception raised to that job's awaiter); an exception escaping ``run``
fails every job of the batch with it. A job whose awaiter is cancelled (the client went
away) is still written — it was queued — and its outcome is dropped: the idempotency
record answers the retry.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from vintry.db.group_commit import hand_outcomes, run_outcomes

J = TypeVar("J")
R = TypeVar("R")

_writers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vintry-writer")
"""The threads that write batches, shared by every committer (one batch at a time each)."""


class AsyncGroupCommitter(Generic[J, R]):
    """Runs awaited jobs in batches, one batch at a time, on a writer thread (or on the
    event loop, ``inline``)."""

    def __init__(
        self,
        run: Callable[[Sequence[J]], Sequence[R | BaseException]],
        *,
        max_batch: int = 32,
        gather_seconds: float = 0.002,
        inline: bool = False,
    ) -> None:
        self._run = run
        self._inline = inline
        self._max_batch = max_batch
        self._gather_seconds = gather_seconds
        self._lock = threading.Lock()
        self._queue: list[tuple[J, asyncio.Future[R]]] = []
        self._busy = False
        """A batch is being written, or one is about to start (a loop is gathering it)."""
        self.batches = 0
        """Batches run so far (for metrics and tests)."""
        self.jobs = 0
        """Jobs run so far."""

    async def submit(self, job: J) -> R:
        """Run *job* in a coming batch and return its result (or raise its exception)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._lock:
            self._queue.append((job, future))
            start = not self._busy
            self._busy = True
        if start:
            loop.call_soon(self._gather, 0, time.monotonic() + self._gather_seconds)
        return await future

    def _gather(self, seen: int, deadline: float) -> None:
        """On an event loop: start the batch once a pass of the loop queued nothing new
        (or the batch is full, or the bound is reached); else look again after one more."""
        with self._lock:
            queued = len(self._queue)
        if queued == seen or queued >= self._max_batch or time.monotonic() >= deadline:
            if self._inline:
                self._write()
            else:
                _writers.submit(self._write)
        else:
            asyncio.get_running_loop().call_soon(self._gather, queued, deadline)

    def _write(self) -> None:
        """On a writer thread (or the loop, ``inline``): one batch; then the next one is
        gathered, or the committer goes idle."""
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        outcomes = run_outcomes(self._run, [job for job, _ in batch])
        self.batches += 1
        self.jobs += len(batch)
        hand_outcomes([future for _, future in batch], outcomes)
        self._next()

    def _next(self) -> None:
        """After a batch: the jobs queued meanwhile are gathered on their loop (which is
        about to answer the batch just written), or the committer goes idle."""
        with self._lock:
            if not self._queue:
                self._busy = False
                return
            loop = self._queue[0][1].get_loop()
        try:
            loop.call_soon_threadsafe(self._gather, -1, time.monotonic() + self._gather_seconds)
        except RuntimeError:  # that loop is closed: the queued jobs are written all the same
            self._write()
