"""RSA key pairs made once per test session (2048 bits take a while): the portal's and another."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth.sessions import new_key


@pytest.fixture(scope="session")
def portal_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return new_key()
