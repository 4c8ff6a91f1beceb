"""The dashboard opened by the portal's cookies (same site as the portal), without /login: exactly
the session's datasets, its owner picker, and the token sign-in still beside it."""

from __future__ import annotations

import re

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.config import Settings
from tests.auth.sessions import cookie_header, ingest_owners, public_pem, session_token
from tests.conftest import with_settings
from tests.dashboard.pages import TODAY, card, open_dashboard, row_ids
from tests.helpers import ADMIN_TOKEN, dataset, ingest, line_on
from tests.schema.test_loaders import counted_statements

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings: Settings, portal_key: rsa.RSAPrivateKey) -> Settings:
    return with_settings(
        settings, today=TODAY, failed_sign_in_delay_s=0.0, jwt_public_key=public_pem(portal_key)
    )


@pytest.fixture
async def cookies(client: httpx.AsyncClient, portal_key: rsa.RSAPrivateKey) -> dict[str, str]:
    """Carol's session cookies, the owners' data ingested."""
    await ingest_owners(client)
    return cookie_header(session_token(portal_key))


async def test_the_portals_cookies_open_exactly_her_datasets(
    client: httpx.AsyncClient, cookies: dict[str, str]
) -> None:
    answer = await client.get("/dashboard", headers=cookies)
    assert answer.status_code == 200
    page = answer.text
    assert row_ids(page) == ["roads", "notes", "rivers"]  # most API calls first
    assert card(page, "api_calls") == "API calls 5 previous period: 5 = 0 % unchanged from 5"
    assert card(page, "downloads").startswith("Downloads 1 previous period: 0 ")
    # She picks among her owners; nothing to sign out of here (she signs out at the portal).
    assert '<option value="organization:org1" >org1 (organisation)</option>' in page.replace(
        "  ", " "
    )
    assert '<option value="user:carol" >carol (user)</option>' in page.replace("  ", " ")
    assert 'action="/logout"' not in page
    sign_out = await client.get("/logout", headers=cookies)
    assert (sign_out.status_code, sign_out.headers["location"]) == (303, "/login")
    sign_in = await client.get("/login", headers=cookies)
    assert (sign_in.status_code, sign_in.headers["location"]) == (303, "/dashboard")


async def test_she_picks_one_of_her_owners(
    client: httpx.AsyncClient, cookies: dict[str, str]
) -> None:
    own = (await client.get("/dashboard", params={"owner": "user:carol"}, headers=cookies)).text
    assert row_ids(own) == ["notes"]
    assert card(own, "api_calls").startswith("API calls 2 previous period: 1 ")
    assert '<option value="user:carol" selected>' in own
    other = await client.get("/dashboard", params={"owner": "organization:org2"}, headers=cookies)
    assert other.status_code == 403
    assert "organization org1, user carol only" in other.text


async def test_her_owner_picker_names_her_owners_in_one_statement(
    client: httpx.AsyncClient, cookies: dict[str, str]
) -> None:
    named = {"type": "organization", "id": "org1", "name": "Zones vertes"}
    await ingest(client, line_on("2024-01-10", resource=dataset("roads", "Roads"), owner=named))
    with counted_statements() as seen:
        page = (await client.get("/dashboard", headers=cookies)).text
    # By name, carol (who has none) by her id: she comes first (by type and id, org1 did).
    select = page[page.index('<select id="owner"') : page.index("</select>")]
    assert re.findall(r"<option value=\"([^\"]*)\"", select) == [
        "",
        "user:carol",
        "organization:org1",
    ]
    assert ">Zones vertes (organisation)</option>" in select
    assert ">carol (user)</option>" in select
    assert len([s for s in seen if "FROM owners" in s]) == 1


async def test_another_owners_dataset_page_is_not_found(
    client: httpx.AsyncClient, cookies: dict[str, str]
) -> None:
    assert (await client.get("/dashboard/datasets/roads", headers=cookies)).status_code == 200
    for other in ("parks", "lakes"):
        assert (
            await client.get(f"/dashboard/datasets/{other}", headers=cookies)
        ).status_code == 404


async def test_the_export_holds_her_datasets_only(
    client: httpx.AsyncClient, cookies: dict[str, str]
) -> None:
    answer = await client.get("/dashboard/export.csv", headers=cookies)
    assert answer.status_code == 200
    titles = {line.split(",")[1] for line in answer.text.splitlines()[1:]}
    assert titles == {"Notes", "Roads", "Rivers"}  # rivers for the previous period


async def test_the_active_organisation_shows_it_alone(
    client: httpx.AsyncClient, portal_key: rsa.RSAPrivateKey
) -> None:
    await ingest_owners(client)
    headers = cookie_header(session_token(portal_key), id_token_org="org1")
    page = (await client.get("/dashboard", headers=headers)).text
    assert row_ids(page) == ["roads", "rivers"]
    assert 'class="owner-picker"' not in page  # one owner: nothing to pick


@pytest.mark.parametrize(
    "case", ["expired", "wrong key", "no signature", "department", "not her organisation's admin"]
)
async def test_a_session_it_cannot_use_goes_to_the_sign_in(
    client: httpx.AsyncClient,
    portal_key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    case: str,
) -> None:
    await ingest_owners(client)
    headers = {
        "expired": cookie_header(session_token(portal_key, expires_in=-3600)),
        "wrong key": cookie_header(session_token(other_key)),
        "no signature": {"Cookie": "id_token=" + session_token(portal_key).rsplit(".", 1)[0]},
        "department": cookie_header(session_token(portal_key), id_token_org="org4"),
        "not her organisation's admin": cookie_header(
            session_token(portal_key), id_token_org="org2"
        ),
    }[case]
    answer = await client.get("/dashboard", headers=headers)
    # Half a session (no signature cookie) is no session: the plain sign-in; the others say why.
    location = "/login" if case == "no signature" else "/login?portal=refused"
    assert (answer.status_code, answer.headers["location"]) == (303, location)
    page = await client.get(location, headers={"Accept-Language": "fr"})
    said = "Votre session du portail" in page.text
    assert said is (case != "no signature")


async def test_the_token_sign_in_still_works(
    client: httpx.AsyncClient, portal_key: rsa.RSAPrivateKey
) -> None:
    await ingest_owners(client)
    await open_dashboard(client, ADMIN_TOKEN)
    page = (await client.get("/dashboard")).text
    assert row_ids(page) == ["lakes", "forests", "parks", "roads", "notes", "rivers"]
    # The signed-in token wins over the portal's cookies, sent beside its session cookie.
    header, payload, signature = session_token(portal_key).split(".")
    client.cookies.set("id_token", f"{header}.{payload}")
    client.cookies.set("id_token_sign", signature)
    both = await client.get("/dashboard")
    assert row_ids(both.text) == row_ids(page)
    assert 'action="/logout"' in both.text
