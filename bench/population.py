"""The seeded world benchmark lines come from: owners, datasets, applications, referers, visitors.

Everything is drawn from one `random.Random(seed)`, so a seed always gives the same world. Each
referer and credential carries the answer docs/classification.md expects for it, written down
when it is
built (not derived by parsing it again), so the benchmark can check the pipeline's verdicts.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import string
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote

from app.core.records import Owner

PORTAL_HOST = "portal.example"
PORTAL = f"https://{PORTAL_HOST}"
ORGANIZATION_COUNT = 120
USER_OWNER_COUNT = 80
DATASET_COUNT = 3000
APPLICATION_COUNT = 120
SESSION_COUNT = 1200
API_KEY_COUNT = 300
ZIPF_EXPONENT = 1.1

BOT_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
)
# HTTP libraries and command-line clients: API users, not bots (docs/classification.md).
CLIENT_AGENTS = (
    "curl/8.5.0",
    "python-requests/2.32.3",
    "python-httpx/0.28.1",
    "Wget/1.21.4",
    "R (4.4.2 x86_64-pc-linux-gnu x86_64 linux-gnu)",
    "Java/21.0.5",
)
_BROWSER_TEMPLATES = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Mobile Safari/537.36",
)
_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
_WORDS = (
    *("air", "routes", "ecoles", "budget", "population", "velo", "parkings", "arbres"),
    *("elections", "eau", "bus", "energie", "dechets", "musees", "permis", "loyers"),
    *("crimes", "bruit", "trafic", "sols"),
)
_TITLE_WORDS = {"ecoles": "écoles", "velo": "vélo", "energie": "énergie", "dechets": "déchets"}
_JWT_HEADER = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT","kid":"sd"}').rstrip(b"=")


class Resource(NamedTuple):
    """A dataset or an application, with the X-Resource header Data Fair sends for it."""

    type: str
    id: str
    owner: Owner
    header: str  # JSON text; the title is URI-encoded, as Data Fair does


class Referer(NamedTuple):
    """A Referer URL and what docs/classification.md makes of it on a request to the portal."""

    url: str
    domain: str
    category: str
    app: str


NO_REFERER = Referer("", "none", "none", "")


class Credentials(NamedTuple):
    """Session and API key cookies/headers, and the account each one stands for."""

    id_token: str = ""
    id_token_org: str = ""
    user_id: str = ""  # the session's user; "" without a session
    organizations: frozenset[str] = frozenset()
    api_key: str = ""
    key_account: Owner | None = None  # None: no key, or a key that is not an account's


NO_CREDENTIALS = Credentials()


@dataclass(frozen=True)
class Population:
    owners: tuple[Owner, ...]
    owner_headers: dict[Owner, str]
    datasets: tuple[Resource, ...]
    dataset_weights: tuple[float, ...]  # cumulative, Zipf-like
    applications: tuple[Resource, ...]
    referers: tuple[Referer, ...]
    referer_weights: tuple[float, ...]  # cumulative, Zipf-like
    browsers: tuple[str, ...]
    sessions: tuple[Credentials, ...]
    api_keys: tuple[Credentials, ...]
    owner_sessions: dict[Owner, Credentials]
    owner_api_keys: dict[Owner, Credentials]

    def owners_by_resource(self) -> dict[tuple[str, str], Owner]:
        """What the resources table would say: the owner of every dataset and application."""
        return {(r.type, r.id): r.owner for r in (*self.datasets, *self.applications)}


def build_population(seed: int) -> Population:
    rng = random.Random(f"population/{seed}")
    orgs = [Owner("organization", _ident(rng, 9)) for _ in range(ORGANIZATION_COUNT)]
    users = [Owner("user", _ident(rng, 9)) for _ in range(USER_OWNER_COUNT)]
    owners = tuple(rng.sample(orgs + users, len(orgs) + len(users)))
    owner_weights = _zipf_weights(len(owners))
    datasets = tuple(
        _dataset(rng, i, rng.choices(owners, cum_weights=owner_weights)[0])
        for i in range(DATASET_COUNT)
    )
    applications = tuple(
        _resource("applications", _ident(rng, 10), rng.choice(owners), _title(rng))
        for _ in range(APPLICATION_COUNT)
    )
    referers = _referers(rng, datasets, applications)
    return Population(
        owners=owners,
        owner_headers={owner: _owner_header(rng, owner) for owner in owners},
        datasets=datasets,
        dataset_weights=_zipf_weights(len(datasets)),
        applications=applications,
        referers=referers,
        referer_weights=_zipf_weights(len(referers)),
        browsers=(
            *(template.format(v=v) for template in _BROWSER_TEMPLATES for v in range(124, 132)),
            _SAFARI,
        ),
        sessions=tuple(_session(rng, _ident(rng, 9), orgs) for _ in range(SESSION_COUNT)),
        api_keys=tuple(_random_api_key(rng, orgs) for _ in range(API_KEY_COUNT)),
        owner_sessions={owner: _owner_session(rng, owner, orgs) for owner in owners},
        owner_api_keys={owner: _api_key(rng, owner) for owner in owners},
    )


def _zipf_weights(count: int) -> tuple[float, ...]:
    return tuple(itertools.accumulate(1 / rank**ZIPF_EXPONENT for rank in range(1, count + 1)))


def _ident(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=length))


def _title(rng: random.Random) -> str:
    words = [_TITLE_WORDS.get(w, w) for w in rng.sample(_WORDS, 2)]
    return f"{words[0].capitalize()} et {words[1]} {rng.randint(2015, 2026)}"


def _dataset(rng: random.Random, number: int, owner: Owner) -> Resource:
    # Data Fair ids are either slugs of the title or random ids.
    title = _title(rng)
    ident = f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}-{number}" if number % 2 else _ident(rng, 12)
    return _resource("datasets", ident, owner, title)


def _resource(kind: str, ident: str, owner: Owner, title: str) -> Resource:
    header = _json({"type": kind, "id": ident, "title": quote(title, safe="")})
    return Resource(kind, ident, owner, header)


def _owner_header(rng: random.Random, owner: Owner) -> str:
    fields = {"type": owner.type, "id": owner.id, "name": f"Owner {owner.id[:4]}"}
    if owner.type == "organization" and rng.random() < 0.2:
        fields["department"] = f"dep-{rng.randint(1, 9)}"  # not part of the owner's identity
    return _json(fields)


def _json(value: object) -> str:
    # Data Fair's headers are JSON.stringify output: compact, no spaces.
    return json.dumps(value, separators=(",", ":"))


def _referers(
    rng: random.Random, datasets: tuple[Resource, ...], apps: tuple[Resource, ...]
) -> tuple[Referer, ...]:
    referers: list[Referer] = []
    for n in range(150):
        site = f"{rng.choice(['www.', 'blog.', 'data.', ''])}{rng.choice(_WORDS)}-{n}.example"
        path = rng.choice(["/", f"/article/{n}", f"/posts/{rng.choice(_WORDS)}.html", ""])
        # A few sites are logged with a port and capitals: the domain is lower case, no port.
        shown = f"{site.title()}:8443" if n % 25 == 0 else site
        referers.append(Referer(f"https://{shown}{path}", site, "external", ""))
    for dataset in datasets[:80]:
        referers.append(Referer(f"{PORTAL}/datasets/{dataset.id}", PORTAL_HOST, "portal", ""))
    referers.append(Referer(f"{PORTAL}/", PORTAL_HOST, "portal", ""))
    for dataset in datasets[:30]:
        url = f"{PORTAL}/data-fair/dataset/{dataset.id}/api-doc"
        referers.append(Referer(url, PORTAL_HOST, "backoffice", ""))
    for app in apps[:40]:
        page = rng.choice(["", "map", "table?zoom=3"])
        url = f"{PORTAL}/data-fair/app/{app.id}/{page}"
        referers.append(Referer(url, PORTAL_HOST, "app", app.id))
    for n, dataset in enumerate(datasets[:30]):
        client = f"client-{n}.example"
        # Embedded views report the embedding site in ?referer=, as a host name or as a URL.
        value = client if n % 3 else quote(f"https://{client}/page-{n}", safe="")
        url = f"{PORTAL}/data-fair/embed/dataset/{dataset.id}/table?referer={value}"
        referers.append(Referer(url, client, "embed", ""))
    for n, app in enumerate(apps[40:50]):
        url = f"{PORTAL}/data-fair/app/{app.id}/?referer=Widgets-{n}.Example:8080"
        referers.append(Referer(url, f"widgets-{n}.example", "app", app.id))
    referers += [Referer(f"{PORTAL}/mcp", PORTAL_HOST, "mcp", "")] * 5
    rng.shuffle(referers)
    return tuple(referers)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _session(rng: random.Random, user_id: str, orgs: list[Owner]) -> Credentials:
    organizations = [org.id for org in rng.sample(orgs, rng.choice([0, 0, 1, 1, 2]))]
    return _session_of(rng, user_id, organizations)


def _session_of(rng: random.Random, user_id: str, organizations: list[str]) -> Credentials:
    payload = {
        "id": user_id,
        "name": f"User {user_id[:4]}",
        "organizations": [{"id": org, "role": "user"} for org in organizations],
        "exp": 1795000000 + rng.randint(0, 10**6),
    }
    # simple-directory's id_token cookie: header.payload; the signature is in another cookie.
    id_token = f"{_JWT_HEADER.decode()}.{_b64(_json(payload))}"
    active = organizations[0] if organizations and rng.random() < 0.5 else ""
    return Credentials(id_token, active, user_id, frozenset(organizations))


def _owner_session(rng: random.Random, owner: Owner, orgs: list[Owner]) -> Credentials:
    """A session that docs/classification.md counts as the owner: the user or a member of the
    organisation."""
    if owner.type == "user":
        return _session(rng, owner.id, orgs)
    other = [org.id for org in rng.sample(orgs, 1) if org != owner]
    return _session_of(rng, _ident(rng, 9), [*other, owner.id])


def _api_key(rng: random.Random, account: Owner) -> Credentials:
    rand = _ident(rng, 16)
    if account.type == "user":
        raw = f"u:{account.id}:{rand}"
    else:
        raw = f"o:{account.id}:dep-1:{rand}" if rng.random() < 0.2 else f"o:{account.id}:{rand}"
    return Credentials(api_key=_b64(raw), key_account=account)


def _random_api_key(rng: random.Random, orgs: list[Owner]) -> Credentials:
    draw = rng.random()
    if draw < 0.05:  # an old or foreign key that does not decode to an account
        return Credentials(api_key=_b64(_ident(rng, 24)))
    if draw < 0.5:
        return _api_key(rng, rng.choice(orgs))
    return _api_key(rng, Owner("user", _ident(rng, 9)))
