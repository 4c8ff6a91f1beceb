"""Back-off of failed sign-ins per client address, in memory only: guessing tokens gets slow.

The fixed delay of a failed sign-in slows one guesser in sequence, not one who sends guesses in
parallel; a bar on the address after a few failures stops both. Addresses are neither stored
nor logged: they live in this process's memory until forgotten, and a flood of addresses
only pushes out the oldest.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address

# 2**20 base delays outlast any cap: a larger exponent would only overflow the float.
_MAX_DOUBLINGS = 20


@dataclass
class _Failures:
    count: int
    last: float  # the clock at the latest counted attempt
    barred_until: float = 0.0


def client_address(
    peer: str, forwarded_for: str | None, trusted: Sequence[IPv4Network | IPv6Network]
) -> str:
    """The address a sign-in is counted against: the peer's, unless the peer is one of
    USAGE_METRICS_TRUSTED_PROXIES; then the last X-Forwarded-For address that is not a trusted
    proxy (each proxy appends the address it saw: the ones before could be forged)."""
    if not trusted or not _is_trusted(peer, trusted) or not forwarded_for:
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not _is_trusted(hop, trusted):
            return hop
    return peer


def _is_trusted(address: str, trusted: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


class SignInBackoff:
    """After `free_failures` failed sign-ins from one address, that address is barred for
    `base_s`, then twice as long after each further failure, up to `max_s`. A success takes
    back its own attempt and nothing else: the failures before it stay counted, or a guesser
    holding any valid token (an owner's) could clear its counter between guesses. 2 x `max_s`
    without a counted attempt forget the address (a bar lasts at most `max_s`)."""

    def __init__(
        self,
        free_failures: int = 5,
        base_s: float = 30.0,
        max_s: float = 900.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._free = free_failures
        self._base = base_s
        self._max = max_s
        self._max_clients = max_clients
        self._clock = clock
        # In order of last counted attempt, so that the stalest leave first.
        self._clients: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._clients)

    def attempt(self, client: str) -> float:
        """0 if `client` may try a token now, else the seconds it must wait.

        An attempt counts as a failure from its start (a success forgets it), so that guesses
        sent in parallel are counted before any of them is answered.
        """
        now = self._clock()
        self._forget_stale(now)
        failures = self._clients.get(client)
        if failures is not None and failures.barred_until > now:
            return failures.barred_until - now
        if failures is None:
            failures = self._clients[client] = _Failures(0, now)
        failures.count += 1
        failures.last = now
        self._clients.move_to_end(client)
        beyond = failures.count - self._free
        if beyond >= 0:
            bar = self._base * 2 ** min(beyond, _MAX_DOUBLINGS)
            failures.barred_until = now + min(bar, self._max)
        while len(self._clients) > self._max_clients:
            self._clients.popitem(last=False)
        return 0.0

    def succeeded(self, client: str) -> None:
        """The attempt just counted was a success: it is not a failure (nothing else changes)."""
        failures = self._clients.get(client)
        if failures is None:
            return
        failures.count -= 1
        if failures.count < self._free:
            failures.barred_until = 0.0  # the bar this attempt set, counted as a failure
        if failures.count <= 0:
            del self._clients[client]

    def _forget_stale(self, now: float) -> None:
        # Quiet for a whole cap after its bar ended: a guesser who waits out the cap once
        # still meets the cap at its next failure.
        while self._clients:
            oldest = next(iter(self._clients.values()))
            if now - oldest.last < 2 * self._max:
                return
            self._clients.popitem(last=False)
