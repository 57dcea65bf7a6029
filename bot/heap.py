"""The garbage collector's pace in a long-running process (`visitbot run`).

CPython collects cycles by walking every tracked object of a generation. A serving
process holds a large, unchanging heap from start-up (the modules, SQLAlchemy's mappers,
the checklists and templates), and left as it is each full collection walked all of it:
under load about 110 ms each, 11-12 % of the process's CPU and its worst pauses
(bench.openloop, BENCHMARKS "A collector that walks only what changes"). A turn's own
objects are freed by their reference counts as soon as it ends, so the youngest
generation can be let grow far larger before it is collected.
"""

from __future__ import annotations

import gc

DEFAULT_THRESHOLD = 10_000  # Python's own is 700


def settle(threshold: int = DEFAULT_THRESHOLD) -> None:
    """Put what is alive now (start-up's heap) out of the collector's walks for the life
    of the process, and collect the youngest generation every `threshold` net new
    objects. Call when start-up is done. A parent that forks workers calls it before the
    fork, so they share the frozen heap page for page, and each worker again for what it
    built after the fork (bot.web.server)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
