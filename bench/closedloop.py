"""Inbound answers, closed loop: visitors who each wait for the bot's next question before
answering, through the whole path including the dispatcher.

    python -m bench.closedloop --url postgresql+psycopg://…/db --visitors 32 --workers 1,2

This process plays both sides Telegram stands between: the Bot API (the fake server of
tests/fakes, speaking its real JSON, in a thread here) and the visitors. `visitbot run
--channel telegram --no-tick` registers its webhook with the fake, so every update goes
fake → webhook, and whatever the bot says (in the webhook's response, most often the
next question as an edit of the pressed one, or later by the outbox dispatcher, or by
API: callback answers, retired keyboards) lands in the fake's chat. Each visitor opens
待访, presses the first start button, and answers whatever is
asked, pressing buttons as a hurried visitor does (the first answer, 完成 on a
multi-choice, 确认 at the end) and typing where there are none; a visitor who files
starts the next visit. Latency is from the update's delivery to the next question in
the chat. Prints answers/s, p50/p99 and visits filed; `--url` is a built, ticked
province (bench.province --keep, or the harness).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-closed-loop-secret"
MAX_STEPS = 120


def buttons(message: dict[str, Any] | None) -> list[tuple[str, str]]:
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["callback_data"], b["text"]) for row in rows for b in row]


def choose(message: dict[str, Any], repeats: int) -> tuple[str | None, str | None]:
    """(button to press, or words to type) for the bot's last message."""
    live = buttons(message)
    data = [d for d, _ in live]
    confirm = [d for d in data if d.startswith("c:confirm:")]
    if confirm:
        return confirm[0], None
    done = [d for d, label in live if d.split(":")[2:3] == ["done"]]
    if done and any(label.startswith("✓ ") for _, label in live):
        return done[0], None
    answers = [d for d in data if d.startswith("a:")]
    if answers:
        return answers[0], None
    starts = [d for d in data if d.startswith("start:")]
    if starts:
        return starts[0], None
    text = message.get("text", "")
    words = ["今天", "跳过"] if "日期" in text or "时间" in text else ["无", "0", "跳过"]
    return None, words[min(repeats, len(words) - 1)]


def snapshot(fake: Any, chat: int) -> tuple[int, str, str]:
    msgs = fake.messages(chat)
    last = msgs[-1] if msgs else {}
    return len(msgs), last.get("text", ""), json.dumps(last.get("reply_markup"))


def answered(before: tuple[int, str, str], now: tuple[int, str, str]) -> bool:
    """The next question is in the chat: a new message, or the last one edited in place
    with live buttons (a toggle, or the next question in the pressed one's place), or to
    a new text (the next question, one without buttons). A pressed message losing its
    keyboard, its choice appended to its text, is not it."""
    return now[0] > before[0] or (now != before and now[2] not in ("null", "{}")) or (
        now[1] != before[1] and not now[1].startswith(before[1]))


class Visitor:
    """One visitor, as a task: all of them share this process's one event loop and one
    HTTP client, so the load generator stays light beside the bot it measures."""

    def __init__(self, fake: Any, client: httpx.AsyncClient, chat: int, until: float) -> None:
        from tests.fakes.telegram_server import TgUser

        self.fake, self.client, self.chat, self.until = fake, client, chat, until
        self.user = TgUser(fake, chat, "探访员")
        self.latencies: list[float] = []
        self.filed = 0
        self.stuck = 0

    async def deliver(self, update: dict[str, Any]) -> None:
        request = self.fake.webhook_request(update)
        assert request is not None, "the bot has not registered its webhook"
        url, headers, body = request
        resp = await self.client.post(url, content=body, headers=headers)
        self.fake.webhook_answered(resp.status_code, resp.content)

    async def act(self, press: str | None, words: str | None) -> bool:
        """Send one answer; True when the next question came in time."""
        before = snapshot(self.fake, self.chat)
        message = self.fake.last_message(self.chat)
        t0 = time.perf_counter()
        if press is not None and message is not None:
            await self.deliver(self.user.press_update(message, press))
        else:
            await self.deliver(self.user.update(message=self.user._message(
                text=words or "待访")))
        deadline = time.monotonic() + 10
        while not answered(before, snapshot(self.fake, self.chat)):
            if time.monotonic() > deadline:
                self.stuck += 1
                return False
            await asyncio.sleep(0.002)  # a reply the dispatcher sends, not the webhook
        self.latencies.append(time.perf_counter() - t0)
        return True

    async def run(self) -> None:
        await self.act(None, "待访")
        repeats, last_text = 0, ""
        while time.monotonic() < self.until:
            message = self.fake.last_message(self.chat) or {}
            text = message.get("text", "")
            if "已提交存档" in text:
                self.filed += 1
                await self.act(None, "待访")  # on to the next visit in the list
                continue
            repeats = repeats + 1 if text == last_text else 0
            last_text = text
            if repeats > 6:  # a question this walker cannot answer: start over
                await self.act(None, "取消")
                await self.act(None, "待访")
                repeats = 0
                continue
            await self.act(*choose(message, repeats))


async def walk_all(fake: Any, chats: list[int], seconds: int) -> list[Visitor]:
    until = time.monotonic() + seconds
    # a connection idle as long as the server's keep-alive (uvicorn's 5 s, httpx's own
    # default too) can be closed by the server as the next request goes out on it, which
    # ended a run with a ReadError: a visitor waiting for a slow reply leaves its
    # connection idle that long. Let go of idle connections well before the server does.
    limits = httpx.Limits(max_connections=len(chats), max_keepalive_connections=len(chats),
                          keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        crowd = [Visitor(fake, client, chat, until) for chat in chats]
        await asyncio.gather(*(v.run() for v in crowd))
    return crowd


def reminders_delivered(url: str) -> int:
    """The tick's reminder digests marked sent, as if the morning's dispatch were done:
    the loop measures answers, not a province's reminders going out beside them."""
    from sqlalchemy import update

    from store.db import make_engine
    from store.models import OutboxMessage

    engine = make_engine(url)
    with engine.begin() as c:
        n = c.execute(update(OutboxMessage).where(OutboxMessage.status == "pending",
                                                  OutboxMessage.kind == "reminder")
                      .values(status="sent")).rowcount
    engine.dispose()
    return int(n or 0)


def run(url: str, *, visitors: int, workers: int, seconds: int) -> dict[str, Any]:
    from bench import openloop
    from tests.fakes.telegram_server import FakeTelegram

    chats = [chat for _, chat in openloop.visitor_chats(url, visitors)]
    if not chats:
        return {"skipped": "no visitor with an open visit left: build a fresh province"}
    delivered = reminders_delivered(url)
    # update ids of this run only: a rerun on the same database must not be deduplicated
    fake = FakeTelegram(token=openloop.TOKEN,
                        _update_ids=itertools.count(time.time_ns() // 1000)).start()
    port = openloop.free_port()
    public = f"http://127.0.0.1:{port}"
    env = dict(os.environ, VISITBOT_DATABASE_URL=url, VISITBOT_TELEGRAM_TOKEN=fake.token,
               VISITBOT_TELEGRAM_WEBHOOK_SECRET=SECRET, VISITBOT_PUBLIC_URL=public,
               VISITBOT_TELEGRAM_BASE_URL=fake.base_url,
               VISITBOT_TELEGRAM_BASE_FILE_URL=fake.base_file_url)
    cmd = [str(Path(sys.executable).parent / "visitbot"), "run", "--channel", "telegram",
           "--no-tick", "--port", str(port), "--workers", str(workers)]
    logdir = Path(os.environ.get("TMPDIR", "/tmp"))
    bot = openloop.Server(cmd, env, logdir / f"vb-closedloop-{workers}.log")
    try:
        fake.wait_for(lambda: fake.webhook, 60, "the bot to register its webhook")
        t0 = time.perf_counter()
        cpu0, own0 = bot.cpu_seconds(), time.process_time()
        crowd = asyncio.run(walk_all(fake, chats, seconds))
        elapsed = time.perf_counter() - t0
        cpu, own = bot.cpu_seconds() - cpu0, time.process_time() - own0
        lat = sorted(x for v in crowd for x in v.latencies)
        peak = bot.peak_rss_mb()
    finally:
        bot.stop()
        fake.stop()
    n = len(lat)
    pct = (lambda q: 1000 * lat[min(n - 1, int(q * n))]) if n else (lambda q: 0.0)
    via_api = sum(1 for c in fake.calls if c.via == "http" and c.method == "sendMessage")
    return {"workers": workers, "visitors": len(chats), "seconds": elapsed, "answers": n,
            "answers_per_s": n / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "mean_ms": 1000 * statistics.fmean(lat) if lat else 0.0,
            "filed": sum(v.filed for v in crowd), "stuck": sum(v.stuck for v in crowd),
            "sent_by_dispatcher": via_api, "reminders_marked_sent": delivered,
            "bot_cpu_ms_per_answer": 1000 * cpu / max(1, n),
            "generator_cpu_share": own / elapsed,
            "peak_rss_mb": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="a built, ticked province on PostgreSQL")
    ap.add_argument("--visitors", type=int, default=32)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    for w in (int(x) for x in args.workers.split(",")):
        r = run(args.url, visitors=args.visitors, workers=w, seconds=args.seconds)
        rows.append(r)
        if "skipped" in r:
            print(f"skipped: {r['skipped']}")
            break
        print(f"closed loop, {w} process(es), {r['visitors']} visitors: "
              f"{r['answers_per_s']:,.0f} answers/s, p50 {r['p50_ms']:.0f} ms, "
              f"p99 {r['p99_ms']:.0f} ms; {r['filed']} visits filed, {r['stuck']} stuck, "
              f"{r['sent_by_dispatcher']} messages by the dispatcher; bot CPU "
              f"{r['bot_cpu_ms_per_answer']:.2f} ms/answer; this generator used "
              f"{100 * r['generator_cpu_share']:.0f}% of a core", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
