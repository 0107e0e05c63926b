"""The hot counter in Redis: an atomic Lua script per attempt, rebuilt from the database.

With ``VINTRY_REDIS_URL`` set (and the site's ``counter_backend`` ``auto`` or ``redis``), an
attempt first runs :data:`ADMIT` on the sale's hash: in one atomic step it refuses what the
quota or the dealer's limit cannot cover, or counts the units. Only what Redis admitted goes
on to the database, which stays **the record and the guard**: the same batch that writes
the hold moves the SQL counter with a conditional update, behind check constraints. Redis
is a cache of that counter, never the only record:

- a missing hash (first use, a Redis restart, an eviction) is loaded from the database
  (:data:`LOAD`, under a short lock so that one worker loads it);
- every change the database makes without Redis (holds expiring, orders cancelled, a
  claim given back, an attempt Redis counted but the database refused) is applied to the
  hash as a delta after the commit (:data:`APPLY`), only if the hash is still the one the
  change was measured against (its ``gen``); a hash loaded in between already reflects it;
- when Redis and the database disagree (the database refused what Redis admitted), the hash
  is dropped and loaded again.

The hash also keeps ``next_expiry``, the earliest moment an unordered hold may expire: a
refusal at or after it is answered ``recheck`` instead, so the attempt goes to the database,
whose batch expires the holds and returns their units (clock-driven: nothing sweeps Redis).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("vintry_seckill")

ADMIT = """
local s = redis.call('HMGET', KEYS[1], 'quota', 'taken', 'limit', 'next_expiry', 'gen')
if not s[1] then return {-1, 0, '', 0} end
local quota, taken, limit = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
local nexp, gen = tonumber(s[4]), s[5]
local q, now = tonumber(ARGV[2]), tonumber(ARGV[3])
local field = 'd:' .. ARGV[1]
local mine = tonumber(redis.call('HGET', KEYS[1], field) or '0')
if taken + q > quota or mine + q > limit then
  if nexp > 0 and now >= nexp then return {-2, quota - taken, gen, nexp} end
  if taken + q > quota then return {0, quota - taken, gen, nexp} end
  return {2, mine, gen, nexp}
end
redis.call('HINCRBY', KEYS[1], 'taken', q)
redis.call('HINCRBY', KEYS[1], field, q)
local expiry = now + tonumber(ARGV[4])
if nexp == 0 or expiry < nexp then redis.call('HSET', KEYS[1], 'next_expiry', expiry) end
return {1, quota - taken - q, gen, nexp}
"""
"""KEYS: the sale's hash. ARGV: dealer, units, now (ms), hold (ms).
Returns {outcome, number, gen, next expiry (ms)}: -1 missing; -2 recheck in the database (a
hold may have expired); 0 sold out (number: units left); 2 over the dealer's limit (number:
its units); 1 admitted (number: units left)."""

LOAD = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'quota', ARGV[1], 'taken', ARGV[2], 'limit', ARGV[3],
           'next_expiry', ARGV[4], 'gen', ARGV[5])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], 'd:' .. ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
"""
"""KEYS: the sale's hash. ARGV: quota, taken, limit, next expiry (ms, 0: none), gen,
time to live (ms), then dealer, units pairs."""

APPLY = """
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], 'taken', ARGV[2])
local now, candidate = tonumber(ARGV[3]), tonumber(ARGV[4])
local current = tonumber(redis.call('HGET', KEYS[1], 'next_expiry') or '0')
if candidate > 0 and (current <= now or candidate < current) then
  redis.call('HSET', KEYS[1], 'next_expiry', candidate)
end
for i = 5, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], 'd:' .. ARGV[i], ARGV[i + 1]) end
return 1
"""
"""KEYS: the sale's hash. ARGV: gen, taken delta, now (ms), next expiry candidate (ms, 0:
keep), then dealer, units-delta pairs. Applies nothing to a hash of another generation."""


@dataclass(frozen=True)
class Verdict:
    """What :data:`ADMIT` answered."""

    outcome: str
    """``admitted``, ``sold_out``, ``over_limit``, ``recheck`` or ``missing``."""
    number: int
    gen: str
    next_expiry: datetime | None
    """The earliest moment an unordered hold may expire, as the hash knows it."""


_OUTCOMES = {-1: "missing", -2: "recheck", 0: "sold_out", 1: "admitted", 2: "over_limit"}


def _verdict(raw: Any) -> Verdict:
    outcome, number, gen, expiry = raw
    text = gen.decode() if isinstance(gen, bytes) else str(gen or "")
    moment = datetime.fromtimestamp(int(expiry) / 1000, UTC) if int(expiry) else None
    return Verdict(_OUTCOMES[int(outcome)], int(number), text, moment)


@dataclass(frozen=True)
class CounterState:
    """A sale's counter as the database holds it, to load into Redis."""

    quota: int
    taken: int
    limit: int
    dealers: Mapping[str, int]
    next_expiry: datetime | None
    keep_for: timedelta
    """How long Redis keeps the hash (relative: Redis's clock is not the platform's)."""


def millis(moment: datetime) -> int:
    """*moment* as milliseconds since the Unix epoch."""
    return int(moment.timestamp() * 1000)


class RedisCounter:
    """The hot counters of one deployment on one Redis server."""

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self._client: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._admit = self._client.register_script(ADMIT)
        self._load = self._client.register_script(LOAD)
        self._apply = self._client.register_script(APPLY)
        self._async_admit: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    @staticmethod
    def key(database_url: str, campaign: str) -> str:
        """The hash of *campaign* in the site database *database_url* (a digest of the URL
        keeps deployments and sites sharing a Redis server apart)."""
        digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
        return f"vintry:seckill:{digest}:{campaign}"

    def admit(self, key: str, dealer: str, units: int, now: datetime, hold_ms: int) -> Verdict:
        """Run :data:`ADMIT`."""
        return _verdict(self._admit(keys=[key], args=[dealer, units, millis(now), hold_ms]))

    async def admit_async(
        self, key: str, dealer: str, units: int, now: datetime, hold_ms: int
    ) -> Verdict:
        """Run :data:`ADMIT` from a coroutine, without blocking its event loop."""
        loop = asyncio.get_running_loop()
        script = self._async_admit.get(loop)
        if script is None:
            import redis.asyncio

            # A client per event loop: an asyncio connection belongs to the loop that made it.
            client = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=5, socket_connect_timeout=5
            )
            script = self._async_admit[loop] = client.register_script(ADMIT)
        return _verdict(await script(keys=[key], args=[dealer, units, millis(now), hold_ms]))

    def generation(self, key: str) -> str | None:
        """The generation of the hash *key* (None when it is not loaded)."""
        found = self._client.hget(key, "gen")
        if found is None:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)

    def load(self, key: str, state: CounterState) -> str:
        """Replace the hash with *state*; returns its new generation."""
        gen = uuid.uuid4().hex
        pairs: list[Any] = []
        for dealer, units in sorted(state.dealers.items()):
            pairs += [dealer, units]
        expiry = millis(state.next_expiry) if state.next_expiry else 0
        keep_ms = max(int(state.keep_for.total_seconds() * 1000), 1)
        self._load(
            keys=[key],
            args=[state.quota, state.taken, state.limit, expiry, gen, keep_ms, *pairs],
        )
        return gen

    def apply(
        self,
        key: str,
        gen: str,
        *,
        taken: int,
        dealers: Mapping[str, int],
        now: datetime,
        next_expiry: datetime | None,
    ) -> bool:
        """Apply deltas the database made to the hash of generation *gen*; False if the hash
        is of another generation (or gone), which then needs no delta."""
        pairs: list[Any] = []
        for dealer, units in sorted(dealers.items()):
            if units:
                pairs += [dealer, units]
        expiry = millis(next_expiry) if next_expiry else 0
        return bool(
            self._apply(keys=[key], args=[gen, taken, millis(now), expiry, *pairs])
        )

    def lock(self, key: str) -> bool:
        """Take the short lock that lets one worker load *key*."""
        return bool(self._client.set(f"{key}:loading", "1", nx=True, px=5000))

    def unlock(self, key: str) -> None:
        """Release the loading lock."""
        self._client.delete(f"{key}:loading")

    def drop(self, key: str) -> None:
        """Forget the hash: the next attempt loads it from the database."""
        self._client.delete(key)

    def read(self, key: str) -> dict[str, int]:
        """The hash's counters (for operators and tests)."""
        raw = self._client.hgetall(key)
        found: dict[str, int] = {}
        for name, value in raw.items():
            label = name.decode() if isinstance(name, bytes) else str(name)
            if label != "gen":
                found[label] = int(value)
        return found

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


_counters: dict[str, RedisCounter] = {}
_counters_lock = threading.Lock()


def counter_for(url: str) -> RedisCounter:
    """The process's client of the Redis server at *url*."""
    found = _counters.get(url)
    if found is None:
        with _counters_lock:
            found = _counters.get(url)
            if found is None:
                found = RedisCounter(url)
                _counters[url] = found
    return found
