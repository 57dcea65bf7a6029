"""Roster import throughput: `python bench/roster_bench.py --rows 100000 --db sqlite|postgres`.

Generates a valid synthetic roster CSV (all columns filled, half the subjects with a
child, one visitor per ten subjects), imports it into a fresh, migrated database, then
imports it again (every row an update) and prints rows/s for both.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.dbs import drop_database, new_database
from store import idcard
from store.db import make_engine, session_factory
from store.migrate import upgrade
from store.models import Assignment, FamilyLink, Person, Subject
from store.roster.columns import ROSTER_COLUMNS
from store.roster.importer import import_roster

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "秀英桂兰玉珍淑芬德胜立本志强建国春梅丽娟海燕国庆长林宝山凤英满仓守义金花"
CATEGORY_SETS = ["独居、高龄", "分散供养特困、独居", "低保、重病", "空巢、留守", "失能、高龄",
                 "半失能、独居", "计划生育特殊家庭、失独", "重残、低保", "空巢", "子女委托"]
SELF_CARE = ["自理", "自理", "自理", "半失能", "失能"]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)


def generate(path: Path, rows: int, seed: int = 7,
             policies: tuple[str, ...] = ("linzi-2022",)) -> None:
    rng = random.Random(seed)
    villages_per_township = 20
    per_village = 250
    headers = [c.header for c in ROSTER_COLUMNS]
    base = date(1925, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        for i in range(rows):
            born = base + timedelta(days=i // 1000)
            seq = i % 1000
            number = idcard.make("990101", born, seq)
            v_index = i // per_village
            township = f"第{v_index // villages_per_township + 1}镇"
            village = f"{township}第{v_index % villages_per_township + 1}村"
            visitor = i // 10
            has_child = i % 2 == 0
            cats = CATEGORY_SETS[i % len(CATEGORY_SETS)]
            row = {
                "姓名": _name(rng), "性别": "男" if seq % 2 else "女", "出生年月": f"{born:%Y-%m}",
                "身份证号码": number, "所属县(区)": "压测县", "所属乡镇(街道)": township,
                "所属村(居)": village, "住址": f"{village}{i % 50 + 1}号", "户籍类别": "农村",
                "对象类型": cats, "适用政策": policies[i % len(policies)],
                "自理能力": SELF_CARE[i % 5],
                "健康状况": "一般", "患病种类或残疾等级": "高血压", "是否独居": "是",
                "是否空巢": "否", "是否留守": "否", "是否残疾": "否", "残疾人证号": "",
                "是否计划生育特殊家庭": "否", "子女个数": "1" if has_child else "0",
                "生活来源": "政府补贴", "年收入(万元)": "0.8", "家庭月收入(元)": "700",
                "领取补贴情况": "高龄津贴", "饮水是否安全": "是", "用火用电用气是否安全": "是",
                "住房是否安全": "是", "联系电话": f"135{i:08d}", "紧急联系人": _name(rng),
                "紧急联系人电话": f"136{i:08d}",
                "子女/赡养人": _name(rng) if has_child else "",
                "子女/赡养人电话": f"136{i:08d}" if has_child else "",
                "子女关系": "儿子" if has_child else "", "子女计划返回时间": "",
                "访视责任人": f"访视员{visitor}", "访视责任人电话": f"137{visitor:08d}",
                "访视责任人身份证号码": (idcard.make("990102", date(1970, 1, 1)
                                                 + timedelta(days=visitor // 1000), visitor % 1000)
                                      if visitor % 2 else ""),
                "访视人员类别": "村（居）干部" if visitor % 3 else "志愿者",
                "帮扶单位": f"{village}村委会", "帮扶措施": "每月上门探访",
                "同意通知子女": "是" if has_child else "否", "备注": "",
            }
            w.writerow([row.get(h, "") for h in headers])  # columns it leaves empty


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--chunk", type=int, default=5000)
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp())
    csv_path = workdir / "roster.csv"
    generate(csv_path, args.rows)
    size_mb = csv_path.stat().st_size / 1e6
    print(f"generated {args.rows:,} rows ({size_mb:.1f} MB) → {csv_path}")
    url, pg_name = new_database(args.db)
    try:
        upgrade(url)
        engine = make_engine(url)
        sf = session_factory(engine)
        for label in ("first import (inserts)", "re-import (updates)"):
            report = import_roster(sf, csv_path, policy_default="linzi-2022",
                                   chunk_rows=args.chunk)
            assert report.committed, report.errors[:5]
            print(f"{args.db:8s} {label:24s} {report.rows_imported:,} rows in "
                  f"{report.seconds:.2f} s = {report.rows_per_second:,.0f} rows/s")
        with sf() as s:
            counts = {m.__name__: s.scalar(select(func.count()).select_from(m))
                      for m in (Person, Subject, FamilyLink, Assignment)}
        print(f"stored: {counts}")
        engine.dispose()
    finally:
        if pg_name:
            drop_database(pg_name)


if __name__ == "__main__":
    main()
