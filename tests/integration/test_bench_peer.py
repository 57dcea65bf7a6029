"""`python -m bench.peer`, small: the hand-written peer and visitbot each walk a few
visitors a few steps through the same load generator and Bot API, and the run says what
happened (every visitor got every next question, the answers are stored, the Bot API
calls and transactions counted). Speed is read from the figures, never asserted."""

from __future__ import annotations

import asyncio

import pytest

from bench import peer

VISITORS, STEPS = 3, 6


@pytest.mark.postgres
def test_peer_and_visitbot_walk_the_same_loop(pg_url: str) -> None:
    peer.prepare(pg_url, VISITORS)
    rows = asyncio.run(peer.compare(pg_url, VISITORS, STEPS, rounds=1, say=lambda s: None))
    assert [r["bot"] for r in rows] == ["peer", "visitbot"]
    for r in rows:
        # every visitor took every step and each one brought the next question
        assert r["walked_all"] == VISITORS and r["stuck"] == r["refused"] == 0, r
        assert r["answers"] == VISITORS * STEPS
        assert r["answers_per_s"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0
        assert r["cpu_ms_per_answer"] > 0 and r["db_cpu_ms_per_answer"] >= 0
        # the tail is named: which steps hold the slowest 1 %, and the p99 without the
        # opening steps every visitor takes at once
        assert r["worst_steps"] and all(0 <= step < STEPS for step, _ in r["worst_steps"])
        assert r["p99_after_opening_ms"] > 0
    by_bot = {r["bot"]: r for r in rows}

    p = by_bot["peer"]
    # /start, then one committed answer and one sendMessage per step
    assert p["stored"] == VISITORS * (STEPS - 1)
    assert p["calls"] == {"sendMessage (http)": VISITORS * STEPS}
    assert p["api_calls_per_answer"] == 1 and p["response_calls_per_answer"] == 0
    assert p["xacts"] >= p["stored"]

    v = by_bot["visitbot"]
    # 待访, then buttons: every press is acknowledged, every step answered in the
    # webhook's response (the list and the first question as new messages, each next
    # question in the pressed one's place), the pressed questions' answers stored; only
    # the list's start button leaves a keyboard to retire by API
    assert v["presses"] >= VISITORS * (STEPS - 2)
    assert v["calls"]["answerCallbackQuery (http)"] == v["presses"]
    in_response = v["calls"].get("sendMessage (webhook)", 0) + v["calls"].get(
        "editMessageText (webhook)", 0)
    assert in_response == VISITORS * STEPS
    assert v["calls"]["editMessageText (webhook)"] >= VISITORS * (STEPS - 3)
    retired = v["calls"].get("editMessageText (http)", 0) + v["calls"].get(
        "editMessageReplyMarkup (http)", 0)
    assert retired <= VISITORS
    assert v["api_calls_per_answer"] <= 1.5
    assert VISITORS * (STEPS - 3) <= v["stored"] <= v["presses"]
    # presses that arrive together are committed together: at most one transaction per
    # visitor's step, never fewer than one per wave of them
    assert v["stored"] / VISITORS <= v["xacts"]
    assert table_row(rows, "peer") and table_row(rows, "visitbot")


def table_row(rows: list[dict[str, object]], bot: str) -> bool:
    return any(line.startswith(f"| {bot} |") for line in peer.table(rows).splitlines())
