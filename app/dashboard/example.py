"""The first batch an empty dashboard suggests: the README's `curl`, pointed at this server."""

from __future__ import annotations

import json
from datetime import datetime

# The README's example line (a Data Fair API call on dataset "roads" of organisation "acme"),
# timed now so that it shows in the default period's last day once sent.
_LINE = {
    "host": "portal.example",
    "method": "GET",
    "uri": "/data-fair/api/v1/datasets/roads/lines?size=10",
    "status": 200,
    "bytes": 1000,
    "request_time": 0.012,
    "referer": "https://client.example/map",
    "origin": "",
    "user_agent": "curl/8.5.0",
    "gzip_ratio": "-",
    "owner": json.dumps({"type": "organization", "id": "acme"}, separators=(",", ":")),
    "resource": json.dumps(
        {"type": "datasets", "id": "roads", "title": "Roads"}, separators=(",", ":")
    ),
    "operation": json.dumps(
        {"class": "read", "id": "readLines", "track": "readDataAPI"}, separators=(",", ":")
    ),
    "id_token": "",
    "id_token_org": "",
    "api_key": "",
}


def first_batch_command(base_url: str, now: datetime) -> str:
    """A shell command that posts one line; $TOKEN is an ingest or admin token."""
    line = json.dumps({"time": now.isoformat(timespec="seconds"), **_LINE}, separators=(",", ":"))
    return (
        f"curl -s {base_url}/ingest \\\n"
        '  -H "Authorization: Bearer $TOKEN" \\\n'
        '  -H "Content-Type: application/x-ndjson" \\\n'
        "  --data-binary @- <<'EOF'\n"
        f"{line}\n"
        "EOF"
    )
