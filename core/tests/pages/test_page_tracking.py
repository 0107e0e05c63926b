"""Block impressions and clicks end up as behaviour events where the analytics plugin is on."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from .conftest import EAST, Mall


def test_the_analytics_plugin_counts_block_impressions_and_clicks(mall: Mall) -> None:
    if mall.platform.plugins.get("analytics") is None:
        pytest.skip("the analytics plugin is not installed")
    from vintry_analytics.models import BehaviourEvent

    mall.factory.enable_plugin("analytics", EAST)
    mall.layout()
    mall.publish()
    body = {
        "version": 1,
        "events": [
            {"kind": "impression", "block": "premium", "session": "s1"},
            {"kind": "click", "block": "premium", "sku": "SKU-03", "session": "s1"},
        ],
    }
    for _ in range(2):  # sent twice, stored once
        sent = mall.dealer["east-gold"].post("/api/v1/pages/home/events", json=body)
        assert sent.status_code == 200, sent.text
        assert sent.json()["accepted"] == 2
    with mall.platform.site(EAST).database.reading() as session:
        rows = session.execute(
            select(
                BehaviourEvent.type,
                BehaviourEvent.dealer,
                BehaviourEvent.sku,
                BehaviourEvent.properties,
            ).order_by(BehaviourEvent.id)
        ).all()
    assert [(r.type, r.dealer, r.sku) for r in rows] == [
        ("block_impression", "D-EAST-GOLD", None),
        ("block_click", "D-EAST-GOLD", "SKU-03"),
    ]
    assert rows[1].properties == {
        "page": "home",
        "version": 1,
        "block": "premium",
        "block_type": "product-grid",
    }
