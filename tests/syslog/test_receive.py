"""The receiver's sockets, real ones: batches by count and by age, the last one on stop, a stale
socket replaced, a live one left alone, UDP."""

from __future__ import annotations

import socket
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.syslog.batching import Batcher
from app.syslog.receive import (
    ReceiverError,
    parse_udp_address,
    receive,
    udp_socket,
    unix_socket,
)
from tests.server_processes import free_port, wait_until
from tests.syslog.serving import send_datagrams

DATAGRAM = b'<190>Jan  9 12:00:00 df: ["portal.example","",0.01,1000,200]'


class Flushed:
    """What `receive` handed over, batch by batch (body, lines)."""

    def __init__(self) -> None:
        self.batches: list[tuple[bytes, int]] = []

    def __call__(self, body: bytes, lines: int) -> None:
        self.batches.append((body, lines))


@contextmanager
def receiving(sock: socket.socket, batcher: Batcher) -> Iterator[Flushed]:
    flushed = Flushed()
    stopping = threading.Event()
    reader = threading.Thread(target=receive, args=(sock, batcher, flushed, stopping))
    reader.start()
    try:
        yield flushed
    finally:
        stopping.set()
        reader.join(timeout=10)
    assert not reader.is_alive()


def test_cuts_batches_by_count_and_flushes_the_rest_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with unix_socket(path) as sock, receiving(sock, Batcher(3, 60.0)) as flushed:
        send_datagrams(path, [b"%d\n" % n for n in range(7)])
        wait_until(lambda: len(flushed.batches) == 2, "two full batches")
    assert flushed.batches == [(b"0\n1\n2\n", 3), (b"3\n4\n5\n", 3), (b"6\n", 1)]


def test_sends_a_batch_once_its_first_line_is_flush_seconds_old(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with unix_socket(path) as sock, receiving(sock, Batcher(1000, 0.3)) as flushed:
        send_datagrams(path, [DATAGRAM, b"first\nsecond", b"\x00", DATAGRAM + b"\n"])
        wait_until(lambda: len(flushed.batches) == 1, "a batch due by age", timeout=5)
        assert flushed.batches == [(DATAGRAM + b"\nfirst second\n" + DATAGRAM + b"\n", 3)]
    assert len(flushed.batches) == 1  # nothing left for the stop


def test_the_socket_is_writable_by_nginx_workers_and_removed_on_exit(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with unix_socket(path):
        assert stat.S_ISSOCK(path.lstat().st_mode)
        assert stat.S_IMODE(path.lstat().st_mode) == 0o666
    assert not path.exists()


def test_a_stale_socket_is_replaced_and_a_live_one_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(path))
    stale.close()  # as a receiver killed with SIGKILL leaves it
    with unix_socket(path) as sock, receiving(sock, Batcher(1, 60.0)) as flushed:
        send_datagrams(path, [DATAGRAM])
        wait_until(lambda: len(flushed.batches) == 1, "the datagram")
        with pytest.raises(ReceiverError) as refused, unix_socket(path):
            pass
        assert refused.value.message == (
            f"another process reads the socket {path}: stop it or give another one"
        )
        assert path.exists()


def test_a_path_that_is_not_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("a log, not a socket")
    with pytest.raises(ReceiverError) as refused, unix_socket(path):
        pass
    assert refused.value.message == f"{path} exists and is not a socket: give another --socket"
    assert path.read_text() == "a log, not a socket"


def test_receives_udp_datagrams(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with udp_socket("127.0.0.1", port) as sock, receiving(sock, Batcher(2, 60.0)) as flushed:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for datagram in (b"one\n", b"two\n", b"three\n"):
                sender.sendto(datagram, ("127.0.0.1", port))
        wait_until(lambda: len(flushed.batches) == 1, "a full batch")
    assert flushed.batches == [(b"one\ntwo\n", 2), (b"three\n", 1)]


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:5140", ("127.0.0.1", 5140)), ("[::1]:514", ("::1", 514))],
)
def test_reads_host_and_port(text: str, address: tuple[str, int]) -> None:
    assert parse_udp_address(text) == address


@pytest.mark.parametrize("text", ["127.0.0.1", ":514", "localhost:0", "localhost:65536", "h:x"])
def test_refuses_what_is_not_host_and_port(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_udp_address(text)
    assert str(refused.value) == f"{text!r} is not HOST:PORT, like 127.0.0.1:5140"
