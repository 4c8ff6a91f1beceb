"""deploy/nginx/data-fair-metrics-api.conf in a real nginx in front of a real usage-metrics
server: Data Fair's UI paths (/metrics/api/...) reach the compatible API, credentials and all.

Needs Debian's nginx (apt-get install nginx); skipped without it, except in CI.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from tests.deploy.test_nginx import NGINX, running_nginx
from tests.helpers import ADMIN, INGEST, dataset, line_on, ndjson
from tests.server_processes import free_port, serving

if os.environ.get("CI") != "true" and not NGINX.exists():
    pytest.skip("Debian's nginx is not installed", allow_module_level=True)

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "data-fair-metrics-api.conf"
UPSTREAM = "proxy_pass http://127.0.0.1:8000/api/;"
WEEK = {"start": "2024-01-08", "end": "2024-01-14", "owner": "organization:org1"}
PORTAL_URL = "https://portal.example"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx on a free port, the shipped location in its server, usage-metrics behind it."""
    prefix = tmp_path_factory.mktemp("nginx-api")
    port, server_port = free_port(), free_port()
    location = SHIPPED.read_text()
    assert location.count(UPSTREAM) == 1
    (prefix / "api.conf").write_text(
        location.replace(UPSTREAM, f"proxy_pass http://127.0.0.1:{server_port}/api/;")
    )
    user = "user root;" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(f"""{user}
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} notice;
events {{ worker_connections 64; }}
http {{
{temp_paths}
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        server_name portal.example;
        include {prefix / "api.conf"};
        location /metrics/ {{ return 200 "Data Fair's metrics UI"; }}
    }}
}}
""")
    database = f"sqlite://{prefix / 'metrics.sqlite3'}"
    settings = {"USAGE_METRICS_PORTAL_URL": PORTAL_URL}
    with serving(database, server_port, **settings) as base, running_nginx(prefix, port):
        lines = [line_on("2024-01-09", resource=dataset("roads", "Roads")) for _ in range(3)]
        answer = httpx.post(
            f"{base}/ingest",
            content=ndjson(*lines),
            headers={**INGEST, "Content-Type": "application/x-ndjson"},
        )
        assert answer.json()["accepted"] == 3, answer.text
        yield f"http://127.0.0.1:{port}"


def test_the_ui_path_reaches_agg(portal: str) -> None:
    answer = httpx.get(
        f"{portal}/metrics/api/daily-api-metrics/_agg",
        params={**WEEK, "split": "resource"},
        headers=ADMIN,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "nbRequests": 3,
        "bytes": 3000,
        "series": [
            {
                "key": {"resource": {"type": "datasets", "id": "roads", "title": "Roads"}},
                "nbRequests": 3,
                "bytes": 3000,
            }
        ],
    }


def test_the_ui_path_reaches_the_list_and_the_export(portal: str) -> None:
    listed = httpx.get(
        f"{portal}/metrics/api/daily-api-metrics",
        params={"owner": "organization:org1"},
        headers=ADMIN,
    )
    assert (listed.status_code, listed.json()["count"]) == (200, 1)
    export = httpx.get(
        f"{portal}/metrics/api/daily-api-metrics/_export",
        params={**WEEK, "start": "2024-01-09", "end": "2024-01-09"},
        headers=ADMIN,
    )
    assert export.status_code == 200, export.text
    book = load_workbook(io.BytesIO(export.content))
    assert [c.value for c in book["Historique"][2]][:2] == ["09/01/2024", 3]
    # Linked to the portal's URL as configured, not to the Host nginx passed on.
    assert book["Jeux de données"].cell(row=2, column=1).hyperlink.target == (
        f"{PORTAL_URL}/data-fair/dataset/roads"
    )


def test_refusals_come_through_as_json(portal: str) -> None:
    anonymous = httpx.get(f"{portal}/metrics/api/daily-api-metrics/_agg", params=WEEK)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "UNAUTHENTICATED"
    # Only the API is proxied: the UI stays with Data Fair, our other routes are not reachable.
    assert httpx.get(f"{portal}/metrics/").text == "Data Fair's metrics UI"
    assert httpx.get(f"{portal}/metrics/api/../healthz").text == "Data Fair's metrics UI"
