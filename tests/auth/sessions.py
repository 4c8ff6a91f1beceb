"""What the portal-session tests share: RSA keys made here, Data Fair session JWTs signed with
them, the split cookies, and a JWKS served over HTTP on loopback by a real server thread."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.helpers import dataset, ingest, line_on

KID = "portal-key-1"
# Carol: her own account, admin of org1, a plain member of org2, admin of a department of org4.
CAROL: dict[str, Any] = {
    "id": "carol",
    "name": "Carol",
    "email": "carol@portal.example",
    "organizations": [
        {"id": "org1", "name": "Org 1", "role": "admin"},
        {"id": "org2", "name": "Org 2", "role": "user"},
        {"id": "org4", "name": "Org 4", "role": "admin", "department": "dep1"},
    ],
}
USER_CAROL = {"type": "user", "id": "carol"}
ORG1 = {"type": "organization", "id": "org1"}
ORG2 = {"type": "organization", "id": "org2"}
ORG3 = {"type": "organization", "id": "org3"}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def session_token(
    key: rsa.RSAPrivateKey,
    payload: dict[str, Any] | None = None,
    *,
    kid: str | None = KID,
    expires_in: int | None = 3600,
) -> str:
    """A session as simple-directory signs it: RS256, `kid` in the header, `exp` in the payload."""
    claims = {**(CAROL if payload is None else payload)}
    if expires_in is not None:
        claims.setdefault("exp", int(time.time()) + expires_in)
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned_token(payload: dict[str, Any]) -> str:
    """`alg: none`: header.payload and an empty signature."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}."


def hs256_with_public_key(payload: dict[str, Any], pem: str) -> str:
    """The algorithm-confusion forgery: HS256 with the portal's public key as the secret."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    signed = f"{header}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(pem.encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{b64(signature)}"


def tampered(token: str, **changes: Any) -> str:
    """The same signature on a payload changed after signing."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64(json.dumps({**claims, **changes}).encode())}.{signature}"


def cookie_header(token: str, **extra: str) -> dict[str, str]:
    """Data Fair's split cookies, as a browser on the portal's site sends them."""
    header, payload, signature = token.split(".")
    cookies = {"id_token": f"{header}.{payload}", "id_token_sign": signature, **extra}
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ask(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str],
) -> dict[str, Any]:
    body = {"query": query, "variables": variables or {}}
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def ingest_owners(client: httpx.AsyncClient) -> None:
    """In the week 2024-01-08..14 (previous week 01-01..07), status-ok requests:
    user carol: notes 2 API calls (+1 before), 1 download of 5 000 bytes;
    org1 (Carol admin): roads 3 API calls from client.example, rivers 4 API calls before;
    org2 (Carol member): parks 5; org3 (not Carol's): lakes 7; org4 (a department's): forests 6.
    """
    carol, org = USER_CAROL, {"type": "organization", "id": "org1"}
    await ingest(
        client,
        *[line_on("2024-01-08", resource=dataset("notes", "Notes"), owner=carol) for _ in range(2)],
        line_on("2024-01-02", resource=dataset("notes", "Notes"), owner=carol),
        line_on(
            "2024-01-09",
            resource=dataset("notes", "Notes"),
            owner=carol,
            track="readDataFiles",
            bytes_sent=5000,
            uri="/data-fair/api/v1/datasets/notes/raw",
        ),
        *[
            line_on(
                "2024-01-10",
                resource=dataset("roads", "Roads"),
                owner=org,
                referer="https://client.example/map",
            )
            for _ in range(3)
        ],
        *[line_on("2024-01-03", resource=dataset("rivers", "Rivers"), owner=org) for _ in range(4)],
        *[line_on("2024-01-08", resource=dataset("parks", "Parks"), owner=ORG2) for _ in range(5)],
        *[line_on("2024-01-08", resource=dataset("lakes", "Lakes"), owner=ORG3) for _ in range(7)],
        *[
            line_on(
                "2024-01-08",
                resource=dataset("forests"),
                owner={"type": "organization", "id": "org4"},
            )
            for _ in range(6)
        ],
    )


@dataclass
class JwksServer:
    """A JWKS endpoint on 127.0.0.1: `keys` is what it serves now, `fetches` how often it was
    asked."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0
    url: str = ""

    def publish(self, *keys: tuple[str, rsa.RSAPrivateKey]) -> None:
        self.keys = [jwk(kid, key) for kid, key in keys]


def jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    found: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**found, "kid": kid, "alg": "RS256", "use": "sig"}


@contextmanager
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet test output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll: shutdown() waits for it (0.5 s by default, at every test's end).
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
