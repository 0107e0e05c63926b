"""Refuse names that would make an uninstallable or unloadable plugin, before rendering."""

import re
import sys

SLUG = "{{ cookiecutter.plugin_slug }}"
DISTRIBUTION = "{{ cookiecutter.distribution_name }}"
PACKAGE = "{{ cookiecutter.package_name }}"
SDK_RANGE = "{{ cookiecutter.sdk_range }}"

problems = []
# The slug is the entry-point name, the key of the plugin's configuration and a URL segment
# (/api/v1/x/<slug>/): the kernel accepts plugin names matching ^[a-z0-9][a-z0-9_.-]*$.
if not re.fullmatch(r"[a-z][a-z0-9-]{0,62}", SLUG):
    problems.append(
        f"plugin_slug {SLUG!r}: use lower-case letters, digits and '-', starting with a letter"
    )
if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", DISTRIBUTION):
    problems.append(f"distribution_name {DISTRIBUTION!r} is not a valid distribution name")
if not PACKAGE.isidentifier():
    problems.append(f"package_name {PACKAGE!r} is not a valid Python identifier")
CLAUSE = r"\s*(~=|==|!=|<=|>=|<|>)\s*[0-9][0-9a-z.*+!]*\s*"
if not re.fullmatch(rf"{CLAUSE}(,{CLAUSE})*", SDK_RANGE):
    problems.append(f"sdk_range {SDK_RANGE!r} is not a version specifier such as '>=0.1,<0.2'")
if problems:
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    sys.exit(1)
