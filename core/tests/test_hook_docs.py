"""The hook reference (``docs/plugins/hooks.md``) stays true to ``vintry.hookspecs``.

Like Datasette's ``test_docs.py``: every hookspec has a section whose heading is its exact
signature (``### `vintry_x(a, b)` ``); no heading names a hook that does not exist; each
section has a Python example that compiles and, executed as a module, loads as a plugin
implementing that very hook; each hookspec has a docstring with ``:param`` for every
argument and ``:returns:``. The checks are plain functions, themselves tested on a broken
document so that a check that silently passes everything cannot go unnoticed.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from vintry import hookspecs
from vintry.plugins import PluginHost

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "hooks.md"
HEADING = re.compile(r"^#{2,4} `(?P<name>vintry_\w+)\((?P<args>[^)]*)\)`\s*$", re.MULTILINE)
ANY_HEADING = re.compile(r"^#{1,4} ", re.MULTILINE)
CODE_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass
class Section:
    """One hook's section of the reference."""

    name: str
    args: list[str]
    body: str
    examples: list[str] = field(default_factory=list)


def declared_hooks(module: types.ModuleType) -> dict[str, Callable[..., Any]]:
    """Every ``vintry_*`` function of *module* that carries the hookspec marker."""
    return {
        name: function
        for name, function in vars(module).items()
        if name.startswith("vintry_")
        and callable(function)
        and getattr(function, f"{hookspecs.PROJECT}_spec", None) is not None
    }


def parse_sections(text: str) -> dict[str, Section]:
    """Hook sections by name: heading signature, body up to the next heading, examples."""
    sections: dict[str, Section] = {}
    for match in HEADING.finditer(text):
        following = ANY_HEADING.search(text, match.end())
        body = text[match.end() : following.start() if following else len(text)]
        args = [arg.strip() for arg in match["args"].split(",") if arg.strip()]
        examples = [block["code"] for block in CODE_BLOCK.finditer(body)]
        if match["name"] in sections:
            sections[f"{match['name']} (again)"] = Section(match["name"], args, body, examples)
        else:
            sections[match["name"]] = Section(match["name"], args, body, examples)
    return sections


def spec_arguments(function: Callable[..., Any]) -> list[str]:
    """The argument names of a hookspec, in order."""
    return list(inspect.signature(function).parameters)


def doc_problems(hooks: dict[str, Callable[..., Any]], sections: dict[str, Section]) -> list[str]:
    """Everything that makes the reference disagree with the hookspecs."""
    problems: list[str] = []
    for name, function in sorted(hooks.items()):
        section = sections.get(name)
        expected = f"`{name}({', '.join(spec_arguments(function))})`"
        if section is None:
            problems.append(f"{name}: undocumented (add a section headed {expected})")
            continue
        if section.args != spec_arguments(function):
            problems.append(
                f"{name}: documented as `{name}({', '.join(section.args)})`, declared as {expected}"
            )
        if not section.examples:
            problems.append(f"{name}: the section has no ```python example")
        if "**Used by**" not in section.body:
            problems.append(f"{name}: the section does not say what uses the hook (**Used by**)")
        options = getattr(function, f"{hookspecs.PROJECT}_spec", None) or {}
        if options.get("firstresult") and "first result" not in section.body.lower():
            problems.append(f"{name}: a firstresult hook whose section does not say so")
        if options.get("historic") and "historic" not in section.body.lower():
            problems.append(f"{name}: a historic hook whose section does not say so")
    for key, section in sorted(sections.items()):
        if key != section.name:
            problems.append(f"{section.name}: documented twice")
        elif section.name not in hooks:
            problems.append(
                f"{section.name}: documented, but vintry.hookspecs declares no such hook"
            )
    return problems


def docstring_problems(hooks: dict[str, Callable[..., Any]]) -> list[str]:
    """Hookspecs whose docstring lacks a summary, a ``:param`` per argument or ``:returns:``."""
    problems: list[str] = []
    for name, function in sorted(hooks.items()):
        doc = inspect.getdoc(function)
        if not doc or not doc.strip():
            problems.append(f"{name}: no docstring")
            continue
        if doc.lstrip().startswith(":"):
            problems.append(f"{name}: the docstring does not start with a summary line")
        for arg in spec_arguments(function):
            if not re.search(rf"^:param {re.escape(arg)}:", doc, re.MULTILINE):
                problems.append(f"{name}: no ':param {arg}:' in the docstring")
        documented = set(re.findall(r"^:param (\w+):", doc, re.MULTILINE))
        for extra in sorted(documented - set(spec_arguments(function))):
            problems.append(f"{name}: ':param {extra}:' documents no argument")
        if not re.search(r"^:returns?:", doc, re.MULTILINE):
            problems.append(f"{name}: no ':returns:' in the docstring")
    return problems


@pytest.fixture(scope="module")
def sections() -> dict[str, Section]:
    """The sections of the real reference."""
    return parse_sections(DOC.read_text(encoding="utf-8"))


HOOKS = declared_hooks(hookspecs)


# --- the real reference and hookspecs ---------------------------------------------------


def test_hookspecs_declare_hooks() -> None:
    assert "vintry_handle_event" in HOOKS
    assert all(name.startswith("vintry_") for name in HOOKS)


def test_every_vintry_function_in_hookspecs_is_a_hookspec() -> None:
    # An unmarked function would be silently ignored by add_hookspecs: no hook, no error.
    unmarked = [
        name for name, value in vars(hookspecs).items()
        if name.startswith("vintry_") and inspect.isfunction(value) and name not in HOOKS
    ]
    assert unmarked == []


def test_reference_matches_hookspecs(sections: dict[str, Section]) -> None:
    problems = doc_problems(HOOKS, sections)
    assert problems == [], "docs/plugins/hooks.md is out of date:\n" + "\n".join(problems)


def test_hookspec_docstrings_document_every_argument() -> None:
    problems = docstring_problems(HOOKS)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_examples_compile(hook: str, sections: dict[str, Section]) -> None:
    section = sections.get(hook)
    if section is None:
        pytest.fail(f"{hook} is undocumented")
    for number, code in enumerate(section.examples, 1):
        compile(code, f"hooks.md:{hook}:example{number}", "exec")


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_examples_load_as_plugins_implementing_their_hook(
    hook: str, sections: dict[str, Section], monkeypatch: pytest.MonkeyPatch
) -> None:
    section = sections.get(hook)
    if section is None:
        pytest.fail(f"{hook} is undocumented")
    implemented: set[str] = set()
    for number, code in enumerate(section.examples, 1):
        with example_module(f"vintry_doc_example_{hook}_{number}", code, monkeypatch) as module:
            host = PluginHost(entry_points=lambda: [], builtins=())
            record = host.register(f"example-{number}", module)
            assert record.status == "loaded", f"example {number} of {hook}: {record.error}"
            implemented.update(record.hooks)
    assert hook in implemented, f"no example of {hook} implements it"


@contextmanager
def example_module(
    name: str, code: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[types.ModuleType]:
    """Execute *code* as module *name* (importable while in use, so pydantic resolves types)."""
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(code, f"<hooks.md {name}>", "exec"), module.__dict__)
    yield module


# --- the checks themselves catch what they claim to ---------------------------------------

BROKEN_REFERENCE = """
## Registration hooks

### `vintry_register_settings(regster)`

Documented with a misspelled argument, no example and no users.

### `vintry_register_settings(register)`

```python
pass
```

**Used by** — a second section for the same hook.

### `vintry_register_everything(register)`

```python
pass
```

**Used by** — nothing: the hook does not exist.

### `vintry_pick_one(candidates)`

```python
pass
```

**Used by** — a test.
"""


@hookspecs.hookspec(firstresult=True)
def vintry_pick_one(candidates: list[str]) -> str | None:
    """Pick one candidate; the others are never asked.

    :param candidates: what to pick from.
    """


def vintry_unmarked(register: object) -> None:
    """Not a hookspec: no marker."""


def test_checks_report_every_kind_of_disagreement() -> None:
    hooks = {
        "vintry_register_settings": HOOKS["vintry_register_settings"],
        "vintry_handle_event": HOOKS["vintry_handle_event"],
        "vintry_pick_one": vintry_pick_one,
    }
    problems = doc_problems(hooks, parse_sections(BROKEN_REFERENCE))
    assert problems == [
        "vintry_handle_event: undocumented "
        "(add a section headed `vintry_handle_event(event, site)`)",
        "vintry_pick_one: a firstresult hook whose section does not say so",
        "vintry_register_settings: documented as `vintry_register_settings(regster)`, "
        "declared as `vintry_register_settings(register)`",
        "vintry_register_settings: the section has no ```python example",
        "vintry_register_settings: the section does not say what uses the hook (**Used by**)",
        "vintry_register_everything: documented, but vintry.hookspecs declares no such hook",
        "vintry_register_settings: documented twice",
    ]


def test_docstring_check_reports_missing_params_and_returns() -> None:
    assert docstring_problems({"vintry_pick_one": vintry_pick_one}) == [
        "vintry_pick_one: no ':returns:' in the docstring",
    ]

    def vintry_bare(site: object, event: object) -> None:
        """:param site: where."""

    assert docstring_problems({"vintry_bare": vintry_bare}) == [
        "vintry_bare: the docstring does not start with a summary line",
        "vintry_bare: no ':param event:' in the docstring",
        "vintry_bare: no ':returns:' in the docstring",
    ]


def test_declared_hooks_skip_unmarked_functions() -> None:
    module = types.ModuleType("fake_hookspecs")
    module.vintry_pick_one = vintry_pick_one  # type: ignore[attr-defined]
    module.vintry_unmarked = vintry_unmarked  # type: ignore[attr-defined]
    assert declared_hooks(module) == {"vintry_pick_one": vintry_pick_one}
