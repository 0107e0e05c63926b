"""Values read from HQ that stay valid while a change counter stands still.

A worker process reads the change counters once per request (``Platform.refresh``). Data
that changes rarely and is read on every order — the catalog as a site prices it, the
warehouses, resolved site settings — is kept here under the counter versions it was read
at. A change bumps its counter in the same transaction (see ``vintry.db.counters``), so the
next request anywhere sees a new version and reads afresh: no invalidation messages, no
time-to-live, and a stale entry can never be served once the counter moved.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Version = tuple[int, ...]


class VersionedCache(Generic[K, V]):
    """A bounded map whose entries are valid only at the version they were stored with."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[K, tuple[Version, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, version: Version) -> V | None:
        """The value stored for *key* at *version*, or ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: K, version: Version, value: V) -> None:
        """Store *value* for *key* at *version*; an older version's entry is replaced."""
        with self._lock:
            current = self._entries.get(key)
            if current is not None and current[0] > version:
                return  # a newer read won the race: keep it
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (tests that change HQ behind the services' back)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
