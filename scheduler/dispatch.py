"""The outbox dispatcher: claim due messages, send them within the platforms' limits,
record what happened.

Delivery is at-least-once at the provider boundary and exactly-once everywhere else:
a row is claimed under a lease by one worker, sent once, and its outcome written right
after the channel answers (outcomes are flushed in small batches as they arrive, not at
the end of the batch), so a crash can at worst repeat the few messages whose ack had
not been written yet. The idempotency key travels in `Outgoing.meta["outbox_key"]` for
channels whose platform can deduplicate.

Priority: a round sends its emergency rows, then its high ones, then the rest, each
group finished before the next starts. When an emergency or high row fails on a
platform, the round's lower rows for that platform go back unsent until its retry
(and `claim` keeps them back meanwhile), so a platform that answers again delivers the
alert first. Every failed attempt is logged at WARNING with the outbox id.

Sync SQLAlchemy runs in worker threads (`asyncio.to_thread`); sending is asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from conversations.messages import Address, Channel, Outgoing, SendResult
from scheduler.metrics import DELIVERED, SEND_FAILURES, TIME_TO_DELIVERY
from scheduler.ratelimit import BucketMap, TokenBucket
from store.base import utcnow
from store.outbox import ROUTINE, on_commit_of_due
from store.outbox_delivery import Claimed, Outcome, claim, record

log = logging.getLogger(__name__)

# An emergency or high row is tried again at least this often, however many attempts
# failed: while it waits, lower messages on its platform wait too.
URGENT_RETRY_CAP = 60.0


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0  # released unsent (rate limit, lease too short); no attempt counted

    def add(self, other: DispatchStats) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with equal jitter: half the delay fixed, half random."""

    base_seconds: float = 15.0
    cap_seconds: float = 3600.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        full = min(self.cap_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))
        return full / 2 + rng.uniform(0, full / 2)


class _Recorder:
    """Writes outcomes as they come, one transaction per flush, never two at once."""

    def __init__(self, write: Callable[[list[Outcome]], None]) -> None:
        self._write = write
        self._buf: list[Outcome] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, outcome: Outcome) -> None:
        self._buf.append(outcome)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._buf:
            batch, self._buf = self._buf, []
            await asyncio.to_thread(self._write_with_retry, batch)

    def _write_with_retry(self, batch: list[Outcome]) -> None:
        # Losing an outcome after a send would mean sending again after the lease: try
        # hard before giving up.
        for pause in (0.05, 0.2, 1.0, 3.0, None):
            try:
                self._write(batch)
                return
            except Exception:
                if pause is None:
                    raise
                log.warning("recording %d outbox outcomes failed; retrying", len(batch),
                            exc_info=True)
                time.sleep(pause)

    async def close(self) -> None:
        while self._task is not None and not self._task.done():
            await self._task
        if self._buf:
            await self._flush()


class Dispatcher:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        channels: Mapping[str, Channel],
        *,
        worker_id: str,
        batch: int = 100,
        lease_seconds: float = 60.0,
        max_attempts: int = 8,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = 32,
        send_timeout: float | None = None,
        backoff: Backoff | None = None,
        poll_interval: float = 1.0,
        wake_gap: float = 0.05,
        max_inline_wait: float = 2.0,
        rate_share: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = session_factory
        self.channels = dict(channels)
        self.worker_id = worker_id
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.clock = clock
        self.concurrency = concurrency
        # A send must end well within the lease, or another worker may take the row.
        self.send_timeout = send_timeout or lease_seconds / 3
        self.backoff = backoff or Backoff()
        self.poll_interval = poll_interval
        self.wake_gap = wake_gap
        # Longer waits are not slept through inside a round (which would hold up every
        # other recipient's messages); the row goes back with not_before set instead.
        self.max_inline_wait = max_inline_wait
        self.rng = rng or random.Random()
        self._platform_buckets = {
            name: TokenBucket(ch.rate_per_second * rate_share) for name, ch in channels.items()
        }
        self._recipient_buckets = {
            name: BucketMap(ch.rate_per_recipient) for name, ch in channels.items()
        }

    # --- one round ------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> DispatchStats:
        """Claim one batch of due messages, send them, record the outcomes."""
        start = now or self.clock()
        claimed = await asyncio.to_thread(self._claim, start)
        stats = DispatchStats(claimed=len(claimed))
        if not claimed:
            return stats
        mono0 = time.monotonic()

        def current() -> datetime:
            return start + timedelta(seconds=time.monotonic() - mono0)

        recorder = _Recorder(lambda outs: self._record(current(), outs))
        sem = asyncio.Semaphore(self.concurrency)
        groups: dict[tuple[str, str], list[Claimed]] = {}
        for msg in claimed:
            groups.setdefault((msg.platform, msg.external_id), []).append(msg)
        ctx = _Round(current, mono0, recorder, sem, stats)
        # emergency recipients first, then high, then the rest: each tier done before
        # the next begins, so an alert never queues behind routine sends
        tiers: dict[int, list[list[Claimed]]] = {}
        for msgs in groups.values():
            tiers.setdefault(min(m.priority for m in msgs), []).append(msgs)
        for tier in sorted(tiers):
            await asyncio.gather(*(self._send_group(ctx, msgs) for msgs in tiers[tier]))
        await recorder.close()
        return stats

    def _claim(self, now: datetime) -> list[Claimed]:
        with self.sessions() as s:
            return claim(s, worker_id=self.worker_id, now=now,
                         lease_seconds=self.lease_seconds, limit=self.batch,
                         platforms=self.channels.keys())

    def _record(self, now: datetime, outcomes: list[Outcome]) -> None:
        with self.sessions() as s:
            record(s, self.worker_id, now, outcomes)

    async def _send_group(self, ctx: _Round, msgs: Sequence[Claimed]) -> None:
        """One recipient's messages, in order, one after the other."""
        for i, msg in enumerate(msgs):
            hold = ctx.held.get(msg.platform)
            if hold is not None and msg.priority > hold[0]:
                # an alert of this platform failed this round: it stays ahead
                for rest in msgs[i:]:
                    ctx.recorder.add(Outcome(rest.id, "pending", not_before=hold[1],
                                             refund_attempt=True))
                    ctx.stats.deferred += 1
                return
            recipient = self._recipient_buckets[msg.platform].get(msg.external_id)
            platform = self._platform_buckets[msg.platform]
            wait = max(recipient.wait_for_next(), platform.wait_for_next())
            lease_left = self.lease_seconds - (time.monotonic() - ctx.mono0)
            if wait > self.max_inline_wait or wait + self.send_timeout >= lease_left:
                # Too long a wait, or it would outlive the lease: hand the rest back,
                # unsent and with no attempt counted, for later.
                later = ctx.current() + timedelta(seconds=wait)
                for rest in msgs[i:]:
                    ctx.recorder.add(Outcome(rest.id, "pending", not_before=later,
                                             refund_attempt=True))
                    ctx.stats.deferred += 1
                return
            delay = max(recipient.reserve(), platform.reserve())
            if delay > 0:
                await asyncio.sleep(delay)
            async with ctx.sem:
                result = await self._send(msg)
            ctx.recorder.add(self._outcome(msg, result, ctx))
            if result.retry_after:
                recipient.pause(result.retry_after)

    async def _send(self, msg: Claimed) -> SendResult:
        channel = self.channels[msg.platform]
        out = Outgoing.from_payload(msg.payload)
        out = dataclasses.replace(out, meta={**out.meta, "outbox_key": msg.idempotency_key})
        try:
            return await asyncio.wait_for(
                channel.send(Address(msg.platform, msg.external_id), out), self.send_timeout)
        except TimeoutError:
            return SendResult(ok=False, error=f"timeout after {self.send_timeout:.0f}s")
        except Exception as exc:  # a channel must not raise; if it does, retry
            log.exception("channel %s raised on outbox %s", msg.platform, msg.id)
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}")

    def _outcome(self, msg: Claimed, result: SendResult, ctx: _Round) -> Outcome:
        if result.ok:
            ctx.stats.sent += 1
            DELIVERED.labels(msg.kind, msg.platform).inc()
            if msg.created_at is not None:
                TIME_TO_DELIVERY.labels(msg.kind, str(msg.priority)).observe(
                    max(0.0, (ctx.current() - msg.created_at).total_seconds()))
            return Outcome(msg.id, "sent", provider_id=result.provider_id,
                           follow_up=msg.on_sent)
        error = (result.error or "send failed")[:2000]
        final = result.permanent or msg.attempts >= self.max_attempts
        SEND_FAILURES.labels(msg.kind, msg.platform, "true" if final else "false").inc()
        if final:
            ctx.stats.failed += 1
            log.warning("outbox %s (%s, %s) failed for good after %d attempts: %s",
                        msg.id, msg.kind, msg.platform, msg.attempts, error)
            return Outcome(msg.id, "failed", error=error)
        ctx.stats.retried += 1
        if result.retry_after is not None:
            # The platform named the wait (Telegram 429): honour it, plus a little jitter
            # so that many retried messages do not come back in one burst.
            wait = result.retry_after * (1 + self.rng.uniform(0, 0.1))
        else:
            wait = self.backoff.delay(msg.attempts, self.rng)
        if msg.priority < ROUTINE:
            wait = min(wait, URGENT_RETRY_CAP)
        retry_at = ctx.current() + timedelta(seconds=wait)
        log.warning("outbox %s (%s, %s) attempt %d failed: %s; retry in %.0f s",
                    msg.id, msg.kind, msg.platform, msg.attempts, error, wait)
        if msg.priority < ROUTINE:
            held = ctx.held.get(msg.platform)
            if held is None or (msg.priority, retry_at) < held:
                ctx.held[msg.platform] = (msg.priority, retry_at)
        return Outcome(msg.id, "pending", error=error, not_before=retry_at)

    # --- forever --------------------------------------------------------------------

    async def run_forever(self, stop_event: asyncio.Event) -> None:
        """Dispatch until `stop_event` is set; a full batch goes on at once, else wait for
        the poll interval or for a commit in this process that wrote a message due now."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:  # called from whichever thread committed
            with contextlib.suppress(RuntimeError):  # the loop is closing: it polls no more
                loop.call_soon_threadsafe(woken.set)

        stop_waking = on_commit_of_due(wake)
        try:
            while not stop_event.is_set():
                started = loop.time()
                woken.clear()  # a commit during this round makes another round
                try:
                    stats = await self.run_once()
                except Exception:
                    log.exception("dispatch round failed")
                    stats = DispatchStats()
                if stats.claimed >= self.batch:
                    continue
                await _first_of(stop_event, woken, self.poll_interval)
                # under load commits come faster than rounds: gather them a little
                rest = self.wake_gap - (loop.time() - started)
                if woken.is_set() and rest > 0 and not stop_event.is_set():
                    await asyncio.sleep(rest)
        finally:
            stop_waking()


async def _first_of(a: asyncio.Event, b: asyncio.Event, timeout: float) -> None:
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


@dataclass
class _Round:
    current: Callable[[], datetime]
    mono0: float
    recorder: _Recorder
    sem: asyncio.Semaphore
    stats: DispatchStats
    # platform → (priority, retry time) of an alert that failed this round
    held: dict[str, tuple[int, datetime]] = dataclasses.field(default_factory=dict)


async def drain_async(session_factory: sessionmaker[Session], channels: Mapping[str, Channel],
                      now: datetime | None = None, *, worker_id: str = "drain",
                      max_rounds: int = 10_000, **kwargs: object) -> DispatchStats:
    dispatcher = Dispatcher(session_factory, channels, worker_id=worker_id, **kwargs)  # type: ignore[arg-type]
    total = DispatchStats()
    for _ in range(max_rounds):
        stats = await dispatcher.run_once(now)
        total.add(stats)
        # Only retries and deferrals came back: they are due later, not now.
        if stats.claimed == 0 or stats.sent + stats.failed == 0:
            break
    return total


def drain(session_factory: sessionmaker[Session], channels: Mapping[str, Channel],
          now: datetime | None = None, **kwargs: object) -> int:
    """Send everything due now (the console demo, tests); returns how many were sent."""
    coro = drain_async(session_factory, channels, now, **kwargs)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro).sent
    # Called from inside an event loop (a sync helper under async code): use a thread.
    box: list[DispatchStats] = []
    worker = threading.Thread(target=lambda: box.append(asyncio.run(coro)))
    worker.start()
    worker.join()
    return box[0].sent if box else 0
