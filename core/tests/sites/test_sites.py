"""The site tree through the API and the service: creating, listing, changing, resolving.

A region sits under HQ and a store under a region; codes and domains are unique (domains
case-insensitively); creating a site creates and migrates its own database before the site
row exists; requests find their site by host name or ``/sites/<code>/`` prefix; and a
second :class:`~vintry.platform.Platform` on the same databases, standing in for another
worker process, sees tree changes without a restart (the ``sites`` change counter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from starlette.testclient import TestClient
from vintry.accounts.principal import Actor
from vintry.clock import ManualClock
from vintry.db.counters import read_all
from vintry.db.engines import parse_target
from vintry.db.migrate import current_revision, kernel_tracks
from vintry.errors import Conflict, InvalidInput
from vintry.platform import SITES_COUNTER, Platform
from vintry.sites.models import SiteKind
from vintry.sites.schemas import SiteCreate
from vintry.sites.service import create_root, create_site
from vintry.sites.site_models import SiteMeta
from vintry_sdk.testing import VintryFactory

SITES = "/api/v1/sites"
ACTOR = Actor(name="sites-test")


def _created(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(SITES, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def _site_database_exists(platform: Platform, code: str) -> bool:
    """Whether the database (SQLite file, or PostgreSQL schema) of *code* exists yet."""
    target = parse_target(platform.settings.site_database_url_for(code))
    if target.backend == "sqlite":
        assert target.url.database
        return Path(target.url.database).exists()
    engine = create_engine(target.url)
    try:
        with engine.connect() as connection:
            if target.schema is None:
                return True
            found = connection.execute(
                text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"),
                {"name": target.schema},
            ).scalar()
            return found is not None
    finally:
        engine.dispose()


# --- creating sites -----------------------------------------------------------------------


def test_region_under_hq_and_store_under_region_are_created(
    vintry_factory: VintryFactory,
) -> None:
    region = _created(
        vintry_factory.admin_client(), {"code": "east", "name": "East China", "kind": "region"}
    )
    store = _created(
        vintry_factory.admin_client(site="east"),
        {"code": "east-shop", "name": "Dealer shop", "kind": "store"},
    )

    assert (region["kind"], region["parent"], region["depth"]) == ("region", "hq", 1)
    assert (store["kind"], store["parent"], store["depth"]) == ("store", "east", 2)
    assert region["active"] is store["active"] is True


def test_kind_defaults_to_region(vintry_admin: TestClient) -> None:
    assert _created(vintry_admin, {"code": "north", "name": "North"})["kind"] == "region"


@pytest.mark.parametrize(
    ("parent", "kind"),
    [("hq", "store"), ("hq", "hq"), ("east", "region"), ("east", "hq"), ("east-shop", "store")],
)
def test_a_child_of_the_wrong_kind_is_refused(
    vintry_factory: VintryFactory, vintry_platform: Platform, parent: str, kind: str
) -> None:
    vintry_factory.site("east")
    vintry_factory.site("east-shop", parent="east")

    response = vintry_factory.admin_client(site=parent).post(
        SITES, json={"code": "wrong", "name": "Wrong", "kind": kind}
    )

    error = _error(response, 422)
    assert (error["code"], error["field"]) == ("invalid_site_kind", "kind")
    assert vintry_platform.directory().find("wrong") is None
    assert not _site_database_exists(vintry_platform, "wrong")


def test_service_refuses_a_store_directly_under_hq(vintry_platform: Platform) -> None:
    request = SiteCreate(code="lonely", name="Lonely store", kind=SiteKind.STORE)
    with pytest.raises(InvalidInput) as raised:
        create_site(vintry_platform, parent_code="hq", request=request, actor=ACTOR)
    assert raised.value.code == "invalid_site_kind"


def test_a_second_root_is_refused(vintry_platform: Platform) -> None:
    with pytest.raises(Conflict) as raised:
        create_root(vintry_platform, code="hq2", name="Other HQ", domains=[], actor=ACTOR)
    assert raised.value.code == "root_exists"


def test_duplicate_code_is_409_site_exists(
    vintry_factory: VintryFactory, vintry_admin: TestClient
) -> None:
    vintry_factory.site("east")
    error = _error(vintry_admin.post(SITES, json={"code": "east", "name": "Again"}), 409)
    assert (error["code"], error["field"]) == ("site_exists", "code")


def test_a_domain_of_another_site_is_409_domain_taken_naming_its_index(
    vintry_factory: VintryFactory, vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    vintry_factory.site("east", domains=["east.mall.example"])

    response = vintry_admin.post(
        SITES,
        json={
            "code": "west", "name": "West", "domains": ["west.mall.example", "EAST.Mall.Example"],
        },
    )

    error = _error(response, 409)
    assert (error["code"], error["field"]) == ("domain_taken", "domains.1")
    assert "east" in error["message"]
    assert vintry_platform.directory().find("west") is None
    assert not _site_database_exists(vintry_platform, "west")


def test_hq_domains_are_taken_too(vintry_admin: TestClient) -> None:
    response = vintry_admin.post(
        SITES, json={"code": "west", "name": "W", "domains": ["localhost"]}
    )
    assert _error(response, 409)["code"] == "domain_taken"


def test_a_domain_listed_twice_is_refused(vintry_admin: TestClient) -> None:
    response = vintry_admin.post(
        SITES, json={"code": "west", "name": "W", "domains": ["w.example", "W.example"]}
    )
    assert _error(response, 422)["code"] == "duplicate_domain"


def test_domains_are_normalised_to_lower_case(vintry_admin: TestClient) -> None:
    created = _created(
        vintry_admin,
        {"code": "east", "name": "East", "domains": ["East.Mall.Example", "WWW.EAST.example."]},
    )
    assert created["domains"] == ["east.mall.example", "www.east.example"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "East", "name": "x"}, "body.code"),
        ({"code": "e", "name": "x"}, "body.code"),
        ({"code": "east", "name": ""}, "body.name"),
        ({"code": "east", "name": "x", "domains": ["bad_host!"]}, "body.domains.0"),
        ({"code": "east", "name": "x", "colour": "red"}, "body.colour"),
    ],
)
def test_malformed_site_requests_are_422_naming_the_field(
    vintry_admin: TestClient, body: dict[str, Any], field: str
) -> None:
    error = _error(vintry_admin.post(SITES, json=body), 422)
    assert error["field"] == field


def test_creating_a_site_creates_and_migrates_its_database(
    vintry_factory: VintryFactory, vintry_platform: Platform
) -> None:
    assert not _site_database_exists(vintry_platform, "east")

    vintry_factory.site("east")

    assert _site_database_exists(vintry_platform, "east")
    database = vintry_platform.site_database("east")
    (site_track,) = [track for track in kernel_tracks() if track.scope == "site"]
    assert site_track.version_table == "vintry_site_version"
    assert current_revision(database, site_track) == site_track.head() is not None
    with database.reading() as session:
        meta = session.get(SiteMeta, "site_code")
        assert meta is not None and meta.value == "east"
        tables = set(inspect(session.connection()).get_table_names())
    assert {"vintry_site_version", "site_meta"} <= tables
    assert "sites" not in tables  # HQ tables stay in HQ


def _own_database_url(platform: Platform, tmp_path: Path, code: str) -> str:
    """A database location for *code* outside the configured template."""
    if platform.hq.backend == "sqlite":
        return f"sqlite:///{tmp_path / 'elsewhere' / f'{code}.db'}"
    template = platform.settings.site_database_url_for(code)
    return template.replace(f"vintry_schema=site_{code}", f"vintry_schema=own_{code}")


def test_a_site_own_database_url_wins_over_the_template(
    vintry_admin: TestClient, vintry_platform: Platform, tmp_path: Path
) -> None:
    own_url = _own_database_url(vintry_platform, tmp_path, "east")
    assert own_url != vintry_platform.settings.site_database_url_for("east")

    _created(vintry_admin, {"code": "east", "name": "East", "database_url": own_url})

    database = vintry_platform.site_database("east")
    assert database.url == own_url
    with database.reading() as session:
        meta = session.get(SiteMeta, "site_code")
        assert meta is not None and meta.value == "east"
    assert not _site_database_exists(vintry_platform, "east")  # the template's was not made


def test_a_site_cannot_take_over_another_site_database(
    vintry_factory: VintryFactory, vintry_admin: TestClient, vintry_platform: Platform
) -> None:
    vintry_factory.site("east")
    east_url = vintry_platform.site_database("east").url

    response = vintry_admin.post(
        SITES, json={"code": "west", "name": "West", "database_url": east_url}
    )

    error = _error(response, 409)
    assert (error["code"], error["field"]) == ("site_database_in_use", "database_url")
    assert vintry_platform.directory().find("west") is None
    with vintry_platform.site_database("east").reading() as session:
        meta = session.get(SiteMeta, "site_code")
        assert meta is not None and meta.value == "east"


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "sqlite:///x.db?vintry_schema=site_x", "not a url"]
)
def test_an_unusable_database_url_is_refused(vintry_admin: TestClient, url: str) -> None:
    response = vintry_admin.post(SITES, json={"code": "west", "name": "W", "database_url": url})
    error = _error(response, 422)
    assert (error["code"], error["field"]) == ("invalid_database_url", "database_url")


def test_creating_a_site_is_audited(vintry_admin: TestClient) -> None:
    _created(vintry_admin, {"code": "east", "name": "East", "domains": ["east.example"]})
    entry = vintry_admin.get("/api/v1/audit", params={"object_type": "site"}).json()[0]
    assert (entry["action"], entry["object_id"], entry["before"]) == ("site.create", "east", None)
    assert entry["after"] == {
        "code": "east", "name": "East", "kind": "region", "parent": "hq",
        "domains": ["east.example"], "active": True,
    }


# --- listing ------------------------------------------------------------------------------


@pytest.fixture
def forest(vintry_factory: VintryFactory) -> VintryFactory:
    """hq → east (east-b, east-a) and west (west-a), created out of code order."""
    vintry_factory.site("west")
    vintry_factory.site("east")
    vintry_factory.site("east-b", parent="east")
    vintry_factory.site("west-a", parent="west")
    vintry_factory.site("east-a", parent="east")
    return vintry_factory


def test_sites_lists_the_subtree_depth_first_with_depth(forest: VintryFactory) -> None:
    listed = forest.admin_client().get(SITES).json()
    assert [(site["code"], site["depth"]) for site in listed] == [
        ("hq", 0), ("east", 1), ("east-a", 2), ("east-b", 2), ("west", 1), ("west-a", 2),
    ]
    assert [site["parent"] for site in listed] == [None, "hq", "east", "east", "hq", "west"]

    from_east = forest.admin_client(site="east").get(SITES).json()
    assert [(site["code"], site["depth"]) for site in from_east] == [
        ("east", 1), ("east-a", 2), ("east-b", 2),
    ]


def test_sites_tree_nests_children(forest: VintryFactory) -> None:
    def shape(node: dict[str, Any]) -> dict[str, Any]:
        return {node["code"]: [shape(child) for child in node["children"]]}

    tree = forest.admin_client().get(f"{SITES}/tree").json()
    assert shape(tree) == {
        "hq": [
            {"east": [{"east-a": []}, {"east-b": []}]},
            {"west": [{"west-a": []}]},
        ]
    }
    assert tree["kind"] == "hq" and tree["children"][0]["kind"] == "region"
    assert shape(forest.admin_client(site="west").get(f"{SITES}/tree").json()) == {
        "west": [{"west-a": []}]
    }


def test_a_site_outside_the_addressed_subtree_is_404(forest: VintryFactory) -> None:
    east = forest.admin_client(site="east")
    assert east.get(f"{SITES}/east-a").status_code == 200
    assert _error(east.get(f"{SITES}/west-a"), 404)["code"] == "site_not_found"
    assert _error(east.patch(f"{SITES}/west", json={"name": "x"}), 404)["code"] == "site_not_found"


# --- changing sites -----------------------------------------------------------------------


def test_patch_changes_name_domains_and_active_and_is_audited(
    vintry_factory: VintryFactory, vintry_admin: TestClient
) -> None:
    vintry_factory.site("east", domains=["east.example"])

    response = vintry_admin.patch(
        f"{SITES}/east",
        json={"name": "East China", "domains": ["east.example", "Shop.East.Example"],
              "active": False},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["domains"], body["active"]) == (
        "East China", ["east.example", "shop.east.example"], False,
    )
    assert vintry_admin.get(f"{SITES}/east").json() == body
    entry = vintry_admin.get("/api/v1/audit", params={"object_type": "site"}).json()[0]
    assert (entry["action"], entry["object_id"], entry["site"]) == ("site.update", "east", "east")
    assert entry["before"]["name"] == "East" and entry["before"]["active"] is True
    assert entry["before"]["domains"] == ["east.example"]
    assert entry["after"]["name"] == "East China" and entry["after"]["active"] is False
    assert entry["after"]["domains"] == ["east.example", "shop.east.example"]


def test_patch_that_changes_nothing_is_not_audited(
    vintry_factory: VintryFactory, vintry_admin: TestClient
) -> None:
    vintry_factory.site("east", name="East")
    before = vintry_admin.get("/api/v1/audit").json()
    assert vintry_admin.patch(f"{SITES}/east", json={"name": "East"}).status_code == 200
    assert vintry_admin.get("/api/v1/audit").json() == before


def test_patch_refuses_a_domain_of_another_site(
    vintry_factory: VintryFactory, vintry_admin: TestClient
) -> None:
    vintry_factory.site("east", domains=["east.example"])
    vintry_factory.site("west", domains=["west.example"])

    response = vintry_admin.patch(f"{SITES}/west", json={"domains": ["w.example", "east.example"]})

    error = _error(response, 409)
    assert (error["code"], error["field"]) == ("domain_taken", "domains.1")
    assert vintry_admin.get(f"{SITES}/west").json()["domains"] == ["west.example"]


def test_the_root_cannot_be_deactivated(vintry_admin: TestClient) -> None:
    error = _error(vintry_admin.patch(f"{SITES}/hq", json={"active": False}), 422)
    assert (error["code"], error["field"]) == ("root_required", "active")
    assert vintry_admin.get(f"{SITES}/hq").json()["active"] is True


# --- which site a request addresses -------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["east.mall.example", "east.mall.example:8443", "EAST.Mall.EXAMPLE", "east.mall.example."],
)
def test_host_header_resolves_to_the_site_owning_the_domain(
    vintry_factory: VintryFactory, vintry_admin: TestClient, host: str
) -> None:
    vintry_factory.site("east", domains=["east.mall.example"])
    response = vintry_admin.get("/api/v1/site", headers={"Host": host})
    assert response.status_code == 200, response.text
    assert response.json()["code"] == "east"


def test_site_prefix_addresses_a_site_whatever_the_host(vintry_factory: VintryFactory) -> None:
    vintry_factory.site("east", domains=["east.mall.example"])
    client = vintry_factory.admin_client(site="east")
    assert client.get("/api/v1/site").json()["code"] == "east"
    assert client.get("/api/v1/site", headers={"Host": "localhost"}).json()["code"] == "east"


def test_unknown_host_or_prefix_is_404_and_malformed_host_is_400(
    vintry_factory: VintryFactory, vintry_admin: TestClient
) -> None:
    unknown_host = vintry_admin.get("/api/v1/site", headers={"Host": "nobody.example"})
    assert (_error(unknown_host, 404)["code"], _error(unknown_host, 404)["field"]) == (
        "site_not_found", "header.host",
    )
    unknown_prefix = vintry_factory.admin_client(site="nowhere").get("/api/v1/site")
    assert _error(unknown_prefix, 404)["code"] == "site_not_found"
    malformed = vintry_admin.get("/api/v1/site", headers={"Host": "east.example:99999"})
    assert _error(malformed, 400)["code"] == "invalid_host"


def test_a_changed_domain_resolves_at_once(
    vintry_factory: VintryFactory, vintry_admin: TestClient
) -> None:
    vintry_factory.site("east", domains=["old.example"])
    vintry_admin.patch(f"{SITES}/east", json={"domains": ["new.example"]})
    new = vintry_admin.get("/api/v1/site", headers={"Host": "new.example"})
    assert new.json()["code"] == "east"
    assert vintry_admin.get("/api/v1/site", headers={"Host": "old.example"}).status_code == 404


# --- several worker processes ---------------------------------------------------------------


def test_another_platform_on_the_same_databases_sees_changes_without_restart(
    vintry_factory: VintryFactory, vintry_platform: Platform, vintry_clock: ManualClock
) -> None:
    other = Platform(vintry_platform.settings, clock=vintry_clock)
    try:
        seen_before = other.directory()
        assert seen_before.find("east") is None
        with other.hq.reading() as session:
            counter_before = read_all(session).get(SITES_COUNTER, 0)

        vintry_factory.site("east", domains=["east.example"])
        vintry_factory.admin_client().patch(f"{SITES}/east", json={"name": "East Renamed"})

        seen_after = other.directory()
        node = seen_after.get("east")
        assert (node.name, node.domains) == ("East Renamed", ("east.example",))
        assert seen_after.by_domain("east.example") == node
        assert seen_after.version == counter_before + 2
        with other.site_database("east").reading() as session:
            meta = session.get(SiteMeta, "site_code")
            assert meta is not None and meta.value == "east"
    finally:
        other.close()


def test_directory_is_cached_while_the_counter_does_not_move(vintry_platform: Platform) -> None:
    first = vintry_platform.directory()
    assert vintry_platform.directory() is first
