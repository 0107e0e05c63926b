"""One request through every layer: HTTP → service → HQ and site databases → audit."""

from vintry_sdk.testing import VintryFactory


def test_create_region_then_address_it_by_host_and_prefix(vintry_factory: VintryFactory) -> None:
    admin = vintry_factory.admin_client()
    created = admin.post(
        "/api/v1/sites",
        json={"code": "east", "name": "East China", "domains": ["East.Mall.Example"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["domains"] == ["east.mall.example"]

    by_host = admin.get("/api/v1/site", headers={"Host": "east.mall.example:8443"})
    by_prefix = vintry_factory.admin_client(site="east").get("/api/v1/site")
    assert by_host.json()["code"] == by_prefix.json()["code"] == "east"

    database = vintry_factory.platform.site_database("east")
    with database.reading() as session:
        from vintry.sites.site_models import SiteMeta

        assert session.get(SiteMeta, "site_code").value == "east"

    audit = admin.get("/api/v1/audit", params={"object_type": "site"}).json()
    assert audit[0]["action"] == "site.create" and audit[0]["object_id"] == "east"
    assert audit[0]["actor"] == "admin" and audit[0]["request_id"]
