"""``vintry user`` and ``vintry token``."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from typer.testing import Result
from vintry.accounts.models import Role
from vintry.accounts.service import authenticate
from vintry.errors import Unauthenticated
from vintry.platform import Platform

Invoke = Callable[..., Result]

TOKEN = re.compile(r"vt_([0-9a-f]{12})_\S+")


def test_user_and_token_create_then_revoke(vintry: Invoke, platform: Platform) -> None:
    vintry("init")
    vintry("site", "create", "east", "East")
    vintry("dealer", "create", "east", "D-E-001", "East Wines")
    operator = vintry("user", "create", "op-east", "--role", "site_operator", "--site", "east")
    assert "Created user op-east: site_operator at east." in operator.stdout
    dealer = vintry(
        "user", "create", "d-e-001", "--role", "dealer", "--site", "east",
        "--dealer", "D-E-001", "--name", "East Wines buyer",
    )
    assert "dealer D-E-001" in dealer.stdout

    issued = vintry("token", "create", "op-east", "--name", "laptop", "--days", "7")
    assert "not shown again" in issued.stdout
    match = TOKEN.search(issued.stdout)
    assert match is not None
    token, token_id = match.group(0), match.group(1)
    principal = authenticate(platform, token, platform.directory())
    assert (principal.username, principal.role, principal.site) == (
        "op-east", Role.SITE_OPERATOR, "east",
    )

    listed = vintry("token", "list", "op-east").stdout
    assert token_id in listed and "laptop" in listed
    assert token not in listed

    assert "revoked" in vintry("token", "revoke", token_id).stdout
    with pytest.raises(Unauthenticated) as refused:
        authenticate(platform, token, platform.directory())
    assert refused.value.code == "token_revoked"
    assert "was already revoked" in vintry("token", "revoke", token).stdout


def test_account_errors(vintry: Invoke) -> None:
    vintry("init")
    vintry("site", "create", "east", "East")
    no_dealer = vintry("user", "create", "d-1", "--role", "dealer", "--site", "east", expect=1)
    assert "dealer_required" in no_dealer.stderr and "(field: dealer)" in no_dealer.stderr
    vintry("user", "create", "op-east", "--role", "site_operator", "--site", "east")
    again = vintry("user", "create", "op-east", "--role", "site_operator", expect=1)
    assert "user_exists" in again.stderr
    unknown = vintry("token", "create", "nobody", expect=1)
    assert "user_not_found" in unknown.stderr
    missing = vintry("token", "revoke", "0123456789ab", expect=1)
    assert "token_not_found" in missing.stderr
    assert "Traceback" not in no_dealer.output + again.output + unknown.output + missing.output
