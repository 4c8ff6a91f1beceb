"""Batches never split a line; keys are stable, distinct and valid Idempotency-Keys."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from app.shipping.batches import (
    FINGERPRINT_BYTES,
    FileIdentity,
    fingerprint,
    import_key,
    ship_key,
    whole_lines,
)


@pytest.mark.parametrize(
    ("data", "max_lines", "expected"),
    [
        (b"", 10, (0, 0)),
        (b"no newline yet", 10, (0, 0)),
        (b"a\nb\nhalf", 10, (4, 2)),
        (b"a\nb\nc\n", 2, (4, 2)),
        (b"a\nb\nc\n", 3, (6, 3)),
        (b"\n\nx\n", 10, (4, 3)),  # blank lines are lines (the server skips them, numbered)
        (b"a\r\nb\r", 10, (3, 1)),  # only \n ends a line
    ],
)
def test_whole_lines_never_split_a_line(
    data: bytes, max_lines: int, expected: tuple[int, int]
) -> None:
    assert whole_lines(data, max_lines) == expected


def test_fingerprint_is_the_first_line_once_it_is_complete() -> None:
    first = b'{"time": "2024-01-09T00:00:01+00:00"}\n'
    assert fingerprint(b'{"time": "2024-01') is None
    assert (
        fingerprint(b'{"time": "2024-01', final=True)
        == hashlib.sha256(b'{"time": "2024-01').hexdigest()
    )
    assert fingerprint(first) == fingerprint(first + b"more\nlines\n")
    assert fingerprint(first) == hashlib.sha256(first).hexdigest()
    long_line = b"x" * (FINGERPRINT_BYTES + 10)
    assert fingerprint(long_line) == hashlib.sha256(long_line[:FINGERPRINT_BYTES]).hexdigest()


IDENTITY = FileIdentity(device=0xFE01, inode=123456, fingerprint="ab" * 32, generation=0)


def test_a_ship_key_is_stable_and_names_its_bytes() -> None:
    key = ship_key(IDENTITY, 0, 4096)
    assert key == ship_key(FileIdentity(0xFE01, 123456, "ab" * 32, 0), 0, 4096)
    assert key == f"um-ship-fe01.1e240.{'ab' * 16}.0.0-4096"


@pytest.mark.parametrize(
    "other",
    [
        ship_key(replace(IDENTITY, device=0xFE02), 0, 4096),
        ship_key(replace(IDENTITY, inode=123457), 0, 4096),
        ship_key(replace(IDENTITY, fingerprint="cd" * 32), 0, 4096),  # a reused inode
        ship_key(replace(IDENTITY, generation=1), 0, 4096),  # after a copytruncate
        ship_key(IDENTITY, 0, 4095),
        ship_key(IDENTITY, 1, 4096),
    ],
)
def test_any_other_file_or_range_gets_another_key(other: str) -> None:
    assert other != ship_key(IDENTITY, 0, 4096)


@pytest.mark.parametrize(
    "key",
    [
        ship_key(FileIdentity(2**64 - 1, 2**64 - 1, "f" * 64, 10**9), 2**62, 2**63),
        import_key("e" * 64, 10**12),
    ],
)
def test_keys_are_valid_idempotency_keys_even_at_their_longest(key: str) -> None:
    assert 1 <= len(key) <= 200 and all(" " <= c <= "~" for c in key)


def test_an_import_key_names_the_content_and_the_batch() -> None:
    assert import_key("e" * 64, 1) == f"um-import-{'e' * 64}.1"
    assert import_key("e" * 64, 2) != import_key("e" * 64, 1)
    assert import_key("f" * 64, 1) != import_key("e" * 64, 1)
