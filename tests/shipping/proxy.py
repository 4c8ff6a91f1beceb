"""A proxy between `usage-metrics import` and a real server that holds batches until the test
lets them go: what is in flight at a signal, or at once, is then known whatever the machine's
speed, with no timing.

It tells the batches apart by the number that ends import's Idempotency-Key (the nth batch of a
file, docs/deploy.md#ship-and-import), not by the order their requests arrive in: with --jobs N
the senders post on N connections at once, so the second batch may well arrive before the first.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import BinaryIO
from urllib.parse import urlsplit

RELEASED_WITHIN_S = 120  # a bound, should a test fail before it releases
# Import's key, "um-import-<content sha256>.<n>", in a request's head.
BATCH_NUMBER = re.compile(rb"^idempotency-key:[ \t]*um-import-[0-9a-f]+\.([0-9]+)\r?$", re.I | re.M)


class HoldingProxy:
    """Relays HTTP/1.1 requests (keep-alive too, one thread per connection) to the server, and
    holds the batches numbered `hold` and on (of each file, from 1) until `release` is set."""

    def __init__(self, target_port: int, hold: int) -> None:
        self.release = threading.Event()
        self._hold = hold
        self._held = 0
        self._lock = threading.Lock()
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]

    @property
    def held(self) -> int:
        """The requests held so far: each is a batch in flight, posted and not answered."""
        with self._lock:
            return self._held

    def serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed: the test is over
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._listener.close()

    def _relay(self, client: socket.socket) -> None:
        with (
            client,
            socket.create_connection(self._target) as upstream,
            client.makefile("rb") as requests,
            upstream.makefile("rb") as answers,
        ):
            while request := _message(requests):
                holding = _batch_number(request) >= self._hold
                with self._lock:
                    holding = holding and not self.release.is_set()
                    self._held += holding
                if holding:
                    self.release.wait(timeout=RELEASED_WITHIN_S)
                upstream.sendall(request)  # read whole: relayed even if the sender is gone
                answer = _message(answers)
                with suppress(OSError):  # the import may have gone meanwhile
                    client.sendall(answer)


def _batch_number(request: bytes) -> int:
    head = request.partition(b"\r\n\r\n")[0]
    found = BATCH_NUMBER.search(head)
    assert found is not None, "the proxy holds import's batches, whose keys end in a number"
    return int(found[1])


def _message(stream: BinaryIO) -> bytes:
    """One HTTP/1.1 message with a Content-Length body (httpx's requests, uvicorn's answers)."""
    head = b""
    while (line := stream.readline()) not in (b"\r\n", b""):
        head += line
    if not head:
        return b""
    length = 0
    for field in head.split(b"\r\n")[1:]:
        name, _, value = field.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + b"\r\n" + stream.read(length)


@contextmanager
def holding_proxy(base: str, hold: int) -> Iterator[HoldingProxy]:
    proxy = HoldingProxy(urlsplit(base).port or 80, hold)
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.close()
        thread.join(timeout=5)
