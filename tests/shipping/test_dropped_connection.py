"""A connection dropped before the answer (the keep-alive race) is retried with the same key.

uvicorn closes a connection that sat idle for 5 s. A sender that reuses it at that moment has
its request reset by the server's kernel (httpx.ReadError), or closed without an answer: it
cannot know whether the batch counted. Here a proxy between the real `ship` deliverer and a
real server resets the first connection once the request has arrived, then passes the
others through: the batch must be posted again under the same Idempotency-Key and count once.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from app.shipping.batches import Batch
from app.shipping.deliver import Backoff, Deliverer
from app.shipping.signals import StopSignal
from tests.helpers import INGEST_TOKEN, dataset, line_on
from tests.server_processes import api_calls, free_port, serving

DAY = "2024-01-09"


class DroppingProxy:
    """Resets its first `drops` connections after their request arrived; relays the rest."""

    def __init__(self, target_port: int, drops: int = 1) -> None:
        self.keys: list[str] = []  # the Idempotency-Key of every request seen, in order
        self._target = ("127.0.0.1", target_port)
        self._drops = drops
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]

    def serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed: the test is over
            head = _request_head(client)
            self.keys.append(_header(head, b"idempotency-key"))
            if self._drops > 0:
                self._drops -= 1
                # Linger 0: close() sends a reset, as a kernel does for a socket closed with
                # unread data, which is what the client of a closed keep-alive connection gets.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(self._target)
            upstream.sendall(head)
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()

    def close(self) -> None:
        self._listener.close()


def _request_head(client: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _header(head: bytes, name: bytes) -> str:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode()
    return ""


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
        # Each of the two pipes closes the socket it reads: left to the garbage collector, an
        # unclosed socket fails whichever later test it is collected in (ResourceWarning).
        source.close()


@contextmanager
def dropping_proxy(target_port: int, drops: int) -> Iterator[DroppingProxy]:
    proxy = DroppingProxy(target_port, drops)
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.close()
        thread.join(timeout=5)


class NoWait(StopSignal):
    """Retries at once: the test is about the key, not the backoff."""

    def wait(self, seconds: float) -> bool:
        return False


@pytest.mark.parametrize("drops", [1, 2])
def test_ship_posts_a_batch_again_under_its_key_after_a_reset_and_it_counts_once(
    tmp_path: Path, drops: int
) -> None:
    lines = [json.dumps(line_on(DAY, resource=dataset("dropped"))) for _ in range(3)]
    body = ("\n".join(lines) + "\n").encode()
    batch = Batch(body, len(lines), 0, len(body), "um-ship-dropped.0")
    port = free_port()
    with (
        serving(f"sqlite://{tmp_path / 'metrics.sqlite3'}", port) as base,
        dropping_proxy(port, drops) as proxy,
    ):
        notes: list[str] = []
        url = f"http://127.0.0.1:{proxy.port}/ingest"
        with Deliverer(url, INGEST_TOKEN, NoWait(), notes.append, Backoff()) as sender:
            answer = sender.post(batch)
        assert answer is not None
        assert (answer.accepted, answer.duplicate) == (3, False)
        assert proxy.keys == ["um-ship-dropped.0"] * (drops + 1)
        assert len(notes) == drops
        assert all(note.startswith(("ReadError", "RemoteProtocolError")) for note in notes)
        assert api_calls(base, "dropped") == 3
