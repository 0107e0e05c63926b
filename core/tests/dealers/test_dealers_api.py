"""The dealers API: create, list, read and change a site's dealers, within the tenant.

Dealers carry a tier and tags that campaigns target; a dealer caller sees only itself;
every change is audited with the record before and after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient
from vintry.accounts.models import Role
from vintry.audit.models import AuditEntry
from vintry.clock import ManualClock
from vintry.dealers.models import Dealer, DealerTier
from vintry.platform import Platform
from vintry_sdk.testing import VintryFactory

if TYPE_CHECKING:
    from httpx2 import Response  # what starlette's TestClient returns


@pytest.fixture
def east(vintry_factory: VintryFactory) -> TestClient:
    """Regions east and west; a client of east's operator, addressing east."""
    vintry_factory.site("east")
    vintry_factory.site("west")
    return vintry_factory.client_for(Role.SITE_OPERATOR, "east")


def _error(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def _dealer_count(platform: Platform) -> int:
    with platform.hq.reading() as session:
        return session.scalar(select(func.count()).select_from(Dealer)) or 0


def _audit(platform: Platform, action: str, object_id: str) -> list[AuditEntry]:
    with platform.hq.reading() as session:
        return list(session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.object_id == object_id)
            .order_by(AuditEntry.id)
        ))


def test_operator_creates_a_dealer_with_tier_and_tags(
    east: TestClient, vintry_platform: Platform
) -> None:
    created = east.post("/api/v1/dealers", json={
        "code": "D-HZ-001", "name": "Hangzhou Wines", "tier": "gold",
        "tags": ["vip", "banquet", "vip"], "city": "Hangzhou", "phone": "+86 571 8888 0000",
    })
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["site"] == "east" and body["tier"] == "gold"
    assert body["tags"] == ["banquet", "vip"]
    assert body["active"] is True
    assert body["created_at"] == vintry_platform.clock.now().isoformat().replace("+00:00", "Z")
    with vintry_platform.hq.reading() as session:
        dealer = session.scalar(select(Dealer).where(Dealer.code == "D-HZ-001"))
        assert dealer is not None
        assert (dealer.tier, dealer.tags, dealer.city) == (DealerTier.GOLD, ["banquet", "vip"],
                                                         "Hangzhou")
    [entry] = _audit(vintry_platform, "dealer.create", "D-HZ-001")
    assert entry.before is None and entry.after is not None
    assert entry.after["tier"] == "gold" and entry.request_id == created.headers["x-request-id"]


def test_new_dealer_defaults_to_bronze_without_tags(east: TestClient) -> None:
    created = east.post("/api/v1/dealers", json={"code": "D-PLAIN", "name": "Plain"})
    assert created.status_code == 201, created.text
    assert (created.json()["tier"], created.json()["tags"]) == ("bronze", [])


def test_duplicate_dealer_code_is_a_conflict_even_across_sites(
    east: TestClient, vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    vintry_factory.dealer("west", "D-TAKEN")
    before = _dealer_count(vintry_platform)
    error = _error(east.post("/api/v1/dealers", json={"code": "D-TAKEN", "name": "Again"}),
                   409, "dealer_exists")
    assert error["field"] == "code"
    assert east.post("/api/v1/dealers", json={"code": "D-ONCE", "name": "Once"}).status_code == 201
    _error(east.post("/api/v1/dealers", json={"code": "D-ONCE", "name": "Twice"}),
           409, "dealer_exists")
    assert _dealer_count(vintry_platform) == before + 1
    assert len(_audit(vintry_platform, "dealer.create", "D-ONCE")) == 1


def test_list_shows_the_sites_dealers_by_code_and_filters_by_tier_and_tag(
    east: TestClient, vintry_factory: VintryFactory
) -> None:
    vintry_factory.dealer("east", "D-C", tier=DealerTier.GOLD, tags=["vip", "north"])
    vintry_factory.dealer("east", "D-A", tier=DealerTier.SILVER, tags=["vip"])
    vintry_factory.dealer("east", "D-B", tier=DealerTier.GOLD)
    vintry_factory.dealer("west", "D-W", tier=DealerTier.GOLD, tags=["vip"])

    def codes(**params: str) -> list[str]:
        response = east.get("/api/v1/dealers", params=params)
        assert response.status_code == 200, response.text
        return [dealer["code"] for dealer in response.json()]

    assert codes() == ["D-A", "D-B", "D-C"]
    assert codes(tier="gold") == ["D-B", "D-C"]
    assert codes(tag="vip") == ["D-A", "D-C"]
    assert codes(tier="gold", tag="vip") == ["D-C"]
    assert codes(tag="nobody") == []
    assert codes(tier="platinum") == []


def test_get_reads_a_dealer_of_the_site_and_hides_others(
    east: TestClient, vintry_factory: VintryFactory
) -> None:
    vintry_factory.dealer("east", "D-EAST", tier=DealerTier.PLATINUM, tags=["vip"])
    vintry_factory.dealer("west", "D-WEST")
    found = east.get("/api/v1/dealers/D-EAST")
    assert found.status_code == 200
    assert (found.json()["tier"], found.json()["tags"]) == ("platinum", ["vip"])
    for code in ("D-WEST", "D-NONE"):
        assert _error(east.get(f"/api/v1/dealers/{code}"), 404, "dealer_not_found")["field"] == (
            "dealer"
        )


def test_patch_changes_tier_tags_and_contact_and_audits_before_and_after(
    east: TestClient, vintry_factory: VintryFactory, vintry_platform: Platform,
    vintry_clock: ManualClock,
) -> None:
    vintry_factory.dealer("east", "D-EAST", tier=DealerTier.GOLD, tags=["vip"])
    vintry_clock.advance(hours=1)
    changed = east.patch("/api/v1/dealers/D-EAST", json={
        "tier": "platinum", "tags": ["vip", "export"], "contact_name": "Li Wei",
        "name": None,
    })
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["tier"], body["tags"], body["contact_name"]) == (
        "platinum", ["export", "vip"], "Li Wei"
    )
    assert body["name"] != "" and body["name"] is not None

    [entry] = _audit(vintry_platform, "dealer.update", "D-EAST")
    assert entry.actor.startswith("site-operator-")
    assert entry.at == vintry_clock.now()
    assert entry.request_id == changed.headers["x-request-id"]
    assert entry.before is not None and entry.after is not None
    assert (entry.before["tier"], entry.after["tier"]) == ("gold", "platinum")
    assert (entry.before["tags"], entry.after["tags"]) == (["vip"], ["export", "vip"])
    assert (entry.before["contact_name"], entry.after["contact_name"]) == (None, "Li Wei")
    assert entry.before["name"] == entry.after["name"]

    audit = east.get("/api/v1/audit", params={"object_type": "dealer"}).json()
    assert audit[0]["action"] == "dealer.update" and audit[0]["before"]["tier"] == "gold"


def test_patch_clears_optional_contact_fields_and_deactivates(
    east: TestClient, vintry_factory: VintryFactory
) -> None:
    east.post("/api/v1/dealers", json={"code": "D-CLR", "name": "Clear", "city": "Ningbo"})
    cleared = east.patch("/api/v1/dealers/D-CLR", json={"city": None, "active": False})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["city"], cleared.json()["active"]) == (None, False)


def test_patch_that_changes_nothing_writes_no_audit_entry(
    east: TestClient, vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    vintry_factory.dealer("east", "D-SAME", tier=DealerTier.SILVER, tags=["vip"])
    same = east.patch("/api/v1/dealers/D-SAME", json={"tier": "silver", "tags": ["vip", "vip"]})
    assert same.status_code == 200
    assert _audit(vintry_platform, "dealer.update", "D-SAME") == []


def test_patch_of_a_dealer_of_another_site_is_404_and_changes_nothing(
    east: TestClient, vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    vintry_factory.dealer("west", "D-WEST", tier=DealerTier.BRONZE)
    _error(east.patch("/api/v1/dealers/D-WEST", json={"tier": "platinum"}), 404,
           "dealer_not_found")
    with vintry_platform.hq.reading() as session:
        assert session.scalar(select(Dealer.tier).where(Dealer.code == "D-WEST")) is (
            DealerTier.BRONZE
        )
    assert _audit(vintry_platform, "dealer.update", "D-WEST") == []


def test_dealer_caller_sees_only_itself_and_cannot_write(
    east: TestClient, vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    mine = vintry_factory.dealer("east", "D-MINE", tier=DealerTier.GOLD, tags=["vip"]).code
    vintry_factory.dealer("east", "D-PEER", tier=DealerTier.GOLD, tags=["vip"])
    dealer = vintry_factory.client_for(Role.DEALER, "east", dealer=mine)

    assert [d["code"] for d in dealer.get("/api/v1/dealers").json()] == [mine]
    assert [d["code"] for d in dealer.get("/api/v1/dealers", params={"tag": "vip"}).json()] == [
        mine
    ]
    assert dealer.get(f"/api/v1/dealers/{mine}").status_code == 200
    _error(dealer.get("/api/v1/dealers/D-PEER"), 404, "dealer_not_found")

    before = _dealer_count(vintry_platform)
    _error(dealer.patch(f"/api/v1/dealers/{mine}", json={"tier": "platinum"}), 403,
           "permission_denied")
    _error(dealer.post("/api/v1/dealers", json={"code": "D-SELF", "name": "Self"}), 403,
           "permission_denied")
    assert _dealer_count(vintry_platform) == before


def test_hq_admin_manages_dealers_of_any_site_by_addressing_it(
    vintry_factory: VintryFactory, east: TestClient
) -> None:
    admin_at_west = vintry_factory.admin_client(site="west")
    created = admin_at_west.post("/api/v1/dealers", json={"code": "D-W1", "name": "West One"})
    assert created.status_code == 201 and created.json()["site"] == "west"
    assert [d["code"] for d in admin_at_west.get("/api/v1/dealers").json()] == ["D-W1"]
    assert east.get("/api/v1/dealers").json() == []


def test_operator_audit_shows_its_subtree_dealer_changes_only(
    east: TestClient, vintry_factory: VintryFactory
) -> None:
    east.post("/api/v1/dealers", json={"code": "D-E1", "name": "East One"})
    vintry_factory.admin_client(site="west").post(
        "/api/v1/dealers", json={"code": "D-W1", "name": "West One"}
    )
    objects = {e["object_id"] for e in east.get("/api/v1/audit",
                                                 params={"object_type": "dealer"}).json()}
    assert "D-E1" in objects and "D-W1" not in objects


def test_dealers_are_listed_a_page_at_a_time(vintry_factory: VintryFactory) -> None:
    region = vintry_factory.site("paged").code
    codes = sorted(vintry_factory.dealer(region, f"D-PG-{n:03d}").code for n in range(7))
    admin = vintry_factory.admin_client(site=region)
    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if after:
            params["after"] = after
        page = admin.get("/api/v1/dealers", params=params)
        assert page.status_code == 200, page.text
        batch = [dealer["code"] for dealer in page.json()]
        if not batch:
            break
        assert len(batch) <= 3
        seen.extend(batch)
        after = batch[-1]
    assert seen == codes
    assert admin.get("/api/v1/dealers", params={"limit": 0}).status_code == 422
