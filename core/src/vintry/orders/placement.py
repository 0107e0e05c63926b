"""Placing an order: exactly once per idempotency key, never overselling, never leaking.

Two paths, one outcome:

* **No claims** (no plugin enabled on the site implements ``vintry_claim_resources`` —
  the common case): the order is priced (on the event loop for the API,
  :func:`place_order_async`; on the caller's thread for :func:`place_order`), then
  written in **one HQ transaction** together with its stock holds, lines, allocations,
  outbox event and its idempotency record, completed with the response bytes. That
  transaction is shared with the other orders of the same moment (group commit,
  :mod:`vintry.orders.order_writer`): one durable commit for all of them. Nothing is
  written before it, so a crash at any point leaves nothing behind, and a retry either
  finds the record (and replays it) or places the order afresh. This is ARCHITECTURE
  §5's "record first" in its strongest form: the record and the effect are one commit.
* **With claims**, the saga of ARCHITECTURE §5:

  1. the idempotency record is written *in progress* (HQ) before anything else;
  2. the cart is priced (HQ reads; plugins propose, the kernel chooses);
  3. plugins' claims are held *pending* in the site database — each plugin's *intent* is
     written before its hook is called and replaced by what it claimed, so a crash right
     after a hook still leaves a row the sweeper releases;
  4. the HQ transaction as above (batched too), completing the record;
  5. the claims are confirmed. If step 4 fails, they are released through the plugins'
     ``vintry_release_resources``; if the process dies, the claims sweeper releases
     pending claims whose order never reached HQ (and counts, and keeps for its next
     pass, those a plugin fails to release), and the idempotency lease lets a retry take
     over.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vintry.contracts import DealerView, OrderDraft, ResourceClaim
from vintry.db.group_commit import Arrival
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

__all__ = [
    "PlacementResult",
    "announce_order",
    "dealer_view",
    "error_body",
    "exactly_once",
    "hold_minutes",
    "new_order_number",
    "place_order",
    "place_order_async",
    "sweep_claims",
    "unrecorded_claims",
]

log = logging.getLogger("vintry.orders")
SITE_SETTINGS_COUNTER = "site_settings"


def new_order_number(now_ms: int) -> str:
    """``VO`` + 10 base-32 digits of milliseconds + 6 random: sortable, unique across workers
    (the unique constraint is the backstop)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    # 16 base-32 digits, most significant first: 10 of the stamp, then 6 random ones drawn
    # at once (30 random bits: one call to the system's generator, not one per digit).
    value = (now_ms % 32**10) << 30 | secrets.randbits(30)
    digits = []
    for _ in range(16):
        value, digit = divmod(value, 32)
        digits.append(alphabet[digit])
    return "VO" + "".join(reversed(digits))


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
    arrival: Arrival | None = None,
) -> PlacementResult:
    """Place an order for the dealer at the site, exactly once per idempotency key.

    *request* may be a function building it (a checkout reads the cart): if it fails on a
    retry — the cart was emptied by the first attempt — the first answer is still
    returned. *raw_body* is what the key is bound to; *kind* separates keys of different
    endpoints. A request that already ran ``refresh()`` passes its *site* and *directory*,
    and the *dealer* its token was read with (an inactive dealer is passed as ``None``);
    one that announced its order to the committer early (:func:`announce_order`) passes
    its *arrival*.
    """
    from vintry.context import current_request_id

    if site is None or directory is None:
        directory, state = platform.refresh()
        site = platform.site(site_code, directory, state)
    fingerprint = idempotency.request_hash(raw_body)
    key = Key(f"{kind}:{site_code}:{dealer_id}", idempotency_key, fingerprint)
    request_id = current_request_id.get()
    # Announced while it is priced, so that a batch about to start may wait for it (bounded).
    announced = nullcontext(arrival) if arrival is not None else announce_order(platform)
    with announced as arrival:
        job = _job(platform, site, directory, dealer_id, dealer, request, key, request_id)
        if job.order is None or not _claims_needed(site, job.order):
            return _submit(platform, key, job, arrival)
        # The saga submits later, after its claims: no batch should wait for it meanwhile.
        order_writer.committer(platform).withdraw(arrival)
    return _saga(platform, key, job.order)


async def place_order_async(
    platform: Platform,
    *,
    site: SiteContext,
    directory: SiteDirectory,
    dealer_id: int,
    dealer: DealerView | None,
    request: PlaceOrder,
    idempotency_key: str,
    raw_body: bytes,
    kind: str = "order",
) -> PlacementResult:
    """:func:`place_order` for a coroutine (the API), with the same outcome and answers.

    The order is priced on the event loop when that cannot block it (below), and its HQ
    transaction is awaited without holding a thread
    (:func:`vintry.orders.order_writer.submit_async`): while a batch is written, the loop
    goes on with the next requests, which make the next batch. The saga — claims in
    another database, plugins' hooks — runs on a worker thread, as :func:`place_order`.
    """
    from vintry.context import current_request_id

    fingerprint = idempotency.request_hash(raw_body)
    key = Key(f"{kind}:{site.code}:{dealer_id}", idempotency_key, fingerprint)
    request_id = current_request_id.get()
    if _prices_inline(platform, site):
        job = _job(platform, site, directory, dealer_id, dealer, request, key, request_id)
    else:
        job = await run_in_threadpool(
            _job, platform, site, directory, dealer_id, dealer, request, key, request_id
        )
    if job.order is not None and _claims_needed(site, job.order):
        return await run_in_threadpool(_saga, platform, key, job.order)
    try:
        result = await order_writer.submit_async(platform, job)
    except InProgress:
        # The key is held by a placement on the saga path: wait for it as the saga does.
        return await run_in_threadpool(_saga, platform, key, job.order, refusal=job.refusal)
    platform.fault_point("after_hq_commit")
    return result


def _prices_inline(platform: Platform, site: SiteContext) -> bool:
    """Whether pricing may run on the event loop: its reads are local SQLite reads that
    never wait for a writer (WAL), cheaper than a hop to a worker thread and back, and no
    installed plugin prices here (a plugin's hook may wait on anything; it gets a thread)."""
    if platform.hq.backend != "sqlite" or site.database.backend != "sqlite":
        return False
    builtin = platform.plugins.builtin_names()
    return all(
        impl.plugin_name in builtin for impl in site.hooks.implementations("vintry_price_cart")
    )


def _job(
    platform: Platform,
    site: SiteContext,
    directory: SiteDirectory,
    dealer_id: int,
    dealer: DealerView | None,
    request: PlaceOrder | Callable[[], PlaceOrder],
    key: Key,
    request_id: str | None,
) -> Job:
    """The placement's write: its priced order, or the refusal that building the request
    (*request* may be a function: a checkout reads the cart) or pricing answered."""
    try:
        built = request() if callable(request) else request
        order = _prepare(platform, site, directory, dealer_id, dealer, built)
    except VintryError as error:
        return Job(key=key, request_id=request_id, refusal=error)
    return Job(key=key, request_id=request_id, order=order)


def announce_order(platform: Platform) -> AbstractContextManager[Arrival]:
    """Tell the order committer that an order is on its way (being read and priced): a
    batch starting meanwhile waits for it, briefly (:mod:`vintry.db.group_commit`). The
    API announces a placement as soon as its caller is authenticated."""
    return order_writer.committer(platform).arriving()


def _submit(platform: Platform, key: Key, job: Job, arrival: Arrival) -> PlacementResult:
    """The direct path: *job* in the next batch of the HQ transaction."""
    try:
        result = order_writer.submit(platform, job, arrival)
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
    # One connection at most (nothing below opens another), and none when the dealer and
    # every price come from the caches.
    with platform.hq.reading_on_demand() as session:
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


def dealer_view(session: Session, site: SiteContext, dealer_id: int) -> DealerView:
    """The dealer *dealer_id* as hooks see it; 422 ``dealer_inactive`` unless it is an
    active dealer of *site*."""
    return _dealer_view(session, site, dealer_id)


def hold_minutes(site: SiteContext) -> int:
    """How long an unpaid order of *site* holds its stock (``reservation_minutes``)."""
    return _hold_minutes(site)


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

    def work(record_id: int) -> PlacementResult:
        if order is None:
            assert refusal is not None
            raise refusal
        return _place_with_claims(platform, order, key, record_id)

    return exactly_once(platform, key, work)


def exactly_once(
    platform: Platform, key: Key, work: Callable[[int], PlacementResult]
) -> PlacementResult:
    """Run *work* once per idempotency *key*: the record is written first (in progress),
    then *work* runs with its id and must complete it in the transaction of its effect.

    A key answered before replays its stored answer; a :class:`VintryError` raised by
    *work* is stored as the answer (its transaction rolled back, so nothing else changed);
    any other failure forgets the record, so a retry runs afresh.
    """
    begun = idempotency.begin(platform, scope=key.scope, key=key.key, fingerprint=key.fingerprint)
    if isinstance(begun, idempotency.StoredResponse):
        return PlacementResult(begun.status, begun.body, replayed=True)
    try:
        return work(begun.record_id)
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


INTENT_RESOURCE = "vintry:claim-intent"
"""The ``resource`` of an intent row: written *pending* for each plugin before its claim
hook is called, replaced by the claims the hook returned (in one site transaction). A
crash between the hook and that replacement leaves the intent: the sweeper then releases
the order's claims by its number (:func:`unrecorded_claims`)."""
UNRECORDED_PREFIX = "order:"


def unrecorded_claims(number: str) -> ResourceClaim:
    """What ``vintry_release_resources`` receives for claims a plugin made for order
    *number* that were never recorded (the process died right after its claim hook):
    ``resource`` ``order:<number>``, ``payload`` ``{"order": number, "unrecorded": true}``
    — release whatever is held for that order (idempotent, as every release is)."""
    return ResourceClaim(
        resource=f"{UNRECORDED_PREFIX}{number}",
        quantity=0,
        payload={"order": number, "unrecorded": True},
    )


def _claim(site: SiteContext, draft: OrderDraft, now: Any) -> dict[str, list[ResourceClaim]]:
    """Ask every claiming plugin, in turn; all or nothing.

    Each plugin's intent is written first, so that nothing a hook claims is ever unknown
    to the sweeper: a crash after a hook leaves its intent (released by order number),
    a crash after the claims are recorded leaves them (released as returned)."""
    hooks = site.hooks.implementations("vintry_claim_resources")
    _write_intents(site, draft.number, [impl.plugin_name for impl in hooks], now)
    claims: dict[str, list[ResourceClaim]] = {}
    try:
        for impl in hooks:
            arguments = {"draft": draft, "site": site}
            result = cast(
                "list[ResourceClaim]",
                impl.function(**{name: arguments[name] for name in impl.argnames}) or [],
            )
            site.platform.fault_point("after_claim_hook")
            claims[impl.plugin_name] = list(result)
            _record_claims(site, draft.number, impl.plugin_name, claims[impl.plugin_name], now)
    except Exception as error:
        _release_claims(site, draft.number, claims)
        # The plugins that refused (a refusing hook claims nothing) or were never asked.
        _close_claims(site, draft.number, ClaimStatus.RELEASED, intents_only=True)
        if isinstance(error, VintryError):
            raise
        raise ServiceUnavailable(
            f"a plugin failed while claiming resources: {type(error).__name__}: {error}",
            code="claim_plugin_failed",
        ) from error
    return claims


def _claim_row(number: str, plugin: str, claim: ResourceClaim, now: Any) -> dict[str, Any]:
    return {
        "order_number": number,
        "plugin": plugin,
        "resource": claim.resource,
        "quantity": claim.quantity,
        "payload": claim.payload,
        "status": ClaimStatus.PENDING.value,
        "created_at": now,
        "closed_at": None,
        "note": None,
    }


def _write_intents(site: SiteContext, number: str, plugins: list[str], now: Any) -> None:
    """One pending intent row per plugin about to be asked, in one site transaction."""
    if not plugins:
        return
    intent = ResourceClaim(resource=INTENT_RESOURCE, quantity=0)
    with site.database.transaction() as session:
        session.execute(
            insert(ResourceClaimRecord),
            [_claim_row(number, plugin, intent, now) for plugin in plugins],
        )


def _record_claims(
    site: SiteContext, number: str, plugin: str, claims: list[ResourceClaim], now: Any
) -> None:
    """Replace *plugin*'s intent by the *claims* its hook returned (none: just the intent
    goes), atomically: the sweeper sees one or the other, never neither."""
    with site.database.transaction() as session:
        session.execute(
            delete(ResourceClaimRecord).where(
                ResourceClaimRecord.order_number == number,
                ResourceClaimRecord.plugin == plugin,
                ResourceClaimRecord.resource == INTENT_RESOURCE,
                ResourceClaimRecord.status == ClaimStatus.PENDING.value,
            )
        )
        if claims:
            session.execute(
                insert(ResourceClaimRecord),
                [_claim_row(number, plugin, claim, now) for claim in claims],
            )


def _release_claims(
    site: SiteContext, number: str, claims: Mapping[str, Sequence[ResourceClaim]]
) -> set[str]:
    """Give back each plugin's *claims* through its ``vintry_release_resources`` and mark
    its pending rows released. Returns the plugins whose claims are settled; a plugin
    whose release raised (or that no longer releases here) keeps its rows pending, for
    the sweeper to try again."""
    releasers = {
        impl.plugin_name: impl for impl in site.hooks.implementations("vintry_release_resources")
    }
    settled: set[str] = set()
    for plugin, own in claims.items():
        if not own:
            settled.add(plugin)
            continue
        impl = releasers.get(plugin)
        if impl is None:
            log.error(
                "plugin %s holds claims of %s but does not release resources on site %s",
                plugin,
                number,
                site.code,
            )
            continue
        arguments = {"claims": list(own), "site": site}
        try:
            impl.function(**{name: arguments[name] for name in impl.argnames})
        except Exception:
            # The sweeper retries: the claims stay pending until a release succeeds.
            log.exception("plugin %s failed to release claims of %s", plugin, number)
            continue
        with site.database.transaction() as session:
            session.execute(
                update(ResourceClaimRecord)
                .where(
                    ResourceClaimRecord.order_number == number,
                    ResourceClaimRecord.plugin == plugin,
                    ResourceClaimRecord.status == ClaimStatus.PENDING.value,
                )
                .values(status=ClaimStatus.RELEASED.value, closed_at=site.platform.clock.now())
            )
        settled.add(plugin)
    return settled


def _close_claims(
    site: SiteContext, number: str, status: ClaimStatus, *, intents_only: bool = False
) -> None:
    """Mark the order's pending rows (or only its intents) *status*, without any plugin."""
    conditions = [
        ResourceClaimRecord.order_number == number,
        ResourceClaimRecord.status == ClaimStatus.PENDING.value,
    ]
    if intents_only:
        conditions.append(ResourceClaimRecord.resource == INTENT_RESOURCE)
    with site.database.transaction() as session:
        session.execute(
            update(ResourceClaimRecord)
            .where(*conditions)
            .values(status=status.value, closed_at=site.platform.clock.now())
        )


def sweep_claims(
    platform: Platform, *, older_than: timedelta = timedelta(minutes=5)
) -> dict[str, int]:
    """Settle pending claims left by a crash: confirmed if their order reached HQ,
    released (through the plugins) if it did not.

    Returns counts of claim rows: ``confirmed``, ``released``, and ``failed`` — rows whose
    plugin could not release them (its release raised, or it no longer releases on the
    site): they stay pending and the next sweep tries again. An intent row (a crash
    right after a claim hook) is released as :func:`unrecorded_claims`."""
    cutoff = platform.clock.now() - older_than
    outcome = {"confirmed": 0, "released": 0, "failed": 0}
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
                    unrecorded_claims(number)
                    if claim.resource == INTENT_RESOURCE
                    else ResourceClaim(
                        resource=claim.resource, quantity=claim.quantity, payload=claim.payload
                    )
                )
            settled = _release_claims(site, number, grouped)
            for claim in mine:
                outcome["released" if claim.plugin in settled else "failed"] += 1
    if outcome["failed"]:
        log.warning(
            "%d pending claim(s) could not be released; they stay pending for the next sweep",
            outcome["failed"],
        )
    return outcome
