"""In-process token buckets for the platforms' send limits.

Per process is enough: a claimed row is sent by one process only (the lease), and a
deployment that runs k dispatchers gives each 1/k of the platform's rate (see
`Dispatcher(rate_share=…)`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; `reserve` books a token."""

    def __init__(self, rate: float, burst: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = max(rate, 1e-9)
        self.burst = max(burst if burst is not None else rate, 1.0)
        self._tokens = self.burst
        self._mono = monotonic
        self._stamp = monotonic()

    def _refill(self) -> None:
        now = self._mono()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def reserve(self) -> float:
        """Take a token (possibly going into debt); return seconds to wait before using it.

        Booking ahead keeps concurrent senders in a fair queue without a lock: asyncio
        runs this whole method without a switch.
        """
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def wait_for_next(self) -> float:
        """Seconds until a token is free, without taking one."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def pause(self, seconds: float) -> None:
        """The platform said slow down (429 retry_after): no tokens for a while."""
        self._refill()
        self._tokens = min(self._tokens, 0.0) - seconds * self.rate

    @property
    def idle(self) -> bool:
        self._refill()
        return self._tokens >= self.burst


class BucketMap:
    """Buckets per key (one per recipient); idle ones are forgotten to bound memory."""

    def __init__(self, rate: float, max_keys: int = 50_000) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: OrderedDict[object, TokenBucket] = OrderedDict()

    def get(self, key: object) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune()
            bucket = self._buckets[key] = TokenBucket(self.rate, max(1.0, self.rate))
        else:
            self._buckets.move_to_end(key)
        return bucket

    def _prune(self) -> None:
        for key in [k for k, b in self._buckets.items() if b.idle]:
            del self._buckets[key]
        while len(self._buckets) >= self.max_keys:  # all busy: drop the least recent
            self._buckets.popitem(last=False)
