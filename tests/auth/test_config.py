"""The portal-session settings: a PEM key given as text or as a file, a JWKS URL, and the values
that stop start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.config import load_settings
from app.errors import ConfigError
from tests.auth.sessions import public_pem


def test_reads_the_pem_from_the_variable_or_from_a_file(
    portal_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    pem = public_pem(portal_key)
    assert load_settings({"USAGE_METRICS_JWT_PUBLIC_KEY": pem}).jwt_public_key == pem
    path = tmp_path / "portal.pem"
    path.write_text(pem)
    settings = load_settings({"USAGE_METRICS_JWT_PUBLIC_KEY": str(path)})
    assert settings.jwt_public_key == pem
    assert "BEGIN PUBLIC KEY" not in repr(settings)


def test_reads_the_jwks_url_issuer_and_audience() -> None:
    settings = load_settings(
        {
            "USAGE_METRICS_JWKS_URL": "https://portal.example/simple-directory/.well-known/jwks.json",
            "USAGE_METRICS_JWT_ISSUER": "https://portal.example",
            "USAGE_METRICS_JWT_AUDIENCE": "usage-metrics",
        }
    )
    assert settings.jwks_url == "https://portal.example/simple-directory/.well-known/jwks.json"
    assert (settings.jwt_issuer, settings.jwt_audience) == (
        "https://portal.example",
        "usage-metrics",
    )
    assert load_settings({}).jwt_public_key is None
    assert load_settings({}).jwks_url is None


def _ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"USAGE_METRICS_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnot a key\n"},
            "USAGE_METRICS_JWT_PUBLIC_KEY is not a PEM public key",
        ),
        (
            {"USAGE_METRICS_JWT_PUBLIC_KEY": "/nowhere/portal.pem"},
            "neither a PEM public key nor a readable file",
        ),
        ({"USAGE_METRICS_JWT_PUBLIC_KEY": _ec_pem()}, "is not an RSA key"),
        ({"USAGE_METRICS_JWKS_URL": "file:///etc/jwks.json"}, "is not an http(s) URL"),
        (
            {
                "USAGE_METRICS_JWKS_URL": "https://portal.example/jwks.json",
                "USAGE_METRICS_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----",
            },
            "are both set",
        ),
    ],
)
def test_a_bad_value_stops_start_up(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ)
    assert message in raised.value.message
