"""A proxy between `usage-metrics import` and a real server that holds requests until the test
lets them go: what is in flight at a signal, or at once, is then known whatever the machine's
speed, with no timing."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import BinaryIO
from urllib.parse import urlsplit

RELEASED_WITHIN_S = 120  # a bound, should a test fail before it releases


class HoldingProxy:
    """Relays HTTP/1.1 requests (keep-alive too, one thread per connection) to the server, and
    holds every request from the `hold`th on until `release` is set."""

    def __init__(self, target_port: int, hold: int) -> None:
        self.release = threading.Event()
        self._hold = hold
        self._seen = 0
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
                with self._lock:
                    self._seen += 1
                    holding = self._seen >= self._hold and not self.release.is_set()
                    self._held += holding
                if holding:
                    self.release.wait(timeout=RELEASED_WITHIN_S)
                upstream.sendall(request)  # read whole: relayed even if the sender is gone
                answer = _message(answers)
                with suppress(OSError):  # the import may have gone meanwhile
                    client.sendall(answer)


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
