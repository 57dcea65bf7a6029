"""Inbound answers, open loop: wrk posting Telegram updates of visitors mid-checklist to
`visitbot run`'s webhook, beside the do-nothing ceiling and pgbench on the same server.

    python -m bench.openloop --url postgresql+psycopg://…/db --workers 1,2 --duration 20

`--url` is a province built and ticked by `bench.province` (or `bench.harness`); without
it a small one is built here. Setup, through the real webhook: each of `--visitors`
visitors types 1 (starts their first listed visit). Each one's whole walk through their
checklist (mode, date, every applicable question, 确认) is then found with the pure
engine from their stored conversation and subject, so every posted answer is one the
bot accepts and advances on. The updates go to a file, round by round over the visitors,
which `openloop.lua` feeds to wrk. The same file goes to `bench.ceiling` (parse the
update, answer with a fixed reply, no database) just before the bot's run and just after,
the ratio taken to their mean (the machine's pace drifts between minutes), and
pgbench -N runs on the same
PostgreSQL. Prints answers/s, latency percentiles, the ratio to the ceiling, pgbench's
TPS and the bot processes' peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "7000001:AAFakeTelegramToken-for_bench"
SECRET = "bench-webhook-secret"
LUA = ROOT / "bench" / "openloop.lua"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def update(update_id: int, chat: int, words: str) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": "探访员"},
        "from": {"id": chat, "is_bot": False, "first_name": "探访员"}, "text": words}}


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.post(url, timeout=1)  # 403 without the secret: it is up
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def cpu_seconds_of(pids: list[int]) -> float:
    """User and system CPU these processes have used so far (/proc; gone ones count 0)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


class Server:
    """A process group started for the run, stopped with everything it forked."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=ROOT, start_new_session=True)

    def pids(self) -> list[int]:
        """The group's processes (the parent, and forked workers)."""
        out = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if os.getpgid(int(d.name)) == self.proc.pid:
                        out.append(int(d.name))
                except ProcessLookupError:
                    pass
        return out

    def peak_rss_mb(self) -> float:
        """The largest peak RSS (VmHWM) of the group's processes."""
        peak = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except OSError:
                pass
        return peak / 1024

    def cpu_seconds(self) -> float:
        """User and system CPU the group's processes have used so far."""
        return cpu_seconds_of(self.pids())

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def start_bot(url: str, port: int, workers: int, logdir: Path) -> Server:
    env = dict(os.environ, VISITBOT_DATABASE_URL=url, VISITBOT_TELEGRAM_TOKEN=TOKEN,
               VISITBOT_TELEGRAM_WEBHOOK_SECRET=SECRET,
               # nothing is sent in this run (no scheduler); a closed port makes sure
               VISITBOT_TELEGRAM_BASE_URL="http://127.0.0.1:9/bot")
    env.pop("VISITBOT_PUBLIC_URL", None)
    cmd = [str(Path(sys.executable).parent / "visitbot"), "run", "--channel", "telegram",
           "--no-scheduler",
           "--port", str(port), "--workers", str(workers)]
    return Server(cmd, env, logdir / f"bot-{workers}.log")


async def _post_all(endpoint: str, bodies: list[dict[str, Any]], concurrency: int = 16
                    ) -> list[dict[str, Any]]:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    replies: list[dict[str, Any]] = [{}] * len(bodies)
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:
        async def one(i: int, body: dict[str, Any]) -> None:
            async with sem:
                r = await client.post(endpoint, json=body, headers=headers)
                r.raise_for_status()
                replies[i] = r.json() if r.content else {}
        await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    return replies


def visitor_chats(url: str, n: int) -> list[tuple[int, int]]:
    """(person id, chat id) of n visitors who have an open visit and no conversation."""
    from store.db import make_engine
    from store.models import Account, Conversation, Visit

    engine = make_engine(url)
    with engine.connect() as c:
        busy = select(Conversation.person_id)
        rows = c.execute(
            select(Account.person_id, Account.external_id)
            .where(Account.platform == "telegram", Account.person_id.not_in(busy),
                   select(Visit.id).where(Visit.visitor_id == Account.person_id,
                                          Visit.status == "planned").exists())
            .order_by(Account.person_id).limit(n)).all()
    engine.dispose()
    return [(pid, int(ext)) for pid, ext in rows]


def walks(url: str, person_ids: list[int]) -> dict[int, list[str]]:
    """Each visitor's answers from where their conversation stands to the filed record,
    found by stepping the pure engine with the context the bot itself builds."""
    from bench.engine_bench import answer
    from bot.chat.visit_session import _context
    from conversations import engine
    from conversations.checklist import load_checklist
    from conversations.engine import MODE, Inbound
    from store.db import make_engine, session_factory
    from store.models import Conversation, Visit

    eng = make_engine(url)
    out: dict[int, list[str]] = {}
    now = datetime.now(UTC)
    with session_factory(eng)() as s:
        convs = s.scalars(select(Conversation).where(Conversation.person_id.in_(person_ids),
                                                     Conversation.status == "active")).all()
        for conv in convs:
            visit = s.get(Visit, conv.visit_id)
            assert visit is not None
            cl = load_checklist(conv.checklist)
            turn = SimpleNamespace(session=s, today=lambda: now.astimezone(
                __import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date(),
                address=SimpleNamespace(platform="telegram"), person=None)
            ctx = _context(turn, visit)  # type: ignore[arg-type]
            state = json.loads(json.dumps(conv.state))
            texts: list[str] = []
            while not engine.is_finished(state) and len(texts) < 200:
                msg = answer(cl, state["cur"], 1)  # i=1: typed words, not button presses
                if msg.text is None:
                    msg = Inbound(text="1" if state["cur"] == MODE else
                                  msg.choice.rsplit(":", 1)[1])  # type: ignore[union-attr]
                texts.append(msg.text or "")
                state = engine.step(state, msg, cl, ctx, now).state
            out[conv.person_id] = texts
    eng.dispose()
    return out


def write_bodies(path: Path, chats: dict[int, int], plan: dict[int, list[str]],
                 threads: int, first_id: int) -> int:
    """Round r holds every visitor's r-th answer; visitors are a multiple of `threads` so
    each one's answers land on one wrk thread, in order."""
    people = sorted(plan)
    people = people[: len(people) - len(people) % threads]
    rounds = max(len(plan[p]) for p in people)
    uid = first_id
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for r in range(rounds):
            for p in people:
                # a visitor whose walk is over types 待访 (the list): a real, cheap turn
                words = plan[p][r] if r < len(plan[p]) else "待访"
                f.write(json.dumps(update(uid, chats[p], words), ensure_ascii=False) + "\n")
                uid += 1
                n += 1
    return n


WRK_LINE = re.compile(r"Requests/sec:\s+([\d.]+)")
LAT = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def run_wrk(endpoint: str, bodies: Path, threads: int, connections: int, seconds: int
            ) -> dict[str, Any]:
    done = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
         "--latency", "-s", str(LUA), endpoint, "--", str(bodies), str(threads), SECRET],
        capture_output=True, text=True, check=True)
    out = done.stdout
    m = WRK_LINE.search(out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    lat = {f"p{q}_ms": float(v) * scale[u] for q, v, u in LAT.findall(out)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(m.group(1)) if m else 0.0, **lat,
            "requests": int(total.group(1)) if total else 0,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1) if errors else "", "raw": out}


def pgbench(base: str, seconds: int, clients: int = 8, threads: int = 2) -> dict[str, Any]:
    """pgbench -N (the simple-update script) on its own database of the same server."""
    exe = shutil.which("pgbench") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))), None)
    if exe is None:
        return {"tps": None, "note": "pgbench not installed"}
    from sqlalchemy.engine import make_url

    u = make_url(base)
    conn = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
    db = "vb_pgbench"
    admin = _admin(base)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        subprocess.run([exe, "-i", "-q", "-s", "10", *conn, db], check=True,
                       capture_output=True)
        done = subprocess.run([exe, "-N", "-c", str(clients), "-j", str(threads), "-T",
                               str(seconds), *conn, db], check=True, capture_output=True,
                              text=True)
        m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
        return {"tps": float(m.group(1)) if m else None, "clients": clients, "scale": 10}
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def _admin(url: str) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def answers_stored(url: str) -> int:
    from store.db import make_engine
    from store.models import Answer

    engine = make_engine(url)
    with engine.connect() as c:
        n = c.scalar(select(func.count()).select_from(Answer)) or 0
    engine.dispose()
    return n


def updates_processed(url: str) -> int:
    """Telegram updates the bot has taken in (a replay of one it had is not counted)."""
    from store.db import make_engine
    from store.models import InboundSeen

    engine = make_engine(url)
    with engine.connect() as c:
        n = c.scalar(select(func.count()).select_from(InboundSeen)
                     .where(InboundSeen.platform == "telegram")) or 0
    engine.dispose()
    return n


def run(url: str, *, visitors: int, workers: list[int], seconds: int, connections: int,
        threads: int = 2, do_pgbench: bool = True, progress: bool = True,
        profile: Path | None = None) -> dict[str, Any]:
    """`profile`: py-spy's collapsed stacks of the (first) bot process during wrk."""
    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (apt-get install wrk; ./dev test does)"}
    work = Path(tempfile.mkdtemp(prefix="vb-openloop-"))
    say = print if progress else (lambda *a, **k: None)
    result: dict[str, Any] = {"visitors": visitors, "connections": connections,
                              "seconds": seconds, "runs": []}
    # update ids of this run only: a rerun on the same database must not be deduplicated
    first_id = time.time_ns() // 1000
    for w in workers:
        chats = dict(visitor_chats(url, visitors))
        if len(chats) < threads:
            return {"skipped": "no visitor with an open visit and no conversation is left: "
                               "tick the province first, or build a fresh one"}
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}/telegram"
        ceilings: list[dict[str, Any]] = []
        bot = start_bot(url, port, w, work)
        try:
            wait_up(endpoint)
            say(f"  {w} worker(s): {len(chats):,} visitors start a visit …", flush=True)
            starts = [update(first_id + i, chat, "1") for i, chat in enumerate(chats.values())]
            first_id += len(starts)
            replies = asyncio.run(_post_all(endpoint, starts))
            started = sum(1 for r in replies if r.get("method"))
            plan = walks(url, list(chats))
            bodies = work / f"updates-{w}.jsonl"
            n = write_bodies(bodies, chats, plan, threads, first_id)
            first_id += n
            # the machine's pace drifts from minute to minute (one ceiling just before the
            # bot and one just after differed by half): the ratio is to both, on each side
            ceilings.append(_ceiling(free_port(), w, bodies, threads, connections, seconds,
                                     work))  # the bot, idle, keeps its own port
            before, seen0 = answers_stored(url), updates_processed(url)
            say(f"  wrk -c {connections} -d {seconds}s over {n:,} updates …", flush=True)
            spy = None
            if profile is not None and shutil.which("py-spy", path=str(Path(sys.executable)
                                                                   .parent)):
                spy = subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw",
                     "-o", str(profile), "-d", str(seconds), "--nonblocking", "-p",
                     str(bot.proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu0 = bot.cpu_seconds()
            res = run_wrk(endpoint, bodies, threads, connections, seconds)
            cpu = bot.cpu_seconds() - cpu0
            if spy is not None:
                spy.wait(30)
            processed = updates_processed(url) - seen0
            res.update(workers=w, started=started, updates_in_file=n,
                       answers_stored=answers_stored(url) - before, processed=processed,
                       # what the bot did, not what wrk sent: should wrk run out of fresh
                       # updates its replays are duplicates, skipped at no cost
                       processed_per_s=processed / seconds,
                       replays=max(0, res["requests"] - processed),
                       peak_rss_mb=bot.peak_rss_mb(),
                       bot_cpu_ms_per_update=1000 * cpu / max(1, processed))
        finally:
            bot.stop()
        ceilings.append(_ceiling(port, w, bodies, threads, connections, seconds, work))
        res["ceiling"] = {
            "rps": sum(c["rps"] for c in ceilings) / len(ceilings),
            "rps_each": [c["rps"] for c in ceilings],
            "cpu_ms_per_update": sum(c["cpu_ms_per_update"] for c in ceilings) / len(ceilings)}
        res["ratio"] = (res["processed_per_s"] / res["ceiling"]["rps"] if res["ceiling"]["rps"]
                        else 0.0)
        res.pop("raw")
        result["runs"].append(res)
        say(f"  {w} worker(s): {res['processed_per_s']:,.0f} updates/s processed "
            f"({res['replays']:,} replays) (p50 {res.get('p50_ms', 0):.0f} ms,"
            f" p99 {res.get('p99_ms', 0):.0f} ms), ceiling {res['ceiling']['rps']:,.0f}/s "
            f"(before {ceilings[0]['rps']:,.0f}, after {ceilings[-1]['rps']:,.0f}), "
            f"ratio {res['ratio']:.2f}; {res['answers_stored']:,} answers stored, "
            f"non-2xx {res['non_2xx']}, peak RSS {res['peak_rss_mb']:.0f} MB; CPU per update: "
            f"bot {res['bot_cpu_ms_per_update']:.2f} ms, ceiling "
            f"{res['ceiling']['cpu_ms_per_update']:.2f} ms", flush=True)
    if do_pgbench:
        result["pgbench"] = pgbench(url, seconds)
        say(f"  pgbench -N: {result['pgbench'].get('tps') or 0:,.0f} TPS", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return result


def _ceiling(port: int, workers: int, bodies: Path, threads: int, connections: int,
             seconds: int, work: Path) -> dict[str, Any]:
    """wrk against `bench.ceiling` on `port`, over the bot's updates."""
    endpoint = f"http://127.0.0.1:{port}/telegram"
    ceiling = Server([sys.executable, "-m", "bench.ceiling", "--port", str(port),
                      "--workers", str(workers), "--secret", SECRET], dict(os.environ),
                     work / f"ceiling-{workers}.log")
    try:
        wait_up(endpoint)
        cpu0 = ceiling.cpu_seconds()
        res = run_wrk(endpoint, bodies, threads, connections, seconds)
        res["cpu_ms_per_update"] = 1000 * (ceiling.cpu_seconds() - cpu0) / max(
            1, res["requests"])
        res.pop("raw", None)
        return res
    finally:
        ceiling.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a built, ticked province on PostgreSQL")
    ap.add_argument("--subjects", type=int, default=20_000, help="without --url: build this")
    ap.add_argument("--visitors", type=int, default=2000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--profile", type=Path, help="py-spy collapsed stacks of the bot here")
    args = ap.parse_args()
    name = None
    url = args.url
    if url is None:
        from bench import province
        from bench.dbs import new_database

        url, name = new_database("postgres")
        from store.migrate import upgrade

        upgrade(url)
        province.build(url, args.subjects, history_months=2)
        province.run_ticks(url)
    try:
        r = run(url, visitors=args.visitors, workers=[int(w) for w in args.workers.split(",")],
                seconds=args.duration, connections=args.connections, profile=args.profile)
        if "skipped" in r:
            print(f"skipped: {r['skipped']}")
        if args.json:
            args.json.write_text(json.dumps(r, indent=1))
    finally:
        if name:
            from bench.dbs import drop_database

            drop_database(name)


if __name__ == "__main__":
    main()
