"""The batch of attempts: a fixed handful of statements whatever its size, decisions in
arrival order within it, and each attempt given the hold written for it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from vintry_sdk import DealerView, VintryError

from vintry_seckill.admission import admit_batch
from vintry_seckill.attempt_batch import AttemptJob
from vintry_seckill.models import SeckillCounter, SeckillDealerUnits, SeckillHold
from vintry_seckill.schemas import HoldOut

from .conftest import EAST, Mall
from .test_seckill import counting_statements


def _job(mall: Mall, dealer: str, quantity: int = 1) -> AttemptJob:
    view = DealerView(code=dealer, name=dealer, tier="gold", site=EAST)
    return AttemptJob(mall.platform.site(EAST), "BATCH", view, quantity, timedelta(minutes=15))


def _code(outcome: HoldOut | VintryError) -> str:
    return outcome.code if isinstance(outcome, VintryError) else f"held {outcome.quantity}"


def test_a_batch_decides_in_arrival_order_in_as_many_statements_as_a_lone_attempt(
    mall: Mall,
) -> None:
    mall.sale("BATCH", quantity=11, per_dealer_limit=3)
    site = mall.platform.site(EAST)
    admit_batch(site, [_job(mall, "D1")])  # the sale's first attempt creates its counter
    lone_job = _job(mall, "D9")
    with counting_statements() as lone:
        (only,) = admit_batch(site, [lone_job])
    assert isinstance(only, HoldOut)
    jobs = [
        _job(mall, "D1", 2),  # D1 reaches its limit of 3
        _job(mall, "D2", 3),
        _job(mall, "D1", 1),  # past D1's limit: refused, its neighbours go on
        _job(mall, "D3", 3),
        _job(mall, "D4", 2),  # one unit left
        _job(mall, "D5", 1),
        _job(mall, "D6", 1),  # nothing left
    ]
    with counting_statements() as batch:
        outcomes = admit_batch(site, jobs)
    # The same statements, and one more: the batch sold the sale out, so it reads when the
    # earliest hold expires (the bound of the sold-out mark).
    assert len(batch) == len(lone) + 1
    assert "min(seckill_holds.expires_at)" in batch[-1]
    assert [_code(o) for o in outcomes] == [
        "held 2",
        "held 3",
        "seckill_limit_reached",
        "held 3",
        "seckill_not_enough_left",
        "held 1",
        "seckill_sold_out",
    ]
    with site.database.reading() as session:
        holds = {h.id: h for h in session.scalars(select(SeckillHold))}
        counter = session.get(SeckillCounter, "BATCH")
        units = {
            row.dealer_code: row.units for row in session.scalars(select(SeckillDealerUnits))
        }
    assert counter is not None and counter.taken == counter.quota == 11
    assert units == {"D1": 3, "D2": 3, "D3": 3, "D5": 1, "D9": 1}
    for job, outcome in zip(jobs, outcomes, strict=True):
        if isinstance(outcome, HoldOut):  # the hold written for this very attempt
            row = holds[outcome.id]
            assert (row.dealer_code, row.quantity) == (job.dealer.code, job.quantity)
    assert len({o.id for o in outcomes if isinstance(o, HoldOut)}) == 4


def test_interchangeable_attempts_in_one_batch_get_distinct_holds(mall: Mall) -> None:
    mall.sale("BATCH", quantity=50, per_dealer_limit=50)
    site = mall.platform.site(EAST)
    outcomes = admit_batch(site, [_job(mall, "D1") for _ in range(20)])
    ids = [o.id for o in outcomes if isinstance(o, HoldOut)]
    assert len(ids) == len(set(ids)) == 20
    assert ids == sorted(ids)  # the earlier attempt gets the earlier hold
