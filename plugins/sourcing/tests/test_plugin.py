"""The installed plugin through the platform: its strategies registered, chosen by a site's
rules, and its per-site settings filling the parameters a rule leaves unset."""

from __future__ import annotations

from typing import Any

from vintry_sdk import Platform
from vintry_sdk.testing import VintryFactory

from vintry_sourcing import PLUGIN_NAME, STRATEGIES

from .conftest import EAST, World


def test_the_installed_plugin_registers_its_five_strategies(vintry_platform: Platform) -> None:
    record = vintry_platform.plugins.get(PLUGIN_NAME)
    assert record is not None and record.version == "0.1.0"
    assert sorted(record.contribution.sourcing_strategies) == sorted(STRATEGIES)


def test_a_rule_chooses_cost_optimal_and_the_site_settings_fill_its_parameters(
    vintry_factory: VintryFactory, world: World
) -> None:
    operator = vintry_factory.admin_client(EAST)
    patched = operator.patch(f"/api/v1/plugins/{PLUGIN_NAME}/config", json={"shipment_cost": 5})
    assert patched.status_code == 200, patched.text
    rules = {"rules": [], "default": {"strategy": "cost-optimal"}}
    assert operator.put("/api/v1/sourcing/rules", json=rules).status_code == 200
    # Cheap shipments: each line from its nearest warehouse, split.
    cheap = world.place({"X": 2, "Y": 2})
    assert cheap["sourcing"]["strategy"] == "cost-optimal"
    assert cheap["sourcing"]["warehouses"] == ["WH-NEAR-X", "WH-NEAR-Y"]
    # A rule's parameter wins over the setting: one parcel from the far warehouse.
    rules["default"]["parameters"] = {"shipment_cost": 100_000}
    assert operator.put("/api/v1/sourcing/rules", json=rules).status_code == 200
    dear = world.place({"X": 2, "Y": 2})
    assert dear["sourcing"]["warehouses"] == ["WH-FAR"]
    assert "proven optimal" in dear["sourcing"]["explanation"]


def test_dry_run_explains_the_choice(vintry_factory: VintryFactory, world: World) -> None:
    operator = vintry_factory.admin_client(EAST)
    rules: dict[str, Any] = {
        "rules": [
            {
                "name": "gold-one-parcel",
                "when": {"dealer_tiers": ["gold"]},
                "strategy": "fewest-splits",
            }
        ],
        "default": {"strategy": "nearest-with-stock"},
    }
    assert operator.put("/api/v1/sourcing/rules", json=rules).status_code == 200
    answer = operator.post(
        "/api/v1/sourcing/dry-run",
        json={
            "dealer": world.dealer,
            "lines": [{"sku": "X", "quantity": 2}, {"sku": "Y", "quantity": 1}],
        },
    ).json()
    assert answer["rule"] == "gold-one-parcel" and "dealer tier gold" in answer["why"]
    assert answer["strategy"] == "fewest-splits"
    assert [a["warehouse"] for a in answer["allocations"]] == ["WH-FAR", "WH-FAR"]
