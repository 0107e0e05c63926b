"""Placing an order: a saga across the site database and HQ that never leaks.

1. The idempotency record is written (HQ) before anything else.
2. The cart is priced (HQ reads; plugins propose, the kernel chooses).
3. Plugins' claims are held *pending* in the site database.
4. One HQ transaction: sourcing, the stock holds (conditional updates), the order, its
   lines and allocations, the outbox event and the idempotency record's completion.
5. The claims are confirmed. If step 4 fails, they are released through the plugins'
   ``vintry_release_resources``; if the process dies, the claims sweeper releases pending
   claims whose order never reached HQ, and the idempotency lease lets a retry take over.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from vintry.contracts import (
    DealerView,
    OrderDraft,
    ResourceClaim,
    SourcingPlan,
    SourcingRequest,
    WarehouseOption,
)
from vintry.dealers.models import Dealer
from vintry.errors import Conflict, InvalidInput, ServiceUnavailable, VintryError
from vintry.events.outbox import EventType, record_event
from vintry.inventory import stock
from vintry.inventory.models import Warehouse
from vintry.inventory.service import eligible_warehouse_ids
from vintry.money import from_fen
from vintry.orders import idempotency
from vintry.orders.models import (
    ClaimStatus,
    Order,
    OrderAllocation,
    OrderLine,
    OrderStatus,
    ResourceClaimRecord,
)
from vintry.orders.pricing import LineInput, PricedCart, price_lines
from vintry.orders.schemas import PlaceOrder
from vintry.platform import Platform, SiteContext
from vintry.sites.directory import SiteDirectory

log = logging.getLogger("vintry.orders")
DEFAULT_STRATEGY = "priority-nearest"
RESERVE_ATTEMPTS = 3


@dataclass(frozen=True)
class _Prepared:
    """What the HQ transaction needs, read before it starts."""

    directory: SiteDirectory
    hold_minutes: int


@dataclass(frozen=True)
class PlacementResult:
    """The HTTP status and exact body of a placement (first time or replayed)."""

    status: int
    body: bytes
    replayed: bool = False


def new_order_number(now_ms: int) -> str:
    """``VO`` + 10 base-32 digits of milliseconds + 6 random: sortable, unique across workers
    (the unique constraint is the backstop)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    digits = []
    value = now_ms
    for _ in range(10):
        value, digit = divmod(value, 32)
        digits.append(alphabet[digit])
    stamp = "".join(reversed(digits))
    return f"VO{stamp}{''.join(secrets.choice(alphabet) for _ in range(6))}"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def error_body(error: VintryError) -> bytes:
    """The error model's body for *error*, as the API would send it."""
    from vintry.context import current_request_id

    return _dumps(
        {
            "error": {
                "code": error.code,
                "message": error.message,
                "field": error.field,
                "request_id": current_request_id.get(),
                "details": error.details,
            }
        }
    )


def place_order(
    platform: Platform,
    *,
    site_code: str,
    dealer_id: int,
    request: PlaceOrder | Callable[[], PlaceOrder],
    idempotency_key: str,
    raw_body: bytes,
    kind: str = "order",
) -> PlacementResult:
    """Place an order for the dealer at the site, exactly once per idempotency key.

    *request* may be a function building it (a checkout reads the cart only once the key
    is held, so a retry after the cart was emptied still gets the first answer). *raw_body*
    is what the key is bound to; *kind* separates keys of different endpoints.
    """
    scope = f"{kind}:{site_code}:{dealer_id}"
    begun = idempotency.begin(
        platform,
        scope=scope,
        key=idempotency_key,
        fingerprint=idempotency.request_hash(raw_body),
    )
    if isinstance(begun, idempotency.StoredResponse):
        return PlacementResult(begun.status, begun.body, replayed=True)
    try:
        built = request() if callable(request) else request
        return _place(platform, site_code, dealer_id, built, begun.record_id)
    except VintryError as error:
        # A refusal is the request's answer: retries get the same one.
        response = idempotency.StoredResponse(error.status_code, error_body(error))
        with platform.hq.transaction() as session:
            idempotency.complete(session, begun.record_id, response, now=platform.clock.now())
        return PlacementResult(response.status, response.body)
    except Exception:
        idempotency.abandon(platform, begun.record_id)
        raise


def _place(
    platform: Platform, site_code: str, dealer_id: int, request: PlaceOrder, record_id: int
) -> PlacementResult:
    directory, state = platform.refresh()
    site = platform.site(site_code, directory, state)
    now = platform.clock.now()
    lines = [LineInput(line.sku, line.quantity) for line in request.lines]
    with platform.hq.reading() as session:  # one connection: nothing below opens another
        dealer = _dealer_view(session, site, dealer_id)
        priced = price_lines(session, site, dealer, lines, now, directory=directory)
    number = new_order_number(int(now.timestamp() * 1000))
    draft = OrderDraft(
        number=number,
        site=site.code,
        dealer=dealer,
        lines=priced.draft.lines,
        adjustments=(),
        total=from_fen(priced.total_fen),
    )
    # Everything the HQ transaction needs besides its own session is read now: a session
    # opened inside it would need a second pooled connection while holding the write lock,
    # and a pool drained by writers waiting for that lock would then never give one back.
    prepared = _Prepared(
        directory=directory,
        hold_minutes=int(_site_setting(site, "reservation_minutes", 30)),
    )
    claims = _claim(site, draft, now)
    platform.fault_point("after_claims")
    try:
        body = _commit_order(
            platform, site, dealer_id, dealer, priced, number, request, record_id, prepared
        )
    except BaseException as error:
        if isinstance(error, Exception):
            _release_claims(site, number, claims)
        raise
    platform.fault_point("after_hq_commit")
    if any(claims.values()):  # no site write at all for the common order without claims
        _close_claims(site, number, ClaimStatus.CONFIRMED)
    return PlacementResult(201, body)


def _dealer_view(session: Session, site: SiteContext, dealer_id: int) -> DealerView:
    dealer = session.get(Dealer, dealer_id)
    if dealer is None or dealer.site_id != site.node.id or not dealer.active:
        raise InvalidInput(
            "the dealer cannot order at this site", code="dealer_inactive", field="dealer"
        )
    return DealerView(
        code=dealer.code,
        name=dealer.name,
        tier=dealer.tier.value,
        tags=tuple(dealer.tags),
        site=site.code,
    )


# --- saga: claims in the site database -----------------------------------------------


def _claim(site: SiteContext, draft: OrderDraft, now: Any) -> dict[str, list[ResourceClaim]]:
    claims: dict[str, list[ResourceClaim]] = {}
    try:
        for impl in site.hooks.implementations("vintry_claim_resources"):
            arguments = {"draft": draft, "site": site}
            result = cast(
                "list[ResourceClaim]",
                impl.function(**{name: arguments[name] for name in impl.argnames}) or [],
            )
            claims[impl.plugin_name] = list(result)
            if result:
                with site.database.transaction() as session:
                    session.execute(
                        insert(ResourceClaimRecord),
                        [
                            {
                                "order_number": draft.number,
                                "plugin": impl.plugin_name,
                                "resource": claim.resource,
                                "quantity": claim.quantity,
                                "payload": claim.payload,
                                "status": ClaimStatus.PENDING.value,
                                "created_at": now,
                                "closed_at": None,
                                "note": None,
                            }
                            for claim in result
                        ],
                    )
    except Exception as error:
        _release_claims(site, draft.number, claims)
        if isinstance(error, VintryError):
            raise
        raise ServiceUnavailable(
            f"a plugin failed while claiming resources: {type(error).__name__}: {error}",
            code="claim_plugin_failed",
        ) from error
    return claims


def _release_claims(site: SiteContext, number: str, claims: dict[str, list[ResourceClaim]]) -> None:
    for impl in site.hooks.implementations("vintry_release_resources"):
        own = claims.get(impl.plugin_name)
        if not own:
            continue
        try:
            impl.function(**{name: {"claims": own, "site": site}[name] for name in impl.argnames})
        except Exception:
            # The sweeper retries: the claims stay pending until a release succeeds.
            log.exception("plugin %s failed to release claims of %s", impl.plugin_name, number)
            continue
        with site.database.transaction() as session:
            session.execute(
                update(ResourceClaimRecord)
                .where(
                    ResourceClaimRecord.order_number == number,
                    ResourceClaimRecord.plugin == impl.plugin_name,
                    ResourceClaimRecord.status == ClaimStatus.PENDING.value,
                )
                .values(status=ClaimStatus.RELEASED.value, closed_at=site.platform.clock.now())
            )


def _close_claims(site: SiteContext, number: str, status: ClaimStatus) -> None:
    with site.database.transaction() as session:
        session.execute(
            update(ResourceClaimRecord)
            .where(
                ResourceClaimRecord.order_number == number,
                ResourceClaimRecord.status == ClaimStatus.PENDING.value,
            )
            .values(status=status.value, closed_at=site.platform.clock.now())
        )


# --- the HQ transaction --------------------------------------------------------------


def _commit_order(
    platform: Platform,
    site: SiteContext,
    dealer_id: int,
    dealer: DealerView,
    priced: PricedCart,
    number: str,
    request: PlaceOrder,
    record_id: int,
    prepared: _Prepared,
) -> bytes:
    last: Conflict | None = None
    for _attempt in range(RESERVE_ATTEMPTS):
        try:
            with platform.hq.transaction() as session:
                return _write_order(
                    platform,
                    session,
                    site,
                    dealer_id,
                    dealer,
                    priced,
                    number,
                    request,
                    record_id,
                    prepared,
                )
        except stock.OutOfStock as error:
            # Another order took the stock sourcing counted on (PostgreSQL runs orders in
            # parallel): source again from what is left, a bounded number of times.
            last = error
    assert last is not None
    raise last


def _write_order(
    platform: Platform,
    session: Session,
    site: SiteContext,
    dealer_id: int,
    dealer: DealerView,
    priced: PricedCart,
    number: str,
    request: PlaceOrder,
    record_id: int,
    prepared: _Prepared,
) -> bytes:
    now = platform.clock.now()
    plan, warehouses = _source(platform, session, site, dealer, priced, now, prepared.directory)
    sku_ids = {line.sku: line.sku_id for line in priced.lines}
    holds = [
        stock.Hold(warehouses[a.warehouse].id, sku_ids[a.sku], a.quantity) for a in plan.allocations
    ]
    pay_by = now + timedelta(minutes=prepared.hold_minutes)
    reservation_ids = stock.reserve(
        session, reference=number, holds=holds, now=now, expires_at=pay_by
    )
    by_key = dict(
        zip(sorted({(h.warehouse_id, h.sku_id) for h in holds}), reservation_ids, strict=True)
    )
    order = Order(
        number=number,
        site_id=site.node.id,
        dealer_id=dealer_id,
        status=OrderStatus.PLACED.value,
        subtotal_fen=priced.subtotal_fen,
        discount_fen=priced.discount_fen,
        total_fen=priced.total_fen,
        pricing=priced.breakdown(),
        sourcing={"strategy": plan.strategy, "explanation": plan.explanation},
        note=request.note,
        placed_at=now,
        pay_by=pay_by,
        paid_at=None,
        cancelled_at=None,
        cancel_reason=None,
        updated_at=now,
    )
    session.add(order)
    session.flush()
    line_rows = session.execute(  # one multi-row INSERT; ids matched back by SKU
        insert(OrderLine).returning(OrderLine.id, OrderLine.sku_code),
        [
            {
                "order_id": order.id,
                "line_no": line.index + 1,
                "sku_id": line.sku_id,
                "sku_code": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "base_unit_fen": line.base_unit_fen,
                "unit_fen": line.unit_fen,
                "discount_fen": line.discount_fen,
                "total_fen": line.total_fen,
                "shipped_quantity": 0,
                "returned_quantity": 0,
            }
            for line in priced.lines
        ],
    ).all()
    line_of = {sku: line_id for line_id, sku in line_rows}
    session.execute(
        insert(OrderAllocation),
        [
            {
                "order_id": order.id,
                "line_id": line_of[a.sku],
                "warehouse_id": warehouses[a.warehouse].id,
                "quantity": a.quantity,
                "reservation_id": by_key[(warehouses[a.warehouse].id, sku_ids[a.sku])],
            }
            for a in plan.allocations
        ],
    )
    allocations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in plan.allocations:
        allocations[a.sku].append({"warehouse": a.warehouse, "quantity": a.quantity})
    payload = {
        "number": number,
        "site": site.code,
        "dealer": dealer.code,
        "status": order.status,
        "subtotal": str(from_fen(order.subtotal_fen)),
        "discount": str(from_fen(order.discount_fen)),
        "total": str(from_fen(order.total_fen)),
        "placed_at": now.isoformat(),
        "pay_by": pay_by.isoformat(),
        "lines": [
            {
                "line_no": line.index + 1,
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "base_unit_price": str(from_fen(line.base_unit_fen)),
                "unit_price": str(from_fen(line.unit_fen)),
                "discount": str(from_fen(line.discount_fen)),
                "total": str(from_fen(line.total_fen)),
                "allocations": allocations[line.sku],
            }
            for line in priced.lines
        ],
        "pricing": order.pricing,
        "sourcing": order.sourcing,
    }
    record_event(
        session,
        type=EventType.ORDER_PLACED,
        site=site.code,
        payload={"number": number, "dealer": dealer.code, "total": payload["total"]},
        now=now,
    )
    body = _dumps(payload)
    idempotency.complete(session, record_id, idempotency.StoredResponse(201, body), now=now)
    return body


def _site_setting(site: SiteContext, name: str, default: Any) -> Any:
    from vintry.sites.api import SITE_SETTINGS
    from vintry.sites.configuration import resolve_configuration

    return resolve_configuration(site.platform, SITE_SETTINGS, site.code).values.get(name, default)


def _source(
    platform: Platform,
    session: Session,
    site: SiteContext,
    dealer: DealerView,
    priced: PricedCart,
    now: Any,
    directory: SiteDirectory,
) -> tuple[SourcingPlan, dict[str, Warehouse]]:
    ids = eligible_warehouse_ids(session, directory, site.code)
    rows = list(session.scalars(select(Warehouse).where(Warehouse.id.in_(ids))))
    by_id = {w.id: w for w in rows}
    sku_codes = {line.sku_id: line.sku for line in priced.lines}
    available = stock.available(session, sku_ids=list(sku_codes), warehouse_ids=ids, now=now)
    options = tuple(
        WarehouseOption(
            code=w.code,
            region=directory.by_id(w.region_site_id).code if w.region_site_id else None,
            latitude=w.latitude,
            longitude=w.longitude,
            priority=w.priority,
            available={sku_codes[s]: units.get(w.id, 0) for s, units in available.items()},
        )
        for w in rows
    )
    destination = next(
        (
            (w.latitude, w.longitude)
            for w in sorted(rows, key=lambda w: w.priority)
            if w.region_site_id == _region_id(site)
        ),
        None,
    )
    request = SourcingRequest(
        site=site.code,
        dealer=dealer,
        lines={line.sku: line.quantity for line in priced.lines},
        warehouses=options,
        destination=destination,
    )
    strategies = platform.plugins.sourcing_strategies()
    _owner, strategy = strategies[DEFAULT_STRATEGY]
    plan = strategy(request)
    _check_plan(plan, request)
    return plan, {w.code: w for w in by_id.values()}


def _region_id(site: SiteContext) -> int | None:
    for node in reversed(site.path):
        if node.kind.value == "region":
            return node.id
    return None


def _check_plan(plan: SourcingPlan, request: SourcingRequest) -> None:
    covered: dict[str, int] = defaultdict(int)
    known = {option.code for option in request.warehouses}
    for allocation in plan.allocations:
        if allocation.warehouse not in known:
            raise ServiceUnavailable(
                f"sourcing chose warehouse {allocation.warehouse!r}, which may not ship this order",
                code="sourcing_failed",
            )
        covered[allocation.sku] += allocation.quantity
    if dict(covered) != request.lines:
        raise ServiceUnavailable(
            "the sourcing plan does not cover the order exactly", code="sourcing_failed"
        )


def sweep_claims(
    platform: Platform, *, older_than: timedelta = timedelta(minutes=5)
) -> dict[str, int]:
    """Settle pending claims left by a crash: confirmed if their order reached HQ,
    released (through the plugins) if it did not. Returns counts per outcome."""
    cutoff = platform.clock.now() - older_than
    outcome = {"confirmed": 0, "released": 0}
    for node in platform.directory().nodes.values():
        site = platform.site(node.code)
        with site.database.reading() as session:
            pending = (
                session.execute(
                    select(ResourceClaimRecord).where(
                        ResourceClaimRecord.status == ClaimStatus.PENDING.value,
                        ResourceClaimRecord.created_at <= cutoff,
                    )
                )
                .scalars()
                .all()
            )
        if not pending:
            continue
        numbers = {claim.order_number for claim in pending}
        with platform.hq.reading() as session:
            placed = set(session.scalars(select(Order.number).where(Order.number.in_(numbers))))
        for number in sorted(numbers):
            mine = [c for c in pending if c.order_number == number]
            if number in placed:
                _close_claims(site, number, ClaimStatus.CONFIRMED)
                outcome["confirmed"] += len(mine)
                continue
            grouped: dict[str, list[ResourceClaim]] = defaultdict(list)
            for claim in mine:
                grouped[claim.plugin].append(
                    ResourceClaim(
                        resource=claim.resource, quantity=claim.quantity, payload=claim.payload
                    )
                )
            _release_claims(site, number, dict(grouped))
            outcome["released"] += len(mine)
    return outcome
