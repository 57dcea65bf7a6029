"""Checklist engine throughput: `python bench/engine_bench.py --visits 2000`.

Walks whole visits through every seed checklist with the pure engine (no store, no
network), a JSON round trip of the state after every step as the store does, and
prints steps/s, visits/s and the per-step p50/p99 latency.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, date, datetime

from conversations import engine
from conversations.checklist import load_checklist
from conversations.engine import DATE, MODE, REVIEW, Context, Inbound

SEEDS = ["anshan-2020", "guangxi-2023", "jingdezhen-2020", "linzi-2022", "liuzhou-2021"]
NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)


def answer(cl: engine.Checklist, cur: str, i: int) -> Inbound:
    if cur == MODE:
        return Inbound(choice=f"a:{MODE}:1")
    if cur == DATE:
        return Inbound(text="今天")
    if cur == REVIEW:
        return Inbound(text="确认")
    q = cl.question(cur)
    if q.type == "single":
        # every third answer typed as a word, the rest pressed: both paths are measured
        return Inbound(text=q.options[0].value) if i % 3 == 0 else Inbound(
            choice=f"a:{q.id}:1")
    if q.type == "multi":
        return Inbound(text=q.options[0].value)
    if q.type == "yesno":
        return Inbound(text="否" if q.risk_if is True else "是")
    if q.type == "number":
        return Inbound(text="20")
    if q.type == "date":
        return Inbound(text="2027-02" if q.future == "only" else "今天")
    if q.type == "text":
        return Inbound(text="无")
    return Inbound(text="跳过")


def run(visits: int, roundtrip: bool = True) -> dict[str, float]:
    ctx = Context(subject_name="孙立本", facts={"has_children": True}, today=date(2026, 11, 25),
                  seasons=frozenset({"heating"}))
    lists = [load_checklist(n) for n in SEEDS]
    samples: list[float] = []
    steps = 0
    t0 = time.perf_counter()
    for v in range(visits):
        cl = lists[v % len(lists)]
        last = engine.start(cl, ctx, NOW)
        state = last.state
        i = 0
        while not engine.is_finished(state):
            msg = answer(cl, state["cur"], i)
            s0 = time.perf_counter()
            if msg.choice is not None:  # the button as the last reply stamped it
                msg = Inbound(choice=next(v for r in last.replies for v, _ in r.choices
                                          if v.startswith(msg.choice + ":")))
            res = engine.step(state, msg, cl, ctx, NOW)
            last = res
            state = json.loads(json.dumps(res.state, ensure_ascii=False)) if roundtrip \
                else res.state
            samples.append(time.perf_counter() - s0)
            i += 1
            if i > 200:
                raise SystemExit(f"{cl.name}: visit did not finish (stuck at {state['cur']})")
        steps += i
    wall = time.perf_counter() - t0
    q = statistics.quantiles(samples, n=100)
    return {"visits": visits, "steps": steps, "seconds": wall, "steps_per_s": steps / wall,
            "visits_per_s": visits / wall, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visits", type=int, default=1000)
    args = ap.parse_args()
    for roundtrip in (False, True):
        r = run(args.visits, roundtrip)
        how = "with the state's JSON round trip" if roundtrip else "pure step"
        print(f"engine ({how}): {r['visits']:,} visits, {r['steps']:,} steps in "
              f"{r['seconds']:.2f} s")
        print(f"  {r['steps_per_s']:,.0f} steps/s, {r['visits_per_s']:,.0f} visits/s; "
              f"per step p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms")


if __name__ == "__main__":
    main()
