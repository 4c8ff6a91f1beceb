"""Which owners a verified portal session may read (pure rules), and how a credential is read."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.portal_sessions import cookie_jwt, is_jwt, session_owners
from app.core.records import Owner
from app.errors import ForbiddenError, UnauthenticatedError
from tests.auth.sessions import CAROL

USER = Owner("user", "carol")
ORG1, ORG2 = Owner("organization", "org1"), Owner("organization", "org2")


@pytest.mark.parametrize(
    ("payload", "active_org", "active_dep", "owners"),
    [
        # No active organisation: her own account and the organisations she administers whole.
        (CAROL, None, None, (ORG1, USER)),
        ({"id": "carol"}, None, None, (USER,)),
        ({"id": "carol", "organizations": None}, None, None, (USER,)),
        (
            {"id": "carol", "organizations": [{"id": "org1", "role": "admin"}, "junk", {"id": 3}]},
            None,
            None,
            (ORG1, USER),
        ),
        # An active organisation she is admin of: it alone.
        (CAROL, "org1", None, (ORG1,)),
        # One she does not belong to: her own account, as Data Fair falls back to it.
        (CAROL, "org3", None, (USER,)),
        (CAROL, "org1", "dep9", (USER,)),  # no membership of org1's dep9
    ],
)
def test_scopes_a_session(
    payload: dict[str, Any], active_org: str | None, active_dep: str | None, owners: tuple[Owner]
) -> None:
    assert session_owners(payload, active_org, active_dep) == owners


@pytest.mark.parametrize(("active_org", "active_dep"), [("org4", None), ("org4", "dep1")])
def test_refuses_a_department_as_active_account(active_org: str, active_dep: str | None) -> None:
    with pytest.raises(ForbiddenError, match="per organisation, not per department"):
        session_owners(CAROL, active_org, active_dep)


@pytest.mark.parametrize("payload", [{}, {"id": ""}, {"id": 42}, {"name": "Carol"}])
def test_refuses_a_session_without_a_user(payload: dict[str, Any]) -> None:
    with pytest.raises(UnauthenticatedError, match="names no user"):
        session_owners(payload, None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("eyJhbGciOiJSUzI1NiJ9.eyJpZCI6ImNhcm9sIn0.c2ln", True),
        ("eyJhbGciOiJub25lIn0.eyJpZCI6ImNhcm9sIn0.", True),  # unsigned: refused, but as a JWT
        ("um_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", False),
        ("test-admin-token", False),
        ("eyJhbGciOiJSUzI1NiJ9.eyJpZCI6ImNhcm9sIn0", False),
        ("eyJ.a.b.c", False),
    ],
)
def test_tells_a_jwt_from_our_tokens(value: str, expected: bool) -> None:
    assert is_jwt(value) is expected


def test_joins_the_split_cookies() -> None:
    assert cookie_jwt({"id_token": "h.p", "id_token_sign": "s"}) == "h.p.s"
    assert cookie_jwt({"id_token": "h.p"}) is None
    assert cookie_jwt({"id_token": "h.p", "id_token_sign": ""}) is None
    assert cookie_jwt({}) is None
