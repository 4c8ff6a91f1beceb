"""Seeded log lines in the three formats of docs/ingest.md, each with what the pipeline owes it.

Same population, format, count and seed -> the same lines. Lines come in visits (a page view,
a script's run: same dataset, visitor and referer), and their times rise through the set, as in
a log file, over the few days before the fixed END; Data Fair lines without a syslog header take
the batch's received day. About 2 % of lines are malformed (to be rejected) and about 7 % carry
no tracked operation (to be ignored as not_tracked).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from bench.formats import (
    COMBINED,
    DATA_FAIR,
    NAMED,
    Request,
    Visit,
    combined_line,
    corrupt,
    data_fair_line,
    named_line,
    syslog_header,
)
from bench.population import (
    BOT_AGENTS,
    CLIENT_AGENTS,
    NO_CREDENTIALS,
    NO_REFERER,
    Credentials,
    Population,
    Referer,
    Resource,
)

MIXED = "mixed"
FORMATS = (DATA_FAIR, NAMED, COMBINED)
MIX_WEIGHTS = (0.45, 0.35, 0.20)  # share of each format in the mixed set
START = datetime(2026, 11, 21, tzinfo=UTC)
END = START + timedelta(days=3, hours=12)
ACCEPTED, NOT_TRACKED, REJECTED = "accepted", "not_tracked", "rejected"
MALFORMED_SHARE = 0.02
# A page view makes several API calls, a script pages through a dataset: the next line goes on
# with the same visit (dataset, visitor, referer) with this probability, 2 lines per visit on
# average. Independent lines would make nearly every line a new aggregate key.
VISIT_GOES_ON = 0.5
_OPERATIONS = {"readDataAPI": "api", "readDataFiles": "download", "openApplication": "app"}
_STATUS_CLASSES = {200: "ok", 304: "redirect", 404: "client_error", 500: "server_error"}


class Expected(NamedTuple):
    """What the pipeline owes one line: a key and its counters, or why it ignores or rejects it."""

    outcome: str  # ACCEPTED, NOT_TRACKED or REJECTED
    key: tuple[Any, ...] = ()  # UsageKey's fields; day None = the batch's received day
    bytes: int = 0
    duration_ms: int = 0


@dataclass(frozen=True)
class LineSet:
    name: str
    lines: list[str]
    expected: list[Expected]


def generate(
    population: Population, name: str, count: int, seed: int, stream: str = "main"
) -> LineSet:
    """`count` lines of one format (or MIXED), with what the pipeline should make of each.

    Another `stream` name gives other lines of the same kind (a warm-up set, for instance).
    """
    rng = random.Random(f"lines/{name}/{seed}/{stream}")
    datasets = rng.choices(population.datasets, cum_weights=population.dataset_weights, k=count)
    referers = rng.choices(population.referers, cum_weights=population.referer_weights, k=count)
    lines: list[str] = []
    expected: list[Expected] = []
    visit = _visit(rng, population, datasets[0], referers[0])
    for i in range(count):
        if rng.random() >= VISIT_GOES_ON:
            visit = _visit(rng, population, datasets[i], referers[i])
        time = START + (END - START) * ((i + rng.random()) / count)
        request = _request(rng, visit, time)
        fmt = rng.choices(FORMATS, MIX_WEIGHTS)[0] if name == MIXED else name
        line, outcome = _render(rng, population, fmt, request)
        if rng.random() < MALFORMED_SHARE:
            line, outcome = corrupt(rng, fmt, line), Expected(REJECTED)
        lines.append(line)
        expected.append(outcome)
    return LineSet(name, lines, expected)


def _visit(rng: random.Random, pop: Population, dataset: Resource, referer: Referer) -> Visit:
    draw = rng.random()
    track = (
        "readDataAPI"
        if draw < 0.74
        else "readDataFiles"
        if draw < 0.88
        else "openApplication"
        if draw < 0.93
        else ""
    )
    resource = rng.choice(pop.applications) if track == "openApplication" else dataset
    agent, is_bot, credentials = _visitor(rng, pop, resource)
    if is_bot or agent in CLIENT_AGENTS:
        referer = referer if rng.random() < 0.1 else NO_REFERER
    elif rng.random() < 0.3:
        referer = NO_REFERER
    return Visit(resource, track, referer, agent, is_bot, credentials)


def _request(rng: random.Random, visit: Visit, time: datetime) -> Request:
    status = rng.choices((200, 304, 404, 500), (88, 5, 5, 2))[0]
    ratio = f"{rng.uniform(1.5, 8):.2f}" if status == 200 and rng.random() < 0.5 else "-"
    return Request(
        visit,
        time,
        _uri(rng, visit.track, visit.resource),
        status,
        _bytes_sent(rng, visit.track, status),
        ratio,
        int(rng.lognormvariate(2.5, 1.0)) + 1,
    )


def _visitor(
    rng: random.Random, pop: Population, resource: Resource
) -> tuple[str, bool, Credentials]:
    draw = rng.random()
    if draw < 0.10:
        return rng.choice(BOT_AGENTS), True, NO_CREDENTIALS
    owner = resource.owner
    if draw < 0.35:  # scripts and notebooks: API keys, sometimes the owner's own
        agent = rng.choice(CLIENT_AGENTS)
        if rng.random() < 0.35:
            return agent, False, NO_CREDENTIALS
        own = rng.random() < 0.25
        return agent, False, pop.owner_api_keys[owner] if own else rng.choice(pop.api_keys)
    agent = rng.choice(pop.browsers)
    if rng.random() < 0.6:
        return agent, False, NO_CREDENTIALS
    own = rng.random() < 0.25
    return agent, False, pop.owner_sessions[owner] if own else rng.choice(pop.sessions)


def _bytes_sent(rng: random.Random, track: str, status: int) -> int:
    if status != 200:
        return rng.randint(120, 400)
    if track == "readDataFiles":
        return int(rng.lognormvariate(13, 1.5))
    return int(rng.lognormvariate(8, 1.2)) + 100


def _uri(rng: random.Random, track: str, resource: Resource) -> str:
    if track == "openApplication":
        return f"/data-fair/app/{resource.id}/"
    base = f"/data-fair/api/v1/datasets/{resource.id}"
    if track == "readDataAPI":
        return base + rng.choice(
            ("/lines?size=10", "/lines?q=paris&size=20&select=code,nom", "/values_agg?field=nom")
        )
    if track == "readDataFiles":
        return base + rng.choice(("/full", "/raw", "/data-files/export.csv"))
    return base + rng.choice(("", "/schema", "?select=title"))


def _render(
    rng: random.Random, pop: Population, fmt: str, request: Request
) -> tuple[str, Expected]:
    if fmt == DATA_FAIR:
        syslog = rng.random() < 0.5
        line = data_fair_line(pop, request)
        if syslog:
            line = syslog_header(request.time) + line
        return line, _expected(request, fmt, day=request.time.date() if syslog else None)
    if fmt == NAMED:
        return named_line(rng, pop, request), _expected(request, fmt, request.time.date())
    return combined_line(rng, request), _expected(request, fmt, request.time.date())


def _expected(r: Request, fmt: str, day: Any) -> Expected:
    """docs/classification.md, applied to what the line of this format carries."""
    v = r.visit
    operation = _OPERATIONS.get(v.track)
    if not operation:
        return Expected(NOT_TRACKED)
    creds = v.credentials if fmt != COMBINED else NO_CREDENTIALS
    is_bot = v.is_bot and fmt != DATA_FAIR  # the Data Fair array has no user agent
    referer = v.referer
    if fmt == COMBINED and referer.url:  # no request host: every referer is external
        referer = referer._replace(category="external", app="")
    owner, resource = v.resource.owner, v.resource
    key = (
        owner.type,
        owner.id,
        day,
        resource.type,
        resource.id,
        operation,
        _STATUS_CLASSES[r.status],
        _user_group(is_bot, creds, owner.type, owner.id),
        referer.domain,
        referer.category,
        referer.app,
    )
    gzipped = r.gzip_ratio != "-" and fmt != COMBINED
    size = round(r.sent * float(r.gzip_ratio)) if gzipped else r.sent
    return Expected(ACCEPTED, key, size, 0 if fmt == COMBINED else r.duration_ms)


def _user_group(is_bot: bool, creds: Credentials, owner_type: str, owner_id: str) -> str:
    if is_bot:
        return "BOT"
    if creds.api_key:
        account = creds.key_account
        is_own = account is not None and (account.type, account.id) == (owner_type, owner_id)
        return "OWNER_API_KEY" if is_own else "EXTERNAL_API_KEY"
    if not creds.user_id:
        return "ANONYMOUS"
    if owner_type == "user":
        return "OWNER" if creds.user_id == owner_id else "EXTERNAL"
    return "OWNER" if owner_id in creds.organizations else "EXTERNAL"
