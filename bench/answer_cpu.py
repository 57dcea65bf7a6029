"""Where an answer's CPU goes, without HTTP: `python -m bench.answer_cpu --url …`.

On a built, ticked province (bench.province --keep, or the harness), `--visitors`
visitors each start a visit and answer their whole checklist (the walk the pure engine
finds for them, as bench.openloop posts it) straight into the core: first half of them
one message after another through `Core.handle` (the calling thread), then the other
half all at once through `Core.handle_async` on one event loop (as `visitbot run`
serves PostgreSQL). Prints CPU milliseconds per answer for each, the statements per
answer, and with `--profile` the share of the CPU by package (SQLAlchemy, psycopg,
Jinja2, the project's own code …).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import event


def by_package(profile: cProfile.Profile) -> list[tuple[str, float]]:
    stats = pstats.Stats(profile)
    own: Counter[str] = Counter()
    for (path, _line, _fn), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in path:
            key = path.split("site-packages/")[1].split("/")[0]
        elif "/bench/" in path or "/bot/" in path or "/store/" in path or \
                "/conversations/" in path or "/scheduler/" in path:
            key = "visitbot"
        elif path == "~":
            key = "builtins"
        else:
            key = "stdlib"
        own[key] += tottime
    total = sum(own.values()) or 1.0
    return [(k, v / total) for k, v in own.most_common(8)]


def measured(work: Callable[[], object], profile: bool) -> tuple[float, str]:
    """CPU seconds `work` took, and with `profile` its shares by package as a line."""
    prof = cProfile.Profile() if profile else None
    c0 = time.process_time()
    if prof:
        prof.enable()
    work()
    if prof:
        prof.disable()
    cpu = time.process_time() - c0
    shares = ("\n  " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in by_package(prof))
              if prof else "")
    return cpu, shares


def messages(url: str, n: int, tag: str) -> tuple[list[Any], list[list[Any]]]:
    """(start messages, each visitor's walk) for n fresh visitors."""
    from bench import openloop
    from conversations.messages import Address, Incoming

    chats = dict(openloop.visitor_chats(url, n))
    uid = time.time_ns()
    starts = [Incoming(Address("telegram", str(chat)), f"{tag}:{uid}:{pid}:start", text="1")
              for pid, chat in chats.items()]
    return starts, [[Incoming(Address("telegram", str(chats[pid])),
                              f"{tag}:{uid}:{pid}:{i}", text=words)
                     for i, words in enumerate(walk)] for pid, walk in
                    _walks_after(url, starts, chats).items()]


def _walks_after(url: str, starts: list[Any], chats: dict[int, int]) -> dict[int, list[str]]:
    from bench import openloop
    from bot.chat.service import Core
    from bot.settings import Settings
    from store.db import make_engine, session_factory

    engine = make_engine(url)
    core = Core(session_factory(engine), Settings(database_url=url))
    for m in starts:
        core.handle(m, inline=True)
    engine.dispose()
    return openloop.walks(url, list(chats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="a built, ticked province on PostgreSQL")
    ap.add_argument("--visitors", type=int, default=40)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    from bot.chat.service import Core
    from bot.settings import Settings
    from store.db import make_engine, session_factory

    engine = make_engine(args.url)
    statements = [0]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.__setitem__(
        0, statements[0] + 1))
    core = Core(session_factory(engine), Settings(database_url=args.url),
                async_url=args.url)
    half = max(1, args.visitors // 2)

    _, walks = messages(args.url, half, "cpu-sync")
    flat = [m for walk in walks for m in walk]
    s0 = statements[0]

    def one_by_one() -> None:
        for m in flat:
            core.handle(m, inline=True)

    cpu, shares = measured(one_by_one, args.profile)
    print(f"Core.handle, one thread: {len(flat):,} answers, {1000 * cpu / len(flat):.2f} ms "
          f"CPU each, {(statements[0] - s0) / len(flat):.1f} statements each{shares}")

    _, walks = messages(args.url, half, "cpu-async")
    total = sum(len(w) for w in walks)

    async def everyone() -> None:
        async def one(walk: list[Any]) -> None:
            for m in walk:
                await core.handle_async(m, inline=True)
        try:
            await asyncio.gather(*(one(w) for w in walks))
        finally:
            await core.aclose()

    cpu, shares = measured(lambda: asyncio.run(everyone()), args.profile)
    print(f"Core.handle_async, {len(walks)} visitors at once on one loop: {total:,} answers, "
          f"{1000 * cpu / total:.2f} ms CPU each{shares}")
    engine.dispose()


if __name__ == "__main__":
    main()
