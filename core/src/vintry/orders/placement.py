"""Placing an order: exactly once per idempotency key, never overselling, never leaking.

Two paths, one outcome:

* **No claims** (no plugin enabled on the site implements ``vintry_claim_resources`` —
  the common case): the order is priced on the request's thread, then written in **one HQ
  transaction** together with its stock holds, lines, allocations, outbox event and its
  idempotency record, completed with the response bytes. That transaction is shared with
  the other orders of the same moment (group commit, :mod:`vintry.orders.order_writer`):
  one durable commit for all of them. Nothing is written before it, so a crash at any
  point leaves nothing behind, and a retry either finds the record (and replays it) or
  places the order afresh. This is ARCHITECTURE §5's "record first" in its strongest form:
  the record and the effect are one commit.
* **With claims**, the saga of ARCHITECTURE §5:

  1. the idempotency record is written *in progress* (HQ) before anything else;
  2. the cart is priced (HQ reads; plugins propose, the kernel chooses);
  3. plugins' claims are held *pending* in the site database;
  4. the HQ transaction as above (batched too), completing the record;
  5. the claims are confirmed. If step 4 fails, they are released through the plugins'
     ``vintry_release_resources``; if the process dies, the claims sweeper releases
     pending claims whose order never reached HQ, and the idempotency lease lets a retry
     take over.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from vintry.contracts import DealerView, OrderDraft, ResourceClaim
from vintry.dealers.models import Dealer
from vintry.errors import InvalidInput, ServiceUnavailable, VintryError
from vintry.money import from_fen
from vintry.orders import idempotency, order_writer
from vintry.orders.models import ClaimStatus, Order, ResourceClaimRecord
from vintry.orders.order_writer import (
    InProgress,
    Job,
    Key,
    PlacementResult,
    PreparedOrder,
    error_body,
)
from vintry.orders.pricing import LineInput, price_lines
from vintry.orders.schemas import PlaceOrder
from vintry.platform import SITES_COUNTER, Platform, SiteContext
from vintry.sites.directory import SiteDirectory

__all__ = ["PlacementResult", "error_body", "new_order_number", "place_order", "sweep_claims"]

log = logging.getLogger("vintry.orders")
SITE_SETTINGS_COUNTER = "site_settings"


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


def place_order(
    platform: Platform,
    *,
    site_code: str,
    dealer_id: int,
    request: PlaceOrder | Callable[[], PlaceOrder],
    idempotency_key: str,
    raw_body: bytes,
    kind: str = "order",
    site: SiteContext | None = None,
    directory: SiteDirectory | None = None,
    dealer: DealerView | None = None,
) -> PlacementResult:
    """Place an order for the dealer at the site, exactly once per idempotency key.

    *request* may be a function building it (a checkout reads the cart): if it fails on a
    retry — the cart was emptied by the first attempt — the first answer is still
    returned. *raw_body* is what the key is bound to; *kind* separates keys of different
    endpoints. A request that already ran ``refresh()`` passes its *site* and *directory*,
    and the *dealer* its token was read with (an inactive dealer is passed as ``None``).
    """
    from vintry.context import current_request_id

    if site is None or directory is None:
        directory, state = platform.refresh()
        site = platform.site(site_code, directory, state)
    fingerprint = idempotency.request_hash(raw_body)
    key = Key(f"{kind}:{site_code}:{dealer_id}", idempotency_key, fingerprint)
    request_id = current_request_id.get()
    try:
        built = request() if callable(request) else request
        order = _prepare(platform, site, directory, dealer_id, dealer, built)
    except VintryError as error:
        job = Job(key=key, request_id=request_id, refusal=error)
    else:
        if _claims_needed(site, order):
            return _saga(platform, key, order)
        job = Job(key=key, request_id=request_id, order=order)
    try:
        result = order_writer.submit(platform, job)
    except InProgress:
        # The key is held by a placement on the saga path: wait for it as the saga does.
        return _saga(platform, key, job.order, refusal=job.refusal)
    platform.fault_point("after_hq_commit")
    return result


def _claims_needed(site: SiteContext, order: PreparedOrder) -> bool:
    """Whether the order goes through the saga: a plugin enabled here may claim resources
    (the kernel's own claim hooks — campaign budgets — claim only for applied adjustments)."""
    hooks = site.hooks.implementations("vintry_claim_resources")
    if not hooks:
        return False
    builtin = site.platform.plugins.builtin_names()
    return bool(order.priced.adjustments) or any(h.plugin_name not in builtin for h in hooks)


def _prepare(
    platform: Platform,
    site: SiteContext,
    directory: SiteDirectory,
    dealer_id: int,
    dealer: DealerView | None,
    request: PlaceOrder,
) -> PreparedOrder:
    now = platform.clock.now()
    lines = [LineInput(line.sku, line.quantity) for line in request.lines]
    with platform.hq.reading() as session:  # one connection: nothing below opens another
        if dealer is None:
            dealer = _dealer_view(session, site, dealer_id)
        elif dealer.site != site.code:
            raise _dealer_inactive()
        priced = price_lines(session, site, dealer, lines, now, directory=directory)
    return PreparedOrder(
        site=site,
        directory=directory,
        dealer_id=dealer_id,
        dealer=dealer,
        priced=priced,
        number=new_order_number(int(now.timestamp() * 1000)),
        note=request.note,
        hold_minutes=_hold_minutes(site),
    )


def _hold_minutes(site: SiteContext) -> int:
    """The site's ``reservation_minutes``, cached until site settings or the tree change."""
    from vintry.sites.api import SITE_SETTINGS
    from vintry.sites.configuration import resolve_configuration

    version = site.versions(SITE_SETTINGS_COUNTER, SITES_COUNTER)
    cacheable = min(version) >= 0
    cache = site.platform.cache("site_settings")
    found = cache.get(site.code, version) if cacheable else None
    if found is None:
        values = resolve_configuration(site.platform, SITE_SETTINGS, site.code).values
        found = int(values.get("reservation_minutes", 30))
        if cacheable:
            cache.put(site.code, version, found)
    return int(found)


def _dealer_inactive() -> InvalidInput:
    return InvalidInput(
        "the dealer cannot order at this site", code="dealer_inactive", field="dealer"
    )


def _dealer_view(session: Session, site: SiteContext, dealer_id: int) -> DealerView:
    dealer = session.get(Dealer, dealer_id)
    if dealer is None or dealer.site_id != site.node.id or not dealer.active:
        raise _dealer_inactive()
    return DealerView(
        code=dealer.code,
        name=dealer.name,
        tier=dealer.tier.value,
        tags=tuple(dealer.tags),
        site=site.code,
    )


# --- the saga: sites where plugins claim resources -------------------------------------


def _saga(
    platform: Platform,
    key: Key,
    order: PreparedOrder | None,
    *,
    refusal: VintryError | None = None,
) -> PlacementResult:
    """Record first, then claims, then the HQ transaction (see the module's docstring).

    *refusal* is the answer when the request could not even be priced (then there is no
    *order*): stored once this request holds the key, unless an earlier answer exists."""
    begun = idempotency.begin(platform, scope=key.scope, key=key.key, fingerprint=key.fingerprint)
    if isinstance(begun, idempotency.StoredResponse):
        return PlacementResult(begun.status, begun.body, replayed=True)
    try:
        if order is None:
            assert refusal is not None
            raise refusal
        return _place_with_claims(platform, order, key, begun.record_id)
    except VintryError as error:
        # A refusal is the request's answer: retries get the same one.
        response = idempotency.StoredResponse(error.status_code, error_body(error))
        with platform.hq.transaction() as session:
            idempotency.complete(session, begun.record_id, response, now=platform.clock.now())
        return PlacementResult(response.status, response.body)
    except Exception:
        idempotency.abandon(platform, begun.record_id)
        raise


def _place_with_claims(
    platform: Platform, order: PreparedOrder, key: Key, record_id: int
) -> PlacementResult:
    from vintry.context import current_request_id

    site = order.site
    draft = OrderDraft(
        number=order.number,
        site=site.code,
        dealer=order.dealer,
        lines=order.priced.draft.lines,
        adjustments=order.priced.adjustments,
        total=from_fen(order.priced.total_fen),
    )
    claims = _claim(site, draft, platform.clock.now())
    platform.fault_point("after_claims")
    try:
        result = order_writer.submit(
            platform,
            Job(key=key, request_id=current_request_id.get(), order=order, record_id=record_id),
        )
    except BaseException as error:
        if isinstance(error, Exception):
            _release_claims(site, order.number, claims)
        raise
    if result.status != 201:  # refused in the HQ transaction (out of stock): compensate
        _release_claims(site, order.number, claims)
        return result
    platform.fault_point("after_hq_commit")
    if any(claims.values()):  # no site write at all when no plugin claimed anything
        _close_claims(site, order.number, ClaimStatus.CONFIRMED)
    return result


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
