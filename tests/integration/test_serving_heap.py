"""The serving process settles its heap once start-up is done (bot.heap): start-up's
objects frozen out of the collector's walks, the youngest generation collected at the
configured pace."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.heap import settle
from bot.settings import ConfigError, load_settings
from bot.web.server import _serve
from bot.wiring import build


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's own collector, put back as it was."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _accepting(port: int, task: asyncio.Task[None]) -> None:
    for _ in range(400):
        if task.done():
            task.result()  # the server failed to start: say why
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the server never listened")


def test_settle_freezes_what_is_alive_and_sets_the_young_pace(collector: None) -> None:
    kept = [object() for _ in range(5)]  # alive now: among what is frozen
    older = gc.get_threshold()[1:]
    gc.unfreeze()
    settle(4321)
    assert gc.get_freeze_count() > len(kept)
    assert gc.get_threshold() == (4321, *older)
    # what is made after settling is the collector's again: a cycle is found and freed
    frozen = gc.get_freeze_count()
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
    assert gc.get_freeze_count() == frozen


async def test_the_serving_process_settles_at_its_setting(collector: None, tmp_path: Path,
                                                         _sqlite_template: Path) -> None:
    db = tmp_path / "visitbot.db"
    shutil.copy(_sqlite_template, db)
    db_url = f"sqlite:///{db}"
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    app = build(load_settings(database_url=db_url, gc_threshold=23_456))
    port = _free_port()
    task = asyncio.create_task(_serve(app, [], "127.0.0.1", port, scheduler=False))
    try:
        await _accepting(port, task)
        assert gc.get_threshold()[0] == 23_456
        # the start-up heap: modules, mappers, checklists and templates, by the thousand
        assert gc.get_freeze_count() > 10_000
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        app.engine.dispose()


@pytest.mark.parametrize("value", ["0", "699", "-5", "lots"])
def test_a_pace_that_would_stop_or_thrash_the_collector_is_refused(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("VISITBOT_GC_THRESHOLD", value)
    with pytest.raises(ConfigError, match="VISITBOT_GC_THRESHOLD"):
        load_settings(database_url="sqlite://")
