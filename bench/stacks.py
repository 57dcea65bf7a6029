"""Read py-spy's collapsed stacks: `python -m bench.stacks FILE [--top 25]`.

Prints, for each of the project's own functions and the libraries' entry points, the
share of samples in which it is on the stack (inclusive time), so the answer path's cost
reads as a short table rather than a flame graph.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<fn>[^ ]+) \((?P<file>[^:)]+)(?::\d+)?\)$")


def inclusive(path: Path) -> tuple[Counter[str], int]:
    seen: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        names = set()
        for frame in stack.split(";"):
            m = FRAME.match(frame.strip())
            if not m:
                continue
            f = m.group("file")
            short = f.split("site-packages/")[-1] if "site-packages/" in f else \
                f.split("/work/main/")[-1] if "/work/main/" in f else Path(f).name
            names.add(f"{m.group('fn')} ({short})")
        for name in names:
            seen[name] += n
    return seen, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--grep", default="", help="only frames whose file matches this")
    args = ap.parse_args()
    seen, total = inclusive(args.file)
    print(f"{total:,} samples")
    for name, n in seen.most_common():
        if args.grep and args.grep not in name:
            continue
        print(f"  {100 * n / total:5.1f}%  {name}")
        args.top -= 1
        if args.top <= 0:
            break


if __name__ == "__main__":
    main()
