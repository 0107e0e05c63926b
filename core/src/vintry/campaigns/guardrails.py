"""HQ's guardrails on campaigns: what a campaign names must exist here, and no campaign may
price a SKU under the floor HQ set (minimum price, maximum discount, inherited down the
tree).

The type knows its arithmetic, the kernel knows the floors: a campaign type reports the
lowest unit price a configuration can produce per SKU (``lowest_unit_prices``) and the
kernel holds each against the floor in force at the campaign's site. Only SKUs with a floor
on the site's path, and those the configuration names, are asked about, so the check costs
the same whatever the size of the library. At checkout the pricing pipeline caps every line
at its floor again, so a price change after creation cannot let a campaign cross it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from vintry.catalog.assortment import offered_at
from vintry.catalog.models import Brand, Category, PriceFloorRule, Product, Sku
from vintry.catalog.pricing import FloorViolation, effective_prices, floor_violation
from vintry.contracts import CampaignSkuView, CampaignType
from vintry.errors import InvalidInput, NotFound, ServiceUnavailable
from vintry.money import from_fen, to_fen
from vintry.platform import SiteContext


def check_campaign(
    site: SiteContext, campaign_type: CampaignType, config: BaseModel, *, field: str = "config"
) -> None:
    """Refuse *config* at *site*: 404 ``sku_not_found`` / 422 ``sku_not_offered`` for a SKU
    it names, 422 ``campaign_below_price_floor`` naming the SKU and its floor when the
    campaign could price a SKU under it."""
    platform = site.platform
    directory = platform.directory()
    referenced = (
        dict(campaign_type.referenced_skus(config)) if campaign_type.referenced_skus else {}
    )
    path_ids = [node.id for node in directory.path(site.code)]
    with platform.hq.reading() as session:
        if referenced:
            known = {
                code: (sku_id, active)
                for sku_id, code, active in session.execute(
                    select(Sku.id, Sku.code, Sku.active).where(Sku.code.in_(list(referenced)))
                )
            }
            for code, where in referenced.items():
                if code not in known:
                    raise NotFound(
                        f"SKU {code!r} does not exist", code="sku_not_found", field=where
                    )
            offered = offered_at(
                session, directory, site.code, {i: (code, a) for code, (i, a) in known.items()}
            ).value
            for code, where in referenced.items():
                if code not in offered:
                    raise InvalidInput(
                        f"SKU {code!r} is not offered at site {site.code!r}",
                        code="sku_not_offered",
                        field=where,
                    )
        floored = select(PriceFloorRule.sku_id).where(PriceFloorRule.site_id.in_(path_ids))
        rows = session.execute(
            select(Sku, Product.code, Product.tags, Brand.code, Category.code)
            .join(Product, Product.id == Sku.product_id)
            .join(Brand, Brand.id == Product.brand_id)
            .join(Category, Category.id == Product.category_id)
            .where(Sku.id.in_(floored) | Sku.code.in_(list(referenced)))
        ).all()
        if not rows:
            return
        prices = effective_prices(
            session,
            directory,
            site.code,
            [row[0].id for row in rows],
            base_fen={row[0].id: row[0].base_price_fen for row in rows},
        )
    views = []
    by_code = {}
    for sku, product, tags, brand, category in rows:
        price = prices[sku.id]
        by_code[sku.code] = price
        views.append(
            CampaignSkuView(
                sku=sku.code,
                product=product,
                brand=brand,
                category=category,
                tags=tuple(tags or ()),
                base_unit_price=from_fen(price.base_fen),
                unit_price=from_fen(price.price_fen),
            )
        )
    lowest = _lowest(campaign_type, config, views)
    violations: list[FloorViolation] = []
    for code, unit_price in sorted(lowest.items()):
        effective = by_code.get(code)
        if effective is None:
            continue  # a SKU with no floor here and not named by the configuration
        violation = floor_violation(effective, to_fen(unit_price), sku=code, site=site.code)
        if violation is not None:
            violations.append(violation)
    if violations:
        first = violations[0]
        raise InvalidInput(
            f"the campaign could {first.describe()}"
            + (f" (and {len(violations) - 1} more SKUs)" if len(violations) > 1 else ""),
            code="campaign_below_price_floor",
            field=field,
            details={
                "sku": first.sku,
                "floor": str(from_fen(first.lowest_allowed_fen)),
                "violations": [v.details() for v in violations],
            },
        )


def _lowest(
    campaign_type: CampaignType, config: BaseModel, views: list[CampaignSkuView]
) -> dict[str, Any]:
    try:
        return dict(campaign_type.lowest_unit_prices(config, views))
    except Exception as error:
        raise ServiceUnavailable(
            f"campaign type {campaign_type.name!r} failed to report its lowest prices: "
            f"{type(error).__name__}: {error}",
            code="campaign_type_failed",
            details={"type": campaign_type.name},
        ) from error
