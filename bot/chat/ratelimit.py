"""Token buckets for what one chat may cost the others: messages and invite guesses.

A chat sending 74 messages a second raised everyone else's latency from 24 ms to 0.8 s;
300 invite guesses in 2 s went unnoticed. Each chat (platform + account id, which is
the account's identity on that platform) gets a bucket of messages (a burst, then a
steady rate a person typing never reaches) and a much smaller one of failed invite
codes; what is over the limit is refused before it costs a transaction, and logged.

The buckets are per process: with N workers a chat gets at most N times the rate, which
keeps a flood from one chat off everyone else's back, the purpose here. Invite codes
have 40 bits: even N times five guesses per quarter-hour finds nothing.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class TokenBuckets:
    """`allow(key)` takes a token from key's bucket (`burst` tokens, refilled at `rate`
    per second); False when it is empty. At most `max_keys` buckets are kept; the least
    recently used go first (a forgotten chat starts full again)."""

    def __init__(self, burst: float, rate: float, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.rate = rate
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: Hashable, cost: float = 1.0) -> bool:
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            ok = tokens >= cost
            if ok:
                tokens -= cost
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return ok

    def peek(self, key: Hashable, cost: float = 1.0) -> bool:
        """Whether `allow` would pass, without taking a token."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            return min(self.burst, tokens + (now - at) * self.rate) >= cost


# Messages: Settings.chat_burst and chat_per_second (60, then 5 a second: a person
# tapping through a checklist stays far below; a script sending 74 a second does not).
# Five wrong invite codes, then one more every three minutes.
INVITE_FAILURES_BURST, INVITE_FAILURES_PER_SECOND = 5.0, 1 / 180
