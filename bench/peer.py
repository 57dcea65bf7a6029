"""visitbot beside the bot a developer would write by hand, closed loop, same PostgreSQL.

    python -m bench.peer --visitors 100 --steps 16 --rounds 3 [--peer-concurrent]
        [--workers 2] [--only visitbot] [--spy FOLDER]

Builds a small province on PostgreSQL (bench.province: `visitors × rounds × 10`
subjects, all under linzi-2022, ticked, the reminders marked sent), then runs the two
bots alternately, `--rounds` times each, one process each, never both at once:

- the peer (bench.peer_bot): python-telegram-bot's ConversationHandler, one state per
  linzi-2022 question, an SQLAlchemy commit per answer, sendMessage with a reply keyboard;
- visitbot: `visitbot run --channel telegram --no-tick --workers 1`.

This process plays the Bot API (bench.botapi, on this event loop) and the visitors:
each of `--visitors` visitors takes `--steps` steps, one at a time, each waiting for the
bot's next question (in the webhook's response or by API call). A peer visitor types
/start, then presses the first reply-keyboard button each time; a visitbot visitor types
待访 and presses the first start button, then as bench.closedloop's visitors do. A step
is an "answer". Per run: answers/s, p50/p99 from the update's delivery to the next
question, the bot process's CPU per answer (/proc), Bot API calls per answer (by API
call, and in webhook responses), and transactions per answer (the database's
xact_commit in pg_stat_database, read after the bot has stopped so every backend has
reported), and which steps hold the slowest 1 %. Then the table of ranges over the
rounds. `--workers` runs visitbot as that many processes (the peer stays one), `--spy`
samples each bot with py-spy while its visitors walk (read with bench.stacks).

The generator itself (this process: the visitors' HTTP client and the Bot API) posts
with aiohttp, so it takes a fifth of a core or less and leaves the two cores to the bot
and PostgreSQL; with httpx it took most of a core, which both bots lost.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bench import closedloop, openloop
from bench.botapi import BotApi

TOKEN = openloop.TOKEN
SECRET = "bench-peer-secret"
POLICY = "linzi-2022"  # the peer asks this checklist's questions too
BOTS = ("peer", "visitbot")
LOGS = Path(os.environ.get("TMPDIR", "/tmp"))


# -- the database -------------------------------------------------------------------------

def prepare(url: str, visitors: int) -> None:
    """A migrated, empty database → `visitors` visitors with ten planned visits each."""
    from bench import province

    province.build(url, visitors * 10, history_months=0, progress=False)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as c:
        c.execute(text("UPDATE subjects SET policy = :p"), {"p": POLICY})
    engine.dispose()
    province.run_ticks(url)
    closedloop.reminders_delivered(url)


def scalar(url: str, sql: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as c:
        value = c.execute(text(sql)).scalar()
    engine.dispose()
    return int(value or 0)


def commits(url: str) -> int:
    """Transactions committed in this database so far (less the one reading it)."""
    return scalar(url, "SELECT xact_commit FROM pg_stat_database "
                       "WHERE datname = current_database()") - 1


def stored(url: str, bot: str) -> int:
    if bot == "peer":
        return scalar(url, "SELECT CASE WHEN to_regclass('peer_answers') IS NULL THEN 0 "
                           "ELSE (SELECT count(*) FROM peer_answers) END")
    return scalar(url, "SELECT count(*) FROM answers")


# -- the visitors -------------------------------------------------------------------------

class Walker:
    """One visitor taking `steps` steps, each waiting for the bot's next question."""

    def __init__(self, bot: str, api: BotApi, client: aiohttp.ClientSession, chat: int,
                 hook: str, ids: itertools.count[int]) -> None:
        self.bot, self.api, self.client, self.chat, self.hook = bot, api, client, chat, hook
        self.ids = ids
        self.latencies: list[float] = []
        self.by_step: list[tuple[int, float]] = []  # (step, seconds): where the tail lies
        self.steps = self.presses = self.stuck = self.redelivered = self.refused = 0
        self._last_text, self._repeats = "", 0

    def _user(self) -> dict[str, Any]:
        return {"id": self.chat, "is_bot": False, "first_name": "探访员"}

    def typed(self, words: str) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": self.api.new_message_id(), "date": int(time.time()),
            "chat": {"id": self.chat, "type": "private", "first_name": "探访员"},
            "from": self._user(), "text": words}
        if words.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(words)}]
        return {"update_id": next(self.ids), "message": msg}

    def pressed(self, message: dict[str, Any], data: str) -> dict[str, Any]:
        self.presses += 1
        return {"update_id": next(self.ids), "callback_query": {
            "id": f"cq-{next(self.ids)}", "from": self._user(),
            "chat_instance": f"ci-{self.chat}", "message": message, "data": data}}

    def next_update(self) -> dict[str, Any]:
        message = self.api.last.get(self.chat)
        if self.bot == "peer":
            rows = ((message or {}).get("reply_markup") or {}).get("keyboard")
            if not rows:
                return self.typed("/start")
            first = rows[0][0]
            return self.typed(first["text"] if isinstance(first, dict) else str(first))
        if message is None or "已提交存档" in message.get("text", ""):
            return self.typed("待访")
        text_ = message.get("text", "")
        self._repeats = self._repeats + 1 if text_ == self._last_text else 0
        self._last_text = text_
        if self._repeats > 6:  # a question this walker cannot answer: leave it
            self._repeats = 0
            return self.typed("取消")
        press, words = closedloop.choose(message, self._repeats)
        return self.pressed(message, press) if press else self.typed(words or "待访")

    async def step(self) -> None:
        update = self.next_update()
        waiting = self.api.expect(self.chat)
        t0 = time.perf_counter()
        body = json.dumps(update).encode()
        for attempt in range(3):
            try:
                async with self.client.post(self.hook, data=body, headers={
                        "Content-Type": "application/json",
                        "X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
                    status, content = resp.status, await resp.read()
                break
            except aiohttp.ClientConnectionError:
                # a keep-alive connection the server closed as it was reused: deliver
                # the update again, as Telegram does (both bots take it once)
                self.redelivered += 1
                if attempt == 2:
                    raise
        if status != 200:
            self.refused += 1
        self.api.webhook_answered(status, content)
        try:
            await asyncio.wait_for(waiting, 30)
        except TimeoutError:
            self.stuck += 1
            return
        self.latencies.append(time.perf_counter() - t0)
        self.by_step.append((self.steps, self.latencies[-1]))
        self.steps += 1

    async def walk(self, steps: int) -> None:
        for _ in range(steps):
            await self.step()


# -- one run ------------------------------------------------------------------------------

def command(bot: str, url: str, api: BotApi, port: int, concurrent: bool, workers: int = 1
            ) -> tuple[list[str], dict[str, str]]:
    public = f"http://127.0.0.1:{port}"
    if bot == "peer":
        cmd = [sys.executable, "-m", "bench.peer_bot", "--url", url, "--port", str(port),
               "--public-url", public, "--token", TOKEN, "--base-url", api.base_url,
               "--secret", SECRET] + (["--concurrent"] if concurrent else [])
        return cmd, dict(os.environ)
    env = dict(os.environ, VISITBOT_DATABASE_URL=url, VISITBOT_TELEGRAM_TOKEN=TOKEN,
               VISITBOT_TELEGRAM_WEBHOOK_SECRET=SECRET, VISITBOT_PUBLIC_URL=public,
               VISITBOT_TELEGRAM_BASE_URL=api.base_url,
               VISITBOT_TELEGRAM_BASE_FILE_URL=api.url + "/file/bot")
    cmd = [str(Path(sys.executable).parent / "visitbot"), "run", "--channel", "telegram",
           "--no-tick", "--port", str(port), "--workers", str(workers)]
    return cmd, env


async def settled(api: BotApi, quiet: float = 1.0, longest: float = 15.0) -> None:
    """Until the bot has made no Bot API call for `quiet` seconds."""
    deadline = time.monotonic() + longest
    seen, still_since = sum(api.calls.values()), time.monotonic()
    while time.monotonic() - still_since < quiet and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = sum(api.calls.values())
        if now != seen:
            seen, still_since = now, time.monotonic()


async def one_run(bot: str, url: str, chats: list[int], steps: int,
                  ids: itertools.count[int], concurrent: bool = False,
                  spy: Path | None = None, workers: int = 1) -> dict[str, Any]:
    api = await BotApi(TOKEN).start()
    port = openloop.free_port()
    cmd, env = command(bot, url, api, port, concurrent, workers)
    log = LOGS / f"vb-peer-{bot}-{os.getpid()}-{next(ids)}.log"
    server = openloop.Server(cmd, env, log)
    try:
        deadline = time.monotonic() + 90
        while not api.webhook:
            if server.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{bot} did not register its webhook; see {log}:\n"
                                   + log.read_text()[-2000:])
            await asyncio.sleep(0.05)
        hook = f"http://127.0.0.1:{port}/telegram"
        await asyncio.to_thread(openloop.wait_up, hook)
        stored0 = await asyncio.to_thread(stored, url, bot)
        commits0 = await asyncio.to_thread(commits, url)
        calls0, cpu0, t0 = api.counts(), server.cpu_seconds(), time.perf_counter()
        own0, db0 = time.process_time(), postgres_cpu()
        profiler = spy_on(server, spy, bot, next(ids)) if spy else None
        # aiohttp: httpx's pool costs milliseconds of this process's CPU per request with
        # a hundred under way, CPU the bots on the same two cores would lose
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=60),
                connector=aiohttp.TCPConnector(limit=len(chats))) as client:
            crowd = [Walker(bot, api, client, chat, hook, ids) for chat in chats]
            await asyncio.gather(*(w.walk(steps) for w in crowd))
        elapsed, own = time.perf_counter() - t0, time.process_time() - own0
        db_cpu = postgres_cpu() - db0
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            await asyncio.to_thread(profiler.wait, 60)
        await settled(api)  # calls made after the last reply are this run's too
        cpu = server.cpu_seconds() - cpu0
        calls = api.counts()
        calls.subtract(calls0)
    finally:
        await asyncio.to_thread(server.stop)
        await api.stop()
    # a stopped bot's backends have all reported their transactions
    xacts = await asyncio.to_thread(commits, url) - commits0
    answers = sum(w.steps for w in crowd)
    lat = sorted(x for w in crowd for x in w.latencies)
    pct = (lambda q: 1000 * lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else (
        lambda q: 0.0)
    by_api = sum(n for (_, via), n in calls.items() if via == "http")
    in_response = sum(n for (_, via), n in calls.items() if via == "webhook")
    return {
        "bot": bot, "visitors": len(chats), "steps": steps, "answers": answers,
        "seconds": elapsed, "answers_per_s": answers / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        # the first two steps (visitbot: the visit list and the start; the peer: /start
        # and its first answer) come from all visitors at the same instant
        "p99_after_opening_ms": steady_p99(crowd),
        "cpu_ms_per_answer": 1000 * cpu / max(1, answers),
        "db_cpu_ms_per_answer": 1000 * db_cpu / max(1, answers),
        "calls": {f"{m} ({via})": n for (m, via), n in sorted(calls.items()) if n},
        "api_calls_per_answer": by_api / max(1, answers),
        "response_calls_per_answer": in_response / max(1, answers),
        "xacts_per_answer": xacts / max(1, answers), "xacts": xacts,
        "stored": await asyncio.to_thread(stored, url, bot) - stored0,
        "presses": sum(w.presses for w in crowd), "stuck": sum(w.stuck for w in crowd),
        "redelivered": sum(w.redelivered for w in crowd),
        "refused": sum(w.refused for w in crowd), "log": str(log),
        "walked_all": sum(1 for w in crowd if w.steps == steps),
        "generator_cpu_share": own / elapsed if elapsed else 0.0,
        "worst_steps": worst_steps(crowd),
    }


def postgres_cpu() -> float:
    """CPU seconds used so far by this machine's PostgreSQL processes (the server the two
    bots share, on the same cores): what an answer costs the database. A backend that
    exits during the run takes its share with it, so this is a floor."""
    pids = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and (d / "comm").read_text().startswith("postgres"):
                pids.append(int(d.name))
        except OSError:
            continue
    return openloop.cpu_seconds_of(pids)


def steady_p99(crowd: list[Walker]) -> float:
    """p99 of the steps after the first two, in ms."""
    lat = sorted(x for w in crowd for step, x in w.by_step if step >= 2)
    return 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else 0.0


def worst_steps(crowd: list[Walker], n: int = 5) -> list[tuple[int, int]]:
    """The steps (0 = the first) that hold most of the slowest 1 % of latencies, with
    how many of them each holds."""
    every = sorted((x for w in crowd for x in w.by_step), key=lambda sx: -sx[1])
    tail = every[:max(1, len(every) // 100)]
    counts: dict[int, int] = {}
    for step, _ in tail:
        counts[step] = counts.get(step, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])[:n]


def spy_on(server: openloop.Server, folder: Path, bot: str, n: int) -> subprocess.Popen[bytes]:
    """py-spy sampling the bot's process while the visitors walk (collapsed stacks for
    bench.stacks); its own CPU is not the bot's."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{bot}-{n}.txt"
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen([str(spy), "record", "--pid", str(server.proc.pid), "--format",
                             "raw", "--rate", "200", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def compare(url: str, visitors: int, steps: int, rounds: int,
                  concurrent: bool = False, say: Any = print,
                  spy: Path | None = None, bots: tuple[str, ...] = BOTS,
                  workers: int = 1) -> list[dict[str, Any]]:
    """Both bots, alternately, `rounds` times each; a fresh set of visitors each round
    (visitbot's visitors are left mid-checklist)."""
    ids = itertools.count(time.time_ns() // 1000)
    out = []
    for r in range(rounds):
        pairs = await asyncio.to_thread(openloop.visitor_chats, url, visitors)
        chats = [chat for _, chat in pairs]
        if len(chats) < visitors:
            raise RuntimeError(f"only {len(chats)} fresh visitors left for round {r + 1}")
        for bot in bots if r % 2 == 0 else bots[::-1]:
            row = await one_run(bot, url, chats, steps, ids, concurrent, spy, workers) | {
                "round": r + 1}
            say(line(row))
            out.append(row)
    return out


# -- the report ---------------------------------------------------------------------------

def line(r: dict[str, Any]) -> str:
    return (f"round {r['round']} {r['bot']:8}: {r['answers']} answers, "
            f"{r['answers_per_s']:.0f}/s, p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms "
            f"({r['p99_after_opening_ms']:.0f} ms after the first two steps), "
            f"CPU {r['cpu_ms_per_answer']:.2f} ms/answer (PostgreSQL "
            f"{r['db_cpu_ms_per_answer']:.2f} ms), API calls "
            f"{r['api_calls_per_answer']:.2f} + {r['response_calls_per_answer']:.2f} in "
            f"responses per answer, {r['xacts_per_answer']:.2f} transactions/answer, "
            f"{r['stored']} answers stored, {r['stuck']} stuck, {r['redelivered']} "
            f"redelivered, {r['refused']} not 200, this generator used "
            f"{100 * r['generator_cpu_share']:.0f}% of a core; slowest 1 % by step "
            f"(step: count) {r['worst_steps']}; {r['calls']}")


def span(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else (
        f"{fmt.format(lo)}–{fmt.format(hi)}")


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| bot | answers/s | p50 | p99 | p99 after the first two steps "
            "| bot CPU per answer | PostgreSQL CPU per answer "
            "| Bot API calls per answer (by API + in webhook responses) "
            "| transactions per answer |\n"
            "|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for bot in BOTS:
        mine = [r for r in rows if r["bot"] == bot]
        if not mine:
            continue
        def col(key: str, fmt: str) -> str:
            return span([r[key] for r in mine], fmt)  # noqa: B023
        lines.append(
            f"| {bot} | {col('answers_per_s', '{:.0f}')} | {col('p50_ms', '{:.0f}')} ms "
            f"| {col('p99_ms', '{:.0f}')} ms | {col('p99_after_opening_ms', '{:.0f}')} ms "
            f"| {col('cpu_ms_per_answer', '{:.1f}')} ms "
            f"| {col('db_cpu_ms_per_answer', '{:.1f}')} ms "
            f"| {col('api_calls_per_answer', '{:.2f}')} + "
            f"{col('response_calls_per_answer', '{:.2f}')} "
            f"| {col('xacts_per_answer', '{:.2f}')} |")
    return "\n".join(lines)


def main() -> None:
    from bench.dbs import drop_database, new_database
    from store.migrate import upgrade

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visitors", type=int, default=100)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-concurrent", action="store_true",
                    help="the peer handles updates concurrently (python-telegram-bot's "
                         "concurrent_updates); by default one at a time, its default")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--spy", type=Path, metavar="FOLDER",
                    help="sample each bot with py-spy during its walk (read with "
                         "python -m bench.stacks FOLDER/<bot>-N.txt)")
    ap.add_argument("--only", choices=BOTS, help="run one bot only")
    ap.add_argument("--workers", type=int, default=1,
                    help="visitbot's processes (visitbot run --workers), for the scaling "
                         "figure; the peer stays one process")
    args = ap.parse_args()
    url, name = new_database("postgres")
    try:
        upgrade(url)
        print(f"building {args.visitors * args.rounds} visitors with planned {POLICY} "
              "visits …", flush=True)
        prepare(url, args.visitors * args.rounds)
        rows = asyncio.run(compare(url, args.visitors, args.steps, args.rounds,
                                   args.peer_concurrent,
                                   say=lambda s: print(s, flush=True), spy=args.spy,
                                   bots=(args.only,) if args.only else BOTS,
                                   workers=args.workers))
    finally:
        if name:
            drop_database(name)
    print(f"\n{args.visitors} visitors, {args.steps} steps each, {args.rounds} runs of each "
          "bot, alternating:\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
