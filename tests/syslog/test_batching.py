"""One datagram is one line; batches are cut by count, size and age; keys never repeat."""

from __future__ import annotations

import pytest

from app.shipping.batches import MAX_BATCH_BYTES
from app.syslog.batching import Batcher, BatchKeys, line_of


@pytest.mark.parametrize(
    ("datagram", "line"),
    [
        (b'<190>Nov 24 10:00:00 df: ["a"]', b'<190>Nov 24 10:00:00 df: ["a"]'),
        (b'<190>Nov 24 10:00:00 df: ["a"]\n', b'<190>Nov 24 10:00:00 df: ["a"]'),
        (b'{"uri": "/x"}\r\n\x00', b'{"uri": "/x"}'),
        (b"first\nsecond\n", b"first second"),  # never two lines
        (b"a\r\nb", b"a\r b"),
        (b"\n\x00", None),
        (b"", None),
    ],
)
def test_a_datagram_becomes_one_line(datagram: bytes, line: bytes | None) -> None:
    assert line_of(datagram) == line


def test_a_batch_is_due_at_max_lines() -> None:
    batcher = Batcher(max_lines=3, max_seconds=60)
    for number in range(3):
        assert not batcher.is_full()
        batcher.add(f"line {number}".encode(), now=100.0)
    assert batcher.is_full()
    assert batcher.take() == (b"line 0\nline 1\nline 2\n", 3)
    assert len(batcher) == 0 and not batcher.is_full()


def test_a_batch_is_due_when_its_first_line_is_max_seconds_old() -> None:
    batcher = Batcher(max_lines=1000, max_seconds=1.0)
    assert batcher.seconds_left(now=50.0) is None  # empty: never due
    batcher.add(b"first", now=100.0)
    batcher.add(b"second", now=100.75)
    assert batcher.seconds_left(now=100.75) == 0.25
    assert batcher.seconds_left(now=101.5) == -0.5
    assert batcher.take() == (b"first\nsecond\n", 2)
    batcher.add(b"third", now=200.0)  # the age counts from the new batch's first line
    assert batcher.seconds_left(now=200.0) == 1.0


def test_a_batch_never_passes_max_batch_bytes() -> None:
    batcher = Batcher(max_lines=1000, max_seconds=1.0)
    big = b"x" * (MAX_BATCH_BYTES // 2)
    batcher.add(big, now=0.0)
    assert batcher.fits(big[:-2])  # each line takes its newline too
    assert not batcher.fits(big[:-1])
    batcher.add(big[:-2], now=0.0)
    assert batcher.is_full()
    lonely = Batcher(max_lines=1000, max_seconds=1.0)
    assert lonely.fits(b"y" * (MAX_BATCH_BYTES + 1))  # alone, it goes anyway


def test_keys_follow_each_other_and_differ_between_receivers() -> None:
    keys = BatchKeys("0123456789abcdef")
    assert [keys.next_key() for _ in range(3)] == [
        "um-syslog-0123456789abcdef.1",
        "um-syslog-0123456789abcdef.2",
        "um-syslog-0123456789abcdef.3",
    ]
    assert BatchKeys().next_key() != BatchKeys().next_key()
