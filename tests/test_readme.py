"""The README's first-batch example works as written, and answers what the README says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.helpers import ADMIN, usage_rows

pytestmark = pytest.mark.anyio

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
NOW = "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)"
_EXAMPLE = re.search(
    r"<!-- readme-example.*?-->\n```sh\n(?P<curl>.*?)<<EOF\n(?P<body>.*?)\nEOF\n```\n"
    r"\s*answers\s*```json\n(?P<answer>.*?)\n```",
    README,
    re.DOTALL,
)


def _curl_headers(curl: str) -> dict[str, str]:
    headers = dict(re.findall(r'-H "([^:]+): ([^"]+)"', curl))
    headers.pop("Authorization")  # $TOKEN: the test's admin token stands in for it
    return headers


async def test_readme_curl_example_counts_its_line(client: httpx.AsyncClient) -> None:
    assert _EXAMPLE is not None, "the README lost its readme-example block"
    headers = {**ADMIN, **_curl_headers(_EXAMPLE["curl"])}
    # The shell puts the time of the post in the line: a fixed one here.
    assert NOW in _EXAMPLE["body"]
    body = _EXAMPLE["body"].replace(NOW, "2026-11-24T10:00:00+00:00").encode()

    first = await client.post("/ingest", content=body, headers=headers)
    again = await client.post("/ingest", content=body, headers=headers)

    assert "http://127.0.0.1:8000/ingest" in _EXAMPLE["curl"]
    assert first.status_code == 200
    assert first.json() == json.loads(_EXAMPLE["answer"])
    assert again.json() == {**first.json(), "duplicate": True}
    rows = await usage_rows()
    assert [(r["owner_id"], r["resource_id"], r["day"], r["requests"]) for r in rows] == [
        ("acme", "roads", "2026-11-24", 1)
    ]
    assert (rows[0]["referer_domain"], rows[0]["referer_category"]) == (
        "client.example",
        "external",
    )
