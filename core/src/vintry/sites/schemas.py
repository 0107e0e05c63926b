"""Request and response bodies of the sites domain."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from vintry.sites.models import SiteKind

SITE_CODE_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"
_HOSTNAME_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(value: str) -> str:
    """Lower-case a host name and check it is one (RFC 1123 labels, or an IPv4 address)."""
    domain = value.strip().lower().rstrip(".")
    if not domain or len(domain) > 253:
        raise ValueError("a domain has 1 to 253 characters")
    if not all(_HOSTNAME_LABEL.match(label) for label in domain.split(".")):
        raise ValueError(f"{value!r} is not a valid host name")
    return domain


def check_time_zone(value: str) -> str:
    """Refuse a name that is not an IANA time zone (order dates are computed in it)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{value!r} is not an IANA time zone such as 'Asia/Shanghai'") from None
    return value


SiteCode = Annotated[str, StringConstraints(pattern=SITE_CODE_PATTERN)]
Domain = Annotated[str, AfterValidator(normalize_domain)]
TimeZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(check_time_zone)]


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SiteCreate(RequestModel):
    """A new site under the site the request is addressed to."""

    code: SiteCode = Field(description="Short lower-case identifier, also the database name.")
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    kind: SiteKind = Field(default=SiteKind.REGION, description="region or store")
    domains: list[Domain] = Field(default_factory=list, max_length=20)
    database_url: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Own database; unset uses the configured template."
    )


class SiteUpdate(RequestModel):
    """Changes to a site; omitted fields stay as they are."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    domains: list[Domain] | None = Field(default=None, max_length=20)
    active: bool | None = None


class SiteOut(BaseModel):
    """A site as the API shows it."""

    code: str
    name: str
    kind: SiteKind
    parent: str | None
    domains: list[str]
    active: bool
    depth: int


class SiteTreeOut(BaseModel):
    """A site with its children, recursively."""

    code: str
    name: str
    kind: SiteKind
    domains: list[str]
    active: bool
    children: list[SiteTreeOut] = Field(default_factory=list)


class SiteSettings(BaseModel):
    """The kernel's own per-site settings, inherited field by field down the tree."""

    model_config = ConfigDict(extra="forbid")

    timezone: TimeZoneName = Field(
        default="Asia/Shanghai", description="IANA time zone of the mall."
    )
    locale: str = Field(default="zh-CN", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    min_order_amount: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        max_digits=12,
        decimal_places=2,
        description="Smallest order total accepted, in yuan.",
    )
    reservation_minutes: int = Field(
        default=30, ge=1, le=1440, description="How long placed-but-unpaid stock stays held."
    )
    support_phone: str | None = Field(default=None, max_length=32)
    announcement: str | None = Field(default=None, max_length=500)


class ResolvedSettingsOut(BaseModel):
    """Settings in force at a site, and which site decided each field (null: default)."""

    site: str
    values: dict[str, Any]
    decided_by: dict[str, str | None]
    overrides: dict[str, Any]


class AuditOut(BaseModel):
    """One audit entry."""

    id: int
    at: datetime
    site: str
    actor: str
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
