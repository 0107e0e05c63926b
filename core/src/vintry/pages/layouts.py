"""What a layout is made of, checked: block types, their configurations, the catalog objects
they name — refused on save with the exact section, block and field, reported when stale.

One walk (:func:`inspect`) serves both: saving a layout refuses it when the walk finds a
problem; reading a stored layout or a published version lists what went stale since (a
SKU delisted, a plugin disabled), because a published page never breaks for that — the
renderer just leaves out what is gone.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ValidationError

from vintry.contracts import BlockType, ProductSelection
from vintry.errors import InvalidInput
from vintry.pages.products import SiteCatalog
from vintry.pages.schemas import MAX_BLOCKS, Problem, SectionIn, SectionOut
from vintry.platform import Platform, SiteContext

log = logging.getLogger("vintry.pages")


@dataclass(frozen=True)
class ParsedBlock:
    """A stored block ready to render: its type and validated configuration, or why not."""

    key: str
    type: str
    plugin: str | None
    block_type: BlockType | None
    config: BaseModel | None


@dataclass(frozen=True)
class ParsedSection:
    key: str
    title: str | None
    blocks: tuple[ParsedBlock, ...]


_layout_keys = itertools.count(1)


@dataclass(frozen=True)
class ParsedLayout:
    """Sections of a published version or template, parsed once (they never change)."""

    title: str | None
    sections: tuple[ParsedSection, ...]
    key: int = field(default_factory=lambda: next(_layout_keys), compare=False)
    """Unique to this parse in this process: what caches derived from the layout (its
    shelves at each site) are keyed on."""

    @cached_property
    def pure(self) -> bool:
        """Whether every block's type renders from its data alone (see ``BlockType.pure``)."""
        return all(
            block.block_type is None or block.block_type.pure
            for section in self.sections
            for block in section.blocks
        )

    def block_keys(self) -> dict[str, str]:
        return {block.key: block.type for s in self.sections for block in s.blocks}

    @cached_property
    def selections(self) -> Mapping[str, ProductSelection]:
        """Block key → the products each usable product block names (asked of its type
        once per parse: a selection depends on the configuration only)."""
        found: dict[str, ProductSelection] = {}
        for section in self.sections:
            for block in section.blocks:
                block_type = block.block_type
                if block_type is None or block_type.products is None or block.config is None:
                    continue
                try:
                    selection = block_type.products(block.config)
                except Exception:
                    log.exception("products() of block %s (%s) failed", block.key, block.type)
                    continue
                if selection is not None:
                    found[block.key] = selection
        return found


def sections_in(raw: Sequence[dict[str, Any]]) -> list[SectionIn]:
    """Stored sections back as request models (they were normalised when saved)."""
    return [SectionIn.model_validate(section) for section in raw]


def _problem(
    problems: list[Problem],
    section: str,
    block: str | None,
    field: str,
    code: str,
    message: str,
) -> None:
    problems.append(Problem(section=section, block=block, field=field, code=code, message=message))


def inspect(
    platform: Platform,
    sections: Sequence[SectionIn],
    catalog: SiteCatalog,
    *,
    site: SiteContext | None,
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Normalise *sections* (keys filled in, configurations as their models dump them) and
    list every problem, each naming its section, block and field (``sections.1.blocks.0.
    config.selection.skus.2``). With *site*, block types must be enabled there; without (an
    HQ template), installed is enough."""
    registered = platform.plugins.page_blocks()
    offered = catalog.codes()
    problems: list[Problem] = []
    normalised: list[dict[str, Any]] = []
    seen_sections: set[str] = set()
    seen_blocks: set[str] = set()
    total = 0
    for s_index, section in enumerate(sections):
        s_key = section.key or f"s{s_index + 1}"
        s_field = f"sections.{s_index}"
        if s_key in seen_sections:
            _problem(
                problems,
                s_key,
                None,
                f"{s_field}.key",
                "duplicate_key",
                f"section key {s_key!r} is used twice",
            )
        seen_sections.add(s_key)
        blocks: list[dict[str, Any]] = []
        for b_index, block in enumerate(section.blocks):
            total += 1
            b_key = block.key or f"{s_key}-b{b_index + 1}"
            b_field = f"{s_field}.blocks.{b_index}"
            if b_key in seen_blocks:
                _problem(
                    problems,
                    s_key,
                    b_key,
                    f"{b_field}.key",
                    "duplicate_key",
                    f"block key {b_key!r} is used twice",
                )
            seen_blocks.add(b_key)
            config: dict[str, Any] = block.config
            found = registered.get(block.type)
            if found is None:
                _problem(
                    problems,
                    s_key,
                    b_key,
                    f"{b_field}.type",
                    "unknown_block_type",
                    f"block type {block.type!r} does not exist (is its plugin installed?)",
                )
            else:
                plugin, block_type = found
                if site is not None and not site.is_enabled(plugin):
                    _problem(
                        problems,
                        s_key,
                        b_key,
                        f"{b_field}.type",
                        "block_type_not_enabled",
                        f"block type {block.type!r} belongs to plugin {plugin!r}, which is not "
                        f"enabled on site {site.code!r}",
                    )
                try:
                    model = block_type.config_model.model_validate(block.config)
                except ValidationError as error:
                    for item in error.errors():
                        where = ".".join(str(part) for part in item["loc"])
                        _problem(
                            problems,
                            s_key,
                            b_key,
                            f"{b_field}.config" + (f".{where}" if where else ""),
                            "invalid_block_config",
                            item["msg"],
                        )
                else:
                    config = model.model_dump(mode="json")
                    for reference in _references(block_type, model):
                        field = f"{b_field}.config.{reference.field}"
                        if reference.kind == "sku" and reference.code not in offered:
                            _problem(
                                problems,
                                s_key,
                                b_key,
                                field,
                                "sku_not_offered",
                                f"SKU {reference.code!r} is not offered here (unknown, "
                                "inactive or hidden)",
                            )
                        elif (
                            reference.kind == "category"
                            and reference.code not in catalog.categories
                        ):
                            _problem(
                                problems,
                                s_key,
                                b_key,
                                field,
                                "category_not_found",
                                f"category {reference.code!r} does not exist",
                            )
            blocks.append({"key": b_key, "type": block.type, "config": config})
        normalised.append({"key": s_key, "title": section.title, "blocks": blocks})
    if total > MAX_BLOCKS:
        _problem(
            problems,
            normalised[-1]["key"] if normalised else "",
            None,
            "sections",
            "too_many_blocks",
            f"a layout holds at most {MAX_BLOCKS} blocks, not {total}",
        )
    return normalised, problems


def _references(block_type: BlockType, config: BaseModel) -> Sequence[Any]:
    if block_type.references is None:
        return ()
    try:
        return block_type.references(config)
    except Exception:  # a plugin's bug must not hide the rest of the layout's problems
        log.exception("references() of block type %s failed", block_type.name)
        return ()


def refuse(problems: Sequence[Problem]) -> InvalidInput:
    """The 422 for a layout with *problems*: the first one's code, field, section and block,
    and every problem in ``details``."""
    first = problems[0]
    return InvalidInput(
        f"{first.field}: {first.message}",
        code=first.code,
        field=first.field,
        details={
            "section": first.section,
            "block": first.block,
            "problems": [p.model_dump() for p in problems],
        },
    )


def checked(
    platform: Platform,
    sections: Sequence[SectionIn],
    catalog: SiteCatalog,
    *,
    site: SiteContext | None,
) -> list[dict[str, Any]]:
    """*sections* normalised, or 422 naming the first problem (all of them in details)."""
    normalised, problems = inspect(platform, sections, catalog, site=site)
    if problems:
        raise refuse(problems)
    return normalised


def sections_out(raw: Sequence[dict[str, Any]]) -> list[SectionOut]:
    return [SectionOut.model_validate(section) for section in raw]


def parse(platform: Platform, title: str | None, raw: Sequence[dict[str, Any]]) -> ParsedLayout:
    """Stored sections parsed for rendering; a block whose type is gone or whose
    configuration no longer validates is kept with ``config=None`` (left out when rendered)."""
    registered = platform.plugins.page_blocks()
    sections = []
    for section in raw:
        blocks = []
        for block in section.get("blocks", ()):
            found = registered.get(block.get("type", ""))
            config: BaseModel | None = None
            if found is not None:
                try:
                    config = found[1].config_model.model_validate(block.get("config", {}))
                except ValidationError:
                    log.warning("stored block %s no longer validates", block.get("key"))
            blocks.append(
                ParsedBlock(
                    key=block["key"],
                    type=block.get("type", ""),
                    plugin=found[0] if found else None,
                    block_type=found[1] if found else None,
                    config=config,
                )
            )
        sections.append(
            ParsedSection(key=section["key"], title=section.get("title"), blocks=tuple(blocks))
        )
    return ParsedLayout(title=title, sections=tuple(sections))
