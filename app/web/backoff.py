"""Back-off of failed sign-ins per client address, in memory only: guessing tokens gets slow.

The fixed delay of a failed sign-in slows one guesser in sequence, not one who sends guesses in
parallel; a bar on the address after a few failures stops both. Addresses are neither stored
nor logged: they live in this process's memory until forgotten, and a flood of addresses
only pushes out the oldest.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# 2**20 base delays outlast any cap: a larger exponent would only overflow the float.
_MAX_DOUBLINGS = 20


@dataclass
class _Failures:
    count: int
    last: float  # the clock at the latest counted attempt
    barred_until: float = 0.0


class SignInBackoff:
    """After `free_failures` failed sign-ins from one address, that address is barred for
    `base_s`, then twice as long after each further failure, up to `max_s`. A success forgets
    the address; so do 2 x `max_s` without a counted attempt (a bar lasts at most `max_s`)."""

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
        self._clients.pop(client, None)

    def _forget_stale(self, now: float) -> None:
        # Quiet for a whole cap after its bar ended: a guesser who waits out the cap once
        # still meets the cap at its next failure.
        while self._clients:
            oldest = next(iter(self._clients.values()))
            if now - oldest.last < 2 * self._max:
                return
            self._clients.popitem(last=False)
