"""The dispatcher on both stores: delivery, retries, failures, rate limits, leases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from conversations.messages import Outgoing, SendResult
from scheduler.dispatch import Backoff, Dispatcher, drain
from store.models import Jurisdiction, OutboxMessage, Person
from store.outbox import enqueue
from store.outbox_delivery import claim, failed_count, failed_messages, retry_failed
from tests.integration.test_dispatch_support import RecordingChannel, fill_outbox

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _rows(sessions) -> dict[str, OutboxMessage]:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return {m.idempotency_key: m for m in s.scalars(select(OutboxMessage))}


def _run(dispatcher: Dispatcher, now: datetime):  # type: ignore[no-untyped-def]
    return asyncio.run(dispatcher.run_once(now))


def test_sends_due_marks_sent_and_leaves_the_rest(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as s:
        enqueue(s, key="due", platform="telegram", external_id="1", kind="notice",
                payload=Outgoing(text="你好").to_payload(), not_before=NOW)
        enqueue(s, key="later", platform="telegram", external_id="1", kind="notice",
                payload=Outgoing(text="晚些").to_payload(), not_before=NOW + timedelta(hours=1))
        enqueue(s, key="nochannel", platform="wechat", external_id="o1", kind="notice",
                payload=Outgoing(text="微信").to_payload(), not_before=NOW)
        s.commit()
    ch = RecordingChannel()
    stats = _run(Dispatcher(sessions, {"telegram": ch}, worker_id="a"), NOW)
    assert (stats.claimed, stats.sent) == (1, 1)
    assert [m.text for _, m in ch.sent] == ["你好"]
    rows = _rows(sessions)
    assert rows["due"].status == "sent" and rows["due"].provider_id == "w-1"
    assert rows["due"].sent_at is not None
    assert rows["later"].status == "pending"
    # no channel for the platform: stays pending, never failed
    assert rows["nochannel"].status == "pending" and rows["nochannel"].attempts == 0
    # again: nothing twice
    assert _run(Dispatcher(sessions, {"telegram": ch}, worker_id="a"), NOW).claimed == 0
    assert drain(sessions, {"telegram": ch}, NOW + timedelta(hours=2)) == 1
    assert len(ch.sent) == 2


def test_retries_with_exponential_backoff_then_sends(sessions) -> None:  # type: ignore[no-untyped-def]
    fill_outbox(sessions, 1, now=NOW)
    ch = RecordingChannel(script=lambda key, n: SendResult(ok=False, error="HTTP 502")
                          if n <= 3 else None)
    d = Dispatcher(sessions, {"telegram": ch}, worker_id="a",
                   backoff=Backoff(base_seconds=10, cap_seconds=1000))
    now = NOW
    waits = []
    for _ in range(3):
        stats = _run(d, now)
        assert stats.retried == 1
        row = _rows(sessions)["m:0"]
        assert row.status == "pending" and row.last_error == "HTTP 502"
        waits.append((row.not_before - now).total_seconds())
        assert _run(d, now).claimed == 0  # not due before its backoff ends
        now = row.not_before
    # equal jitter: attempt k waits between half and all of 10·2^(k-1) seconds
    for k, w in enumerate(waits, start=1):
        assert 10 * 2 ** (k - 1) / 2 <= w <= 10 * 2 ** (k - 1) + 1
    assert _run(d, now).sent == 1
    row = _rows(sessions)["m:0"]
    assert row.status == "sent" and row.attempts == 4


def test_429_retry_after_is_honoured(sessions) -> None:  # type: ignore[no-untyped-def]
    fill_outbox(sessions, 1, now=NOW)
    ch = RecordingChannel(script=lambda key, n: SendResult(ok=False, retry_after=37,
                                                           error="429 Too Many Requests")
                          if n == 1 else None)
    d = Dispatcher(sessions, {"telegram": ch}, worker_id="a")
    _run(d, NOW)
    row = _rows(sessions)["m:0"]
    wait = (row.not_before - NOW).total_seconds()
    assert 37 <= wait <= 37 * 1.1 + 1
    assert _run(d, NOW + timedelta(seconds=30)).claimed == 0
    # (a fresh dispatcher: this one's recipient bucket is paused for 37 real seconds)
    assert _run(Dispatcher(sessions, {"telegram": ch}, worker_id="b"),
                NOW + timedelta(seconds=60)).sent == 1


def test_gives_up_after_max_attempts_and_officers_see_it(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as s:
        town = Jurisdiction(name="某镇", level="township")
        village = Jurisdiction(name="某村", level="village", parent=town)
        other = Jurisdiction(name="别镇", level="township")
        p = Person(name="张三", jurisdiction=village)
        s.add_all([town, village, other, p])
        s.flush()
        enqueue(s, key="k", platform="telegram", external_id="1", kind="reminder",
                payload=Outgoing(text="提醒").to_payload(), person_id=p.id, not_before=NOW)
        enqueue(s, key="blocked", platform="telegram", external_id="2", kind="reminder",
                payload=Outgoing(text="提醒").to_payload(), person_id=p.id, not_before=NOW)
        s.commit()
        town_id, other_id = town.id, other.id
    ch = RecordingChannel(script=lambda key, n: SendResult(ok=False, permanent=True,
                                                           error="403 blocked by user")
                          if key == "blocked" else SendResult(ok=False, error="HTTP 500"))
    d = Dispatcher(sessions, {"telegram": ch}, worker_id="a", max_attempts=3)
    now = NOW
    for _ in range(5):
        _run(d, now)
        now += timedelta(days=1)
    rows = _rows(sessions)
    assert rows["k"].status == "failed" and rows["k"].attempts == 3
    assert rows["k"].last_error == "HTTP 500"
    assert rows["blocked"].status == "failed" and rows["blocked"].attempts == 1
    assert ch.tries == {"k": 3, "blocked": 1}
    with sessions() as s:
        assert failed_count(s, [town_id]) == 2
        assert failed_count(s, [other_id]) == 0
        assert failed_count(s) == 2
        assert {m.idempotency_key for m in failed_messages(s, [town_id])} == {"k", "blocked"}
        assert retry_failed(s, [rows["k"].id], now) == 1
        s.commit()
    ch.script = None
    assert _run(d, now).sent == 1


def test_expired_lease_is_claimed_again(sessions) -> None:  # type: ignore[no-untyped-def]
    fill_outbox(sessions, 3, now=NOW)
    with sessions() as s:  # a dispatcher claims and dies
        got = claim(s, worker_id="dead", now=NOW, lease_seconds=60, limit=10,
                    platforms={"telegram"})
    assert len(got) == 3
    ch = RecordingChannel()
    d = Dispatcher(sessions, {"telegram": ch}, worker_id="b")
    assert _run(d, NOW + timedelta(seconds=30)).claimed == 0  # lease still runs
    assert _run(d, NOW + timedelta(seconds=61)).sent == 3
    assert all(r.status == "sent" for r in _rows(sessions).values())


def test_per_recipient_rate_and_deferral(sessions) -> None:  # type: ignore[no-untyped-def]
    fill_outbox(sessions, 6, recipients=1, now=NOW)
    ch = RecordingChannel(rate_per_recipient=4.0)
    d = Dispatcher(sessions, {"telegram": ch}, worker_id="a")
    assert _run(d, NOW).sent == 6
    # burst of 4, then 4/s: the last two are spaced by about a quarter second
    assert ch.times[-1] - ch.times[0] >= 0.4
    assert [m.text for _, m in ch.sent] == [f"消息 {i}" for i in range(6)]  # in order

    fill_outbox(sessions, 5, recipients=1, now=NOW, prefix="slow")
    ch2 = RecordingChannel(rate_per_recipient=0.5)
    d2 = Dispatcher(sessions, {"telegram": ch2}, worker_id="b", lease_seconds=2,
                    send_timeout=0.5)
    stats = _run(d2, NOW)
    # one now; waiting 2 s for the next would run into the 2 s lease: handed back
    assert stats.sent == 1 and stats.deferred == 4
    rows = _rows(sessions)
    deferred = [rows[f"slow:{i}"] for i in range(1, 5)]
    assert all(r.status == "pending" and r.attempts == 0 for r in deferred)
    assert all(r.not_before > NOW for r in deferred)


def test_platform_rate(sessions) -> None:  # type: ignore[no-untyped-def]
    fill_outbox(sessions, 30, recipients=30, now=NOW)
    ch = RecordingChannel(rate_per_second=20.0)
    assert _run(Dispatcher(sessions, {"telegram": ch}, worker_id="a"), NOW).sent == 30
    assert ch.times[-1] - ch.times[0] >= 0.4  # 20 at once, then 10 more at 20/s


def test_a_commit_of_a_due_message_wakes_the_dispatcher(sessions) -> None:  # type: ignore[no-untyped-def]
    """A message committed in this process (an alert, say) leaves at once, not at the
    next poll: here the poll is an hour away, so only the wake can send the second one."""
    channel = RecordingChannel()
    dispatcher = Dispatcher(sessions, {"telegram": channel}, worker_id="w",
                            poll_interval=3600)

    async def until_sent(n: int) -> None:
        for _ in range(200):
            if len(channel.sent) >= n:
                return
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run_forever(stop))
        fill_outbox(sessions, 1, prefix="first")  # committed on the loop's thread
        await until_sent(1)
        # committed from another thread, as a webhook's turn is on SQLite
        await asyncio.to_thread(fill_outbox, sessions, 1, prefix="second")
        await until_sent(2)
        stop.set()
        await task

    asyncio.run(scenario())
    assert sorted(m.meta.get("outbox_key", m.text) for _, m in channel.sent) == [
        "first:0", "second:0"]


def test_a_rolled_back_message_wakes_nobody(sessions) -> None:  # type: ignore[no-untyped-def]
    from store import outbox

    woken: list[int] = []
    stop_waking = outbox.on_commit_of_due(lambda: woken.append(1))
    try:
        with sessions() as s:
            enqueue(s, key="gone", platform="telegram", external_id="c", kind="notice",
                    payload=Outgoing(text="x").to_payload())
            s.rollback()
            s.commit()  # the next transaction of the same session wrote nothing
        with sessions() as s:  # nor does a message for later
            enqueue(s, key="later", platform="telegram", external_id="c", kind="notice",
                    payload=Outgoing(text="x").to_payload(),
                    not_before=datetime.now(UTC) + timedelta(hours=1))
            s.commit()
        assert woken == []
        fill_outbox(sessions, 1)
        assert woken == [1]
    finally:
        stop_waking()
