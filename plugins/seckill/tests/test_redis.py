"""The Redis path: the hot counter in an atomic script, the database the record.

Needs ``VINTRY_TEST_REDIS_URL`` (skipped otherwise). The platform under test is pointed at
that server; its keys are namespaced by the site database, so runs never share a hash.
"""

from __future__ import annotations

import pytest

from vintry_seckill.admission import redis_counter
from vintry_seckill.redis_counter import RedisCounter

from .conftest import EAST, Mall, error_code


@pytest.fixture
def redis_mall(mall: Mall, vintry_redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Mall:
    """The mall, its platform counting flash sales in Redis."""
    monkeypatch.setattr(mall.platform.settings, "redis_url", vintry_redis_url)
    return mall


def _hash(mall: Mall, code: str = "FLASH") -> dict[str, int]:
    site = mall.platform.site(EAST)
    counter = redis_counter(site)
    assert counter is not None
    return counter.read(RedisCounter.key(site.database.url, code))


def test_redis_counts_first_and_the_database_agrees(redis_mall: Mall) -> None:
    mall = redis_mall
    mall.sale(quantity=3, per_dealer_limit=2)
    assert mall.grab("east-gold", quantity=2).status_code == 201
    assert mall.status()["backend"] == "redis"
    found = _hash(mall)
    assert (found["quota"], found["taken"], found["limit"], found["d:D-EAST-GOLD"]) == (3, 2, 2, 2)
    over = mall.grab("east-gold")
    assert (over.status_code, error_code(over)) == (409, "seckill_limit_reached")
    assert mall.grab("east-silver").status_code == 201
    sold = mall.grab("east-bronze")
    assert (sold.status_code, error_code(sold)) == (409, "seckill_sold_out")
    status = mall.status()
    assert (status["taken"], status["held"]) == (3, 3) and _hash(mall)["taken"] == 3


def test_a_lost_hash_is_rebuilt_from_the_database(redis_mall: Mall) -> None:
    mall = redis_mall
    mall.sale(quantity=5, per_dealer_limit=2)
    assert mall.grab("east-gold", quantity=2).status_code == 201
    site = mall.platform.site(EAST)
    counter = redis_counter(site)
    assert counter is not None
    counter.drop(RedisCounter.key(site.database.url, "FLASH"))  # a Redis restart
    over = mall.grab("east-gold")
    assert (over.status_code, error_code(over)) == (409, "seckill_limit_reached")
    assert _hash(mall)["taken"] == 2
    assert mall.grab("east-silver", quantity=2).status_code == 201
    rebuilt = mall.operator[EAST].post("/api/v1/x/seckill/sales/FLASH/counter/rebuild")
    assert rebuilt.status_code == 200, rebuilt.text
    assert rebuilt.json()["redis"]["taken"] == rebuilt.json()["taken"] == 4


def test_expired_holds_return_to_the_redis_counter_by_the_clock(redis_mall: Mall) -> None:
    mall = redis_mall
    mall.sale(quantity=2, per_dealer_limit=2, hold_minutes=5)
    assert mall.grab("east-gold", quantity=2).status_code == 201
    assert error_code(mall.grab("east-silver")) == "seckill_sold_out"
    mall.platform.clock.advance(minutes=5)  # type: ignore[attr-defined]
    won = mall.grab("east-silver")  # Redis says recheck; the database expires the hold
    assert won.status_code == 201, won.text
    assert _hash(mall)["taken"] == 1 and mall.status()["taken"] == 1
    assert mall.grab("east-gold", quantity=1).status_code == 201
    assert _hash(mall)["taken"] == 2
