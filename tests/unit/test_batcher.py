"""How presses are gathered into batches (bot.chat.batch.Batcher), without a database:
a lone press goes at once, and presses arriving while a batch is under way wait for a
full batch (or the gather window) instead of going one or two at a time."""

from __future__ import annotations

import asyncio

from bot.chat.batch import Batcher
from bot.chat.outcome import Handled
from conversations.messages import Address, Incoming

HOUR = 3600.0  # a window no test waits out: only a full batch releases it


def press(n: int) -> Incoming:
    return Incoming(address=Address("telegram", str(n)), msg_id=str(n), text="1")


class Runs:
    """The batch runner: records each batch, and holds the first until released."""

    def __init__(self, hold_first: bool) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.hold_first = hold_first

    async def __call__(self, incomings: list[Incoming]) -> list[Handled | None]:
        self.batches.append([m.address.external_id for m in incomings])
        if self.hold_first and len(self.batches) == 1:
            await self.release.wait()
        return [None] * len(incomings)


async def under_way(batcher: Batcher) -> asyncio.Future[Handled | None]:
    """Press 0, its batch started (and held by `Runs`): the press's pending reply."""
    first = asyncio.ensure_future(batcher.submit(press(0)))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return first


def test_a_lone_press_goes_at_once_whatever_the_window() -> None:
    async def scenario() -> list[list[str]]:
        runs = Runs(hold_first=False)
        batcher = Batcher(runs, size=32, runners=2, gather=HOUR)
        await asyncio.wait_for(batcher.submit(press(1)), 5)
        await asyncio.wait_for(batcher.submit(press(2)), 5)
        return runs.batches

    assert asyncio.run(scenario()) == [["1"], ["2"]]


def test_presses_behind_a_batch_under_way_wait_for_a_full_batch() -> None:
    async def scenario() -> list[list[str]]:
        runs = Runs(hold_first=True)
        batcher = Batcher(runs, size=3, runners=2, gather=HOUR)
        first = await under_way(batcher)
        later = [asyncio.ensure_future(batcher.submit(press(n))) for n in (1, 2)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert runs.batches == [["0"]], "two presses went before the batch was full"
        later.append(asyncio.ensure_future(batcher.submit(press(3))))
        await asyncio.wait_for(asyncio.gather(*later), 5)
        runs.release.set()
        await asyncio.wait_for(first, 5)
        return runs.batches

    assert asyncio.run(scenario()) == [["0"], ["1", "2", "3"]]


def test_a_batch_that_does_not_fill_goes_when_the_window_ends() -> None:
    async def scenario() -> list[list[str]]:
        runs = Runs(hold_first=True)
        batcher = Batcher(runs, size=32, runners=2, gather=0.01)
        first = await under_way(batcher)
        later = [asyncio.ensure_future(batcher.submit(press(n))) for n in (1, 2)]
        await asyncio.wait_for(asyncio.gather(*later), 5)
        runs.release.set()
        await asyncio.wait_for(first, 5)
        return runs.batches

    assert asyncio.run(scenario()) == [["0"], ["1", "2"]]


def test_no_window_takes_what_waits() -> None:
    async def scenario() -> list[list[str]]:
        runs = Runs(hold_first=True)
        batcher = Batcher(runs, size=32, runners=2, gather=0)
        first = await under_way(batcher)
        second = asyncio.ensure_future(batcher.submit(press(1)))
        await asyncio.wait_for(second, 5)
        third = asyncio.ensure_future(batcher.submit(press(2)))
        await asyncio.wait_for(third, 5)
        runs.release.set()
        await asyncio.wait_for(first, 5)
        return runs.batches

    assert asyncio.run(scenario()) == [["0"], ["1"], ["2"]]


def test_a_runner_that_gathered_nothing_ends_cleanly() -> None:
    """While one runner waits to fill, the other finishes and takes what waited: the one
    waiting wakes to nothing, and ends without error."""

    async def scenario() -> tuple[list[list[str]], list[BaseException | None]]:
        runs = Runs(hold_first=True)
        batcher = Batcher(runs, size=32, runners=2, gather=0.05)
        first = await under_way(batcher)
        second = asyncio.ensure_future(batcher.submit(press(1)))
        await asyncio.sleep(0)
        runners = list(batcher._tasks)
        runs.release.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        await asyncio.wait_for(asyncio.wait(runners), 5)
        return runs.batches, [t.exception() for t in runners]

    batches, errors = asyncio.run(scenario())
    assert batches == [["0"], ["1"]]
    assert errors == [None, None]
