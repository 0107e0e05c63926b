"""Configuration inherited field by field down the site tree.

A *namespace* pairs a name (``site`` for the kernel's settings, ``plugin:<name>`` for a
plugin's) with the pydantic model that validates it. Each site stores only the fields it
overrides; :func:`resolve_configuration` merges the chain root → site with
:class:`~vintry.sites.inheritance.FieldMergeRule`. A change is accepted only if the merged
result stays valid at the changed site *and every descendant*; otherwise nothing is
written and the error names the site and field that would break.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from vintry.accounts.principal import Actor
from vintry.audit.service import record_change
from vintry.db.counters import bump
from vintry.errors import InvalidInput
from vintry.platform import Platform
from vintry.sites.directory import SiteDirectory
from vintry.sites.inheritance import FieldMergeRule, Layer, Resolved, resolve
from vintry.sites.models import SiteSettingOverride


@dataclass(frozen=True)
class ConfigNamespace:
    """A named set of inherited fields and the model that validates them."""

    name: str
    model: type[BaseModel]
    object_type: str
    counter: str | None = None
    """Change counter bumped with every change, so other workers reload (plugins)."""

    def defaults(self) -> dict[str, Any]:
        """The model's defaults, JSON-ready (a model with required fields has fewer)."""
        return dict(_defaults_of(self.model))


@functools.cache
def _defaults_of(model: type[BaseModel]) -> Mapping[str, Any]:
    # Built once per model: TypeAdapters are costly and defaults do not change at run time.
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if not info.is_required():
            values[name] = info.get_default(call_default_factory=True)
    return MappingProxyType(_jsonable(model, values))


@dataclass(frozen=True)
class ResolvedConfiguration:
    """Configuration in force at one site."""

    site: str
    values: dict[str, Any]
    decided_by: dict[str, str | None]
    overrides: dict[str, Any]


def load_overrides(
    session: Session,
    namespace: str,
    directory: SiteDirectory,
    only_sites: Iterable[int] | None = None,
) -> dict[str, dict[str, Any]]:
    """Sites' own overrides in *namespace* by site code (all sites, or *only_sites* ids)."""
    query = select(SiteSettingOverride).where(SiteSettingOverride.namespace == namespace)
    if only_sites is not None:
        query = query.where(SiteSettingOverride.site_id.in_(list(only_sites)))
    rows = session.scalars(query)
    known = {node.id: node.code for node in directory.nodes.values()}
    return {known[row.site_id]: dict(row.values) for row in rows if row.site_id in known}


def merge_chain(
    namespace: ConfigNamespace,
    directory: SiteDirectory,
    overrides: Mapping[str, Mapping[str, Any]],
    code: str,
) -> Resolved[dict[str, Any]]:
    """Fold the overrides on the path root → *code* over the model's defaults."""
    chain = [Layer(node.code, overrides.get(node.code)) for node in directory.path(code)]
    return resolve(FieldMergeRule(defaults=namespace.defaults()), chain)


def resolve_configuration(
    platform: Platform, namespace: ConfigNamespace, code: str
) -> ResolvedConfiguration:
    """The configuration in force at site *code*, with provenance."""
    directory = platform.directory()
    path_ids = [node.id for node in directory.path(code)]
    with platform.hq.reading() as session:
        overrides = load_overrides(session, namespace.name, directory, only_sites=path_ids)
    merged = merge_chain(namespace, directory, overrides, code)
    return ResolvedConfiguration(
        site=code,
        values=merged.value,
        decided_by=dict(merged.decided_by),
        overrides=dict(overrides.get(code, {})),
    )


def change_overrides(
    platform: Platform,
    namespace: ConfigNamespace,
    code: str,
    *,
    set_fields: Mapping[str, Any] | None = None,
    clear_fields: Iterable[str] = (),
    actor: Actor,
) -> ResolvedConfiguration:
    """Set and/or clear site *code*'s overrides, if every descendant stays valid."""
    set_fields = dict(set_fields or {})
    clear = list(clear_fields)
    known_fields = set(namespace.model.model_fields)
    for name in [*set_fields, *clear]:
        if name not in known_fields:
            raise InvalidInput(
                f"{namespace.object_type} has no field {name!r}",
                code="unknown_field",
                field=name,
            )
    directory = platform.directory()
    node = directory.get(code)
    with platform.hq.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            key = zlib.crc32(f"vintry-config:{namespace.name}".encode())
            session.execute(select(_advisory_lock(key)))
        overrides = load_overrides(session, namespace.name, directory)
        before = dict(overrides.get(code, {}))
        after = {k: v for k, v in before.items() if k not in clear}
        after.update(set_fields)
        candidate = {**overrides, code: after}
        _validate_subtree(namespace, directory, candidate, code)
        # Store the normalised JSON form of the values the site sets (Decimal → str, ...).
        merged_here = merge_chain(namespace, directory, candidate, code).value
        normalised = namespace.model.model_validate(merged_here).model_dump(mode="json")
        after = {name: normalised[name] for name in after}
        if after == before:
            unchanged = merge_chain(namespace, directory, overrides, code)
            return ResolvedConfiguration(
                site=code,
                values=unchanged.value,
                decided_by=dict(unchanged.decided_by),
                overrides=before,
            )
        row = session.get(SiteSettingOverride, (node.id, namespace.name))
        now = platform.clock.now()
        if not after:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(
                SiteSettingOverride(
                    site_id=node.id, namespace=namespace.name, values=after, updated_at=now
                )
            )
        else:
            row.values = after
            row.updated_at = now
        if namespace.counter is not None:
            bump(session, namespace.counter)
        record_change(
            session,
            at=now,
            site_id=node.id,
            actor=actor,
            action=f"{namespace.object_type}.update",
            object_type=namespace.object_type,
            object_id=namespace.name,
            before=before or None,
            after=after or None,
        )
    final = merge_chain(namespace, directory, {**overrides, code: after}, code)
    return ResolvedConfiguration(
        site=code, values=final.value, decided_by=dict(final.decided_by), overrides=after
    )


def _validate_subtree(
    namespace: ConfigNamespace,
    directory: SiteDirectory,
    overrides: Mapping[str, Mapping[str, Any]],
    changed: str,
) -> None:
    for node in directory.subtree(changed):
        merged = merge_chain(namespace, directory, overrides, node.code).value
        try:
            namespace.model.model_validate(merged)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            where = "" if node.code == changed else f" at descendant site {node.code!r}"
            raise InvalidInput(
                f"{namespace.object_type} would be invalid{where}: "
                f"{field or 'value'}: {first['msg']}",
                code="invalid_configuration" if node.code == changed else "invalid_for_descendant",
                field=field,
                details={"site": node.code, "errors": _plain_errors(error)},
            ) from None


def _plain_errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in item["loc"]),
            "message": item["msg"],
            "type": item["type"],
        }
        for item in error.errors()
    ]


def _jsonable(model: type[BaseModel], values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready values through the model's own serialisers, field by field."""
    fields = model.model_fields
    return {
        name: TypeAdapter(fields[name].annotation or Any).dump_python(value, mode="json")
        for name, value in values.items()
    }


def _advisory_lock(key: int) -> Any:
    return func.pg_advisory_xact_lock(key)
