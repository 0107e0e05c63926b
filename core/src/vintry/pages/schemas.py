"""Request and response bodies of page decoration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from vintry.sites.schemas import RequestModel

LayoutCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
PageName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]

MAX_SECTIONS = 20
MAX_BLOCKS_PER_SECTION = 24
MAX_BLOCKS = 60


class BlockIn(RequestModel):
    """A block of a section: its type and that type's configuration."""

    key: Key | None = Field(
        default=None,
        description="Unique in the layout; names the block in errors and tracking. "
        "Given as `<section>-b<n>` when left out.",
    )
    type: Annotated[str, StringConstraints(max_length=64)]
    config: dict[str, Any] = Field(default_factory=dict)


class SectionIn(RequestModel):
    """An ordered group of blocks."""

    key: Key | None = Field(default=None, description="Unique in the layout; `s<n>` when left out.")
    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    blocks: list[BlockIn] = Field(default_factory=list, max_length=MAX_BLOCKS_PER_SECTION)


Sections = Annotated[list[SectionIn], Field(max_length=MAX_SECTIONS)]


class LayoutCreate(RequestModel):
    """A new draft layout of the addressed site."""

    code: LayoutCode
    title: Title
    page: PageName = "home"
    sections: Sections = Field(default_factory=list)


class LayoutUpdate(RequestModel):
    """New title and/or sections of a draft; ``revision``, when sent, must be the one read
    (409 ``layout_changed`` otherwise: someone saved in between)."""

    title: Title | None = None
    sections: Sections | None = None
    revision: int | None = Field(default=None, ge=1)


class BlockOut(BaseModel):
    key: str
    type: str
    config: dict[str, Any]


class SectionOut(BaseModel):
    key: str
    title: str | None
    blocks: list[BlockOut]


class Problem(BaseModel):
    """Where a layout is wrong or has gone stale: section, block and field, and why."""

    section: str
    block: str | None
    field: str
    code: str
    message: str


class LayoutOut(BaseModel):
    code: str
    page: str
    title: str
    template: str | None
    revision: int
    sections: list[SectionOut]
    problems: list[Problem] = Field(
        description="References that went stale since the layout was saved (a delisted SKU, "
        "a disabled plugin's block)."
    )
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class LayoutSummary(BaseModel):
    code: str
    page: str
    title: str
    template: str | None
    revision: int
    blocks: int
    updated_by: str
    updated_at: datetime


class PublishRequest(RequestModel):
    """When the publication serves: from ``starts_at`` (now when left out) until ``ends_at``
    (for good when left out; a window makes it a festival layout that serves over the
    regular one and then gives way)."""

    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None


VersionState = Literal["serving", "scheduled", "superseded", "ended", "withdrawn"]


class VersionSummary(BaseModel):
    page: str
    number: int
    layout: str
    title: str
    state: VersionState
    starts_at: datetime
    ends_at: datetime | None
    published_by: str
    published_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdraw_reason: str | None


class VersionOut(VersionSummary):
    sections: list[SectionOut]
    problems: list[Problem]


class PageStatus(BaseModel):
    """What a page shows now, where it comes from, and when that changes next."""

    page: str
    source: Literal["site", "hq_default", "none"]
    serving: VersionSummary | None
    template: str | None
    next_change_at: datetime | None
    versions: list[VersionSummary]


class RollbackRequest(RequestModel):
    """The version the operator sees serving and means to roll back: a second click (or a
    colleague's rollback meanwhile) is refused 409 ``page_changed`` instead of rolling back
    one step further."""

    version: int = Field(ge=1)
    reason: Annotated[str, StringConstraints(max_length=32)] = "rolled_back"


class TemplateCreate(RequestModel):
    """A layout HQ publishes for every site to copy; ``is_default`` makes it what sites
    without a published layout of their own show."""

    code: LayoutCode
    title: Title
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    page: PageName = "home"
    sections: Sections = Field(default_factory=list)
    is_default: bool = False


class TemplateUpdate(RequestModel):
    title: Title | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    sections: Sections | None = None
    is_default: bool | None = None
    revision: int | None = Field(default=None, ge=1)


class TemplateOut(BaseModel):
    code: str
    page: str
    title: str
    description: str | None
    is_default: bool
    revision: int
    sections: list[SectionOut]
    created_by: str
    created_at: datetime
    updated_at: datetime


class TemplateCopy(RequestModel):
    """The code (and optionally title) of the site's new draft made from a template."""

    code: LayoutCode
    title: Title | None = None
    drop_unusable: bool = Field(
        default=False,
        description="Leave out the blocks that do not hold at this site (a plugin not "
        "enabled, a SKU not offered) instead of refusing the copy.",
    )


class BlockTypeOut(BaseModel):
    name: str
    title: str
    description: str
    plugin: str
    enabled_here: bool
    config_schema: dict[str, Any]


class RenderedBlock(BaseModel):
    key: str
    type: str
    data: dict[str, Any]


class RenderedSection(BaseModel):
    key: str
    title: str | None
    blocks: list[RenderedBlock]


class RenderedPage(BaseModel):
    """A site's page resolved for one dealer: every block filled with its data."""

    site: str
    page: str
    source: Literal["site", "hq_default", "none", "preview"]
    version: int | None
    template: str | None
    title: str | None
    dealer: str | None
    rendered_at: datetime
    sections: list[RenderedSection]


class PageEventIn(RequestModel):
    kind: Literal["impression", "click"]
    block: Key
    sku: Annotated[str, StringConstraints(max_length=32)] | None = None
    session: Annotated[str, StringConstraints(max_length=64)] | None = None
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When it happened; the server's time when left out."
    )


class PageEventsIn(RequestModel):
    """Impressions and clicks of the page version ``version`` (as rendered)."""

    version: int | None = None
    events: list[PageEventIn] = Field(min_length=1, max_length=200)


class RejectedEvent(BaseModel):
    index: int
    field: str
    code: str
    message: str


class PageEventsOut(BaseModel):
    accepted: int
    rejected: list[RejectedEvent]
