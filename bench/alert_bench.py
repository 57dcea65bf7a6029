"""Risky answer → alert out of the dispatcher: `python -m bench.alert_bench --visitors 40
--db postgres`.

Each simulated visitor (a thread) answers a whole linzi checklist through the real core,
answering 遭受侵害 to the emergency question; meanwhile a dispatcher runs as `visitbot run`
does (woken by each commit that wrote a message due now, else polling every second)
against a channel that acknowledges at once. The
latency of an alert is its outbox row's sent_at minus created_at (the moment the answer
was committed). Prints p50/p99/max of alert latency and the answers/s of the load.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from datetime import date

from sqlalchemy import select

from bench.dbs import drop_database, new_database
from bot.chat.service import Core
from bot.settings import Settings
from conversations.messages import Address, Incoming, Outgoing, SendResult
from store.db import make_engine, session_factory
from store.migrate import upgrade
from store.models import (
    Account,
    Assignment,
    Jurisdiction,
    OutboxMessage,
    Person,
    Role,
    Subject,
    Visit,
)


class Ack:
    name = "console"
    rate_per_second = 1e9
    rate_per_recipient = 1e9

    async def send(self, address: Address, message: Outgoing) -> SendResult:
        return SendResult(ok=True)


def build(sf, visitors: int) -> list[int]:  # type: ignore[no-untyped-def]
    with sf() as s:
        county = Jurisdiction(name="压测县", level="county")
        s.add(county)
        s.flush()
        town = Jurisdiction(name="一镇", level="township", parent_id=county.id)
        s.add(town)
        s.flush()
        vil = Jurisdiction(name="一村", level="village", parent_id=town.id)
        s.add(vil)
        s.flush()
        for jid in (vil.id, town.id, county.id):
            o = Person(name="干部", jurisdiction_id=jid)
            s.add(o)
            s.flush()
            s.add_all([Role(person_id=o.id, role="officer", jurisdiction_id=jid),
                       Account(person_id=o.id, platform="console", external_id=f"o{o.id}")])
        ids = []
        for i in range(visitors):
            v = Person(name=f"探访{i}", jurisdiction_id=vil.id)
            p = Person(name=f"对象{i}", jurisdiction_id=vil.id)
            s.add_all([v, p])
            s.flush()
            s.add_all([Role(person_id=v.id, role="visitor", jurisdiction_id=vil.id),
                       Subject(person_id=p.id, policy="linzi-2022", categories=["独居"]),
                       Account(person_id=v.id, platform="console", external_id=f"v{v.id}")])
            s.flush()
            s.add_all([Assignment(subject_id=p.id, visitor_id=v.id, starts_on=date(2026, 1, 1)),
                       Visit(subject_id=p.id, visitor_id=v.id, policy="linzi-2022",
                             kind="regular", window_opens=date(2026, 11, 1),
                             due_on=date(2026, 11, 30), deadline=date(2026, 11, 30),
                             status="planned")])
            ids.append(v.id)
        s.commit()
    return ids


def visitor(core: Core, sf, vid: int, counter: list[int]) -> None:  # type: ignore[no-untyped-def]
    addr = Address("console", f"v{vid}")
    n = 0

    def say(text: str | None = None, choice: str | None = None) -> Outgoing:
        nonlocal n
        n += 1
        handled = core.handle(Incoming(addr, f"{vid}-{n}", text=text, choice=choice))
        counter[0] += 1
        return handled.replies[-1]

    last = say("待访")
    last = say("1")
    for _ in range(80):
        if last.callback_prefix == "emergency":
            last = say("遭受侵害")
            continue
        values = [c.value for c in last.choices]
        confirm = [v for v in values if v.startswith("c:confirm:")]
        skip = [v for v in values if v.startswith("c:skip:")]
        if confirm:
            say(choice=confirm[0])
            return
        if values and values[0].startswith("a:"):
            last = say(choice=values[0])
            if values[-1].split(":")[2:3] == ["done"]:
                last = say(choice=values[-1])
        elif skip:
            last = say(choice=skip[0])
        else:
            last = say("无")


def main() -> None:
    from scheduler.dispatch import Dispatcher

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visitors", type=int, default=40)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    args = ap.parse_args()
    url, pg_name = new_database(args.db)
    try:
        upgrade(url)
        engine = make_engine(url)
        sf = session_factory(engine)
        ids = build(sf, args.visitors)
        core = Core(sf, Settings(database_url=url))
        stop = asyncio.Event()
        dispatcher = Dispatcher(sf, {"console": Ack()}, worker_id="bench")
        loop = asyncio.new_event_loop()
        dthread = threading.Thread(target=loop.run_until_complete,
                                   args=(dispatcher.run_forever(stop),))
        dthread.start()
        counter = [0]
        queue = list(ids)
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    vid = queue.pop()
                visitor(core, sf, vid, counter)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=work) for _ in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        time.sleep(2.5)  # the last alerts leave within a poll interval
        loop.call_soon_threadsafe(stop.set)
        dthread.join()
        with sf() as s:
            rows = s.execute(select(OutboxMessage.created_at, OutboxMessage.sent_at).where(
                OutboxMessage.kind == "alert")).all()
        lat = sorted((sent - created).total_seconds() for created, sent in rows if sent)
        q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
        print(f"{args.db}: {args.visitors} visitors × whole checklist with an emergency, "
              f"{args.threads} threads; {counter[0]:,} messages in {wall:.1f} s = "
              f"{counter[0] / wall:,.0f} answers/s")
        print(f"  {len(lat)} alerts sent of {len(rows)}; answer → alert sent: "
              f"p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms "
              f"(dispatcher woken by commits, else polls every {dispatcher.poll_interval:.0f} s)")
        engine.dispose()
    finally:
        if pg_name:
            drop_database(pg_name)


if __name__ == "__main__":
    main()
