"""A stdlib progress bar on stderr, off unless the figure CLI switches it on.

Experiments wrap their long loops in :func:`track`; library and test calls stay silent. On a
terminal the bar redraws in place (``\\r``). In a log (CI, a pipe, a file) a full line is printed
each time another tenth of the loop is done or :data:`LOG_INTERVAL` seconds have passed since the
last line, whichever comes first, and once at the end, so a long loop is never silent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

_ENABLED = False
_WIDTH = 24
LOG_STEPS = 10  # in a log: a line per tenth of the loop ...
LOG_INTERVAL = 5.0  # ... or per 5 s, whichever comes first


def set_enabled(enabled: bool) -> None:
    """Turn progress output on or off for this process (the CLI turns it on)."""
    global _ENABLED
    _ENABLED = bool(enabled)


def enabled() -> bool:
    """Whether progress output is on."""
    return _ENABLED


def bar(done: int, total: int, label: str, seconds: float, width: int = _WIDTH) -> str:
    """``label [#####-----] done/total  12.3 s`` (pure, for testing)."""
    frac = 0.0 if total <= 0 else min(1.0, done / total)
    filled = round(frac * width)
    return f"{label} [{'#' * filled}{'-' * (width - filled)}] {done}/{total}  {seconds:5.1f} s"


def track(items: Iterable[T], label: str, total: int | None = None,
          stream: TextIO | None = None,
          clock: Callable[[], float] = time.perf_counter) -> Iterator[T]:
    """Yield ``items`` unchanged, drawing a bar on stderr when progress is enabled.

    Args:
        items: the loop.
        label: text in front of the bar.
        total: number of items (default ``len(items)``; 0 if unknown).
        stream: where to write (default ``sys.stderr``).
        clock: seconds (injectable for tests).
    """
    if not _ENABLED:
        yield from items
        return
    out = stream or sys.stderr
    if total is None:
        total = len(items) if hasattr(items, "__len__") else 0  # type: ignore[arg-type]
    tty = hasattr(out, "isatty") and out.isatty()
    start = last = clock()
    done = 0
    next_step = 1  # in a log: the next tenth to report
    if tty:
        out.write("\r" + bar(0, total, label, 0.0))
        out.flush()
    for item in items:
        yield item
        done += 1
        now = clock()
        if tty:
            out.write("\r" + bar(done, total, label, now - start))
            out.flush()
            continue
        if done >= total > 0:
            continue  # the last line is written after the loop
        step_due = total > 0 and done * LOG_STEPS >= next_step * total
        if step_due or now - last >= LOG_INTERVAL:
            out.write(bar(done, total, label, now - start) + "\n")
            out.flush()
            last = now
            if total > 0:
                next_step = done * LOG_STEPS // total + 1
    line = bar(done, total, label, clock() - start)
    out.write(("\r" + line + "\n") if tty else (line + "\n"))
    out.flush()
