"""Where a database-bound step spends its time: the slowest SQL statements of a run.

Attach to an engine before the work, print after. The database does the work here, so a
Python sampling profiler would show only the driver waiting; this names the statement.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


class SqlProfile:
    def __init__(self, engine: Engine) -> None:
        self.totals: dict[str, list[float]] = defaultdict(list)
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault("vb_t0", []).append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        dt = time.perf_counter() - conn.info["vb_t0"].pop()
        self.totals[self.key(statement)].append(dt)

    @staticmethod
    def key(statement: str) -> str:
        flat = re.sub(r"\s+", " ", statement).strip()
        return flat[:150]

    def top(self, n: int = 8) -> list[tuple[float, int, str]]:
        rows = [(sum(v), len(v), k) for k, v in self.totals.items()]
        return sorted(rows, reverse=True)[:n]

    def report(self, n: int = 8) -> str:
        return "\n".join(f"    {t:8.2f} s {c:6d}× {k}" for t, c, k in self.top(n))

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)
