"""A stdlib progress bar: ``\\r`` redraws on a terminal, throttled whole lines in a log.

::

    label [#########.....................] 120/400  30.0%  1,234/min  ETA 00:00:13  note

The rate counts only the items advanced in this process (items already done when the bar was
created, e.g. resumed rows, are in ``done`` but not in the rate); ETA = remaining / rate.

:class:`Progress` is the bar; :func:`track` wraps an iterable with one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


class Progress:
    """A progress bar over ``total`` items on ``stream`` (default stderr).

    Args:
        total: items in all. done: items already done (counted in the bar, not in the rate).
        label: text before the bar. stream: where to draw. enabled: draw nothing when False.
        width: characters of the bar. every: seconds between lines when ``stream`` is not a
            terminal (the last line and lines with a new note are always written).
    """

    def __init__(self, total: int, done: int = 0, *, label: str = "progress",
                 stream: TextIO | None = None, enabled: bool = True, width: int = 30,
                 every: float = 5.0):
        self.total, self.done, self.width, self.every = total, done, width, every
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.new = 0
        self.note = ""
        self._last = 0.0

    def line(self) -> str:
        """The current bar as one line (no newline)."""
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.start
        rate = self.new / elapsed if elapsed > 0 and self.new else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        eta_s = "--:--" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta))
        return (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{self.done}/{self.total} {100 * frac:5.1f}%  {60 * rate:,.0f}/min  ETA {eta_s}"
                + (f"  {self.note}" if self.note else ""))

    def show(self, force: bool = False) -> None:
        """Redraw (terminal) or write a line (log, at most every ``every`` s unless ``force``)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            self.stream.write("\r\033[K" + self.line())
        elif force or now - self._last >= self.every:
            self.stream.write(self.line() + "\n")
        else:
            return
        self._last = now
        self.stream.flush()

    def set_note(self, note: str) -> None:
        """Show ``note`` after the bar (e.g. "compiling ...") until the next advance."""
        self.note = note
        self.show(force=bool(note))

    def advance(self, n: int = 1) -> None:
        """``n`` more items done."""
        self.done += n
        self.new += n
        self.note = ""
        self.show(force=self.done >= self.total)

    def close(self) -> None:
        """End the terminal line."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def track(items: Iterable[T], label: str, *, total: int | None = None,
          stream: TextIO | None = None, enabled: bool = True) -> Iterator[T]:
    """Yield ``items`` unchanged, advancing a :class:`Progress` after each one."""
    if total is None:
        total = len(items) if hasattr(items, "__len__") else 0  # type: ignore[arg-type]
    bar = Progress(total, label=label, stream=stream, enabled=enabled)
    bar.show(force=True)
    try:
        for item in items:
            yield item
            bar.advance(1)
    finally:
        bar.close()
