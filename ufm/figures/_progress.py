"""A stdlib progress bar on stderr, off unless the figure CLI switches it on.

Experiments wrap their long loops in :func:`track`; library and test calls stay silent. On a
terminal the bar redraws in place (``\\r``); in a log (CI) one line is printed when a loop ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

_ENABLED = False
_WIDTH = 24


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
    filled = int(round(frac * width))
    return f"{label} [{'#' * filled}{'-' * (width - filled)}] {done}/{total}  {seconds:5.1f} s"


def track(items: Iterable[T], label: str, total: int | None = None,
          stream: TextIO | None = None) -> Iterator[T]:
    """Yield ``items`` unchanged, drawing a bar on stderr when progress is enabled."""
    if not _ENABLED:
        yield from items
        return
    out = stream or sys.stderr
    if total is None:
        total = len(items) if hasattr(items, "__len__") else 0  # type: ignore[arg-type]
    tty = hasattr(out, "isatty") and out.isatty()
    start = time.perf_counter()
    done = 0
    if tty:
        out.write("\r" + bar(0, total, label, 0.0))
        out.flush()
    for item in items:
        yield item
        done += 1
        if tty:
            out.write("\r" + bar(done, total, label, time.perf_counter() - start))
            out.flush()
    line = bar(done, total, label, time.perf_counter() - start)
    out.write(("\r" + line + "\n") if tty else (line + "\n"))
    out.flush()
