"""A stdlib progress bar: ``\\r`` redraws on a terminal, throttled whole lines in a log.

::

    label [#########.....................] 120/400  30.0%  1,234/min  ETA 00:00:13  note
    label [######------------------] 12/48    3.1 s  note                 (rate=False: bar())

The rate counts only the items advanced in this process (items already done when the bar was
created, e.g. resumed rows, are in ``done`` but not in the rate); ETA = remaining / rate.

In a log (CI, a pipe, a file) a whole line is written when :data:`LOG_INTERVAL` seconds have
passed since the last one, when another ``1/steps`` of the total is done (``steps > 0``), when a
note is set, and once at the end, so a long loop is never silent.

:class:`Progress` is the bar; :func:`track` wraps an iterable with one (:func:`track_bar`).
:func:`track` is off unless the process switch (:func:`set_enabled`, turned on by
``python -m ufm.figures``) is on or ``enabled=True`` is given, so library and test calls stay
silent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

LOG_STEPS = 10  # track, in a log: a line per tenth of the loop ...
LOG_INTERVAL = 5.0  # ... or per 5 s, whichever comes first
TRACK_WIDTH = 24  # characters of track's bar
_ENABLED = False


def set_enabled(enabled: bool) -> None:
    """Turn :func:`track` (and bars made with ``enabled=None``) on or off for this process."""
    global _ENABLED
    _ENABLED = bool(enabled)


def enabled() -> bool:
    """Whether the process switch of :func:`set_enabled` is on (off by default)."""
    return _ENABLED


def bar(done: int, total: int, label: str, seconds: float, width: int = TRACK_WIDTH) -> str:
    """``label [#####-----] done/total  12.3 s`` (pure; the line of ``Progress(rate=False)``)."""
    frac = 0.0 if total <= 0 else min(1.0, done / total)
    filled = round(frac * width)
    return f"{label} [{'#' * filled}{'-' * (width - filled)}] {done}/{total}  {seconds:5.1f} s"


class Progress:
    """A progress bar over ``total`` items on ``stream`` (default stderr).

    Args:
        total: items in all. done: items already done (counted in the bar, not in the rate).
        label: text before the bar. stream: where to draw.
        enabled: draw nothing when False; None: follow the process switch (:func:`enabled`).
        width: characters of the bar. every: seconds between lines when ``stream`` is not a
            terminal (the last line and lines with a new note are always written).
        steps: when ``stream`` is not a terminal, also a line each time another ``1/steps`` of
            ``total`` is done (0: only every ``every`` seconds).
        rate: show the percentage, the rate and the ETA; False: the elapsed seconds (:func:`bar`).
        clock: seconds (injectable for tests).
    """

    def __init__(self, total: int, done: int = 0, *, label: str = "progress",
                 stream: TextIO | None = None, enabled: bool | None = True, width: int = 30,
                 every: float = LOG_INTERVAL, steps: int = 0, rate: bool = True,
                 clock: Callable[[], float] = time.perf_counter):
        self.total, self.done, self.width, self.every = total, done, width, every
        self.label, self.steps, self.rate, self.clock = label, steps, rate, clock
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _ENABLED if enabled is None else enabled
        self.tty = self.enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = clock()
        self.new = 0
        self.note = ""
        self._last = self.start  # a log's first unforced line comes `every` s after the start
        self._next_step = self._step_after(done)

    def _step_after(self, done: int) -> int:
        """The next multiple of ``total/steps`` (in units of it) beyond ``done``."""
        return done * self.steps // self.total + 1 if self.steps and self.total > 0 else 0

    def line(self) -> str:
        """The current bar as one line (no newline)."""
        elapsed = self.clock() - self.start
        note = f"  {self.note}" if self.note else ""
        if not self.rate:
            return bar(self.done, self.total, self.label, elapsed, self.width) + note
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        filled = round(frac * self.width)
        rate = self.new / elapsed if elapsed > 0 and self.new else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        eta_s = "--:--" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta))
        return (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{self.done}/{self.total} {100 * frac:5.1f}%  {60 * rate:,.0f}/min  ETA {eta_s}"
                + note)

    def show(self, force: bool = False) -> None:
        """Redraw (terminal) or write a line (log: at most every ``every`` s or ``1/steps`` of
        the total, unless ``force``)."""
        if not self.enabled:
            return
        now = self.clock()
        step_due = self._next_step > 0 and self.done * self.steps >= self._next_step * self.total
        if self.tty:
            self.stream.write("\r\033[K" + self.line())
        elif force or step_due or now - self._last >= self.every:
            self.stream.write(self.line() + "\n")
            self._next_step = self._step_after(self.done)
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
        self.show(force=0 < self.total <= self.done)

    def close(self) -> None:
        """End the terminal line."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def track_bar(total: int, label: str, stream: TextIO | None = None, *,
              enabled: bool | None = None,
              clock: Callable[[], float] = time.perf_counter) -> Progress:
    """The :class:`Progress` of :func:`track` over ``total`` items, drawn once on a terminal.

    It shows the elapsed seconds (:func:`bar`); in a log it writes a line per tenth of the total
    or per :data:`LOG_INTERVAL` seconds, and the last one (no line at the start). ``enabled``:
    None (default) follows the process switch (:func:`enabled`). Call ``close()`` at the end.
    """
    progress = Progress(total, label=label, stream=stream, enabled=enabled, width=TRACK_WIDTH,
                        steps=LOG_STEPS, rate=False, clock=clock)
    if progress.tty:
        progress.show()
    return progress


def track(items: Iterable[T], label: str, total: int | None = None,
          stream: TextIO | None = None, *, enabled: bool | None = None,
          clock: Callable[[], float] = time.perf_counter) -> Iterator[T]:
    """Yield ``items`` unchanged, advancing a :func:`track_bar` after each one.

    Args:
        items: the loop. label: text in front of the bar.
        total: number of items (default ``len(items)``; 0 if unknown).
        stream: where to write (default ``sys.stderr``).
        enabled: draw the bar; None (default): when the process switch is on (:func:`enabled`).
        clock: seconds (injectable for tests).
    """
    if total is None:
        total = len(items) if hasattr(items, "__len__") else 0  # type: ignore[arg-type]
    progress = track_bar(total, label, stream, enabled=enabled, clock=clock)
    try:
        for item in items:
            yield item
            progress.advance(1)
        if not 0 < progress.total <= progress.done:
            progress.show(force=True)  # the last line of a loop of unknown or wrong length
    finally:
        progress.close()
