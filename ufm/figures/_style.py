"""One look for every figure: column-width sizes, 8 pt text, a colour-blind-safe palette.

matplotlib is imported inside the functions here, never at import of ufm, and no global backend
is selected: each figure is a bare :class:`matplotlib.figure.Figure` attached to an Agg canvas, so
figures can be made in a process that already uses another backend (or none).

Sizes are for a two-column paper: ``COLUMN`` (3.4 in, one column) and ``PAGE`` (7.0 in, both
columns). Fonts are 8 pt (7 pt for legends and ticks), so they stay readable at print size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

COLUMN = 3.4  # inches
PAGE = 7.0
PNG_DPI = 300

# Okabe–Ito palette (colour-blind safe) plus two darker shades for α/γ families.
BLACK, ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILION, PURPLE = (
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
)
DARK_RED = "#8C2D04"
DARK_GREEN = "#005A3C"
GREY = "#7F7F7F"

RC: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "legend.handlelength": 1.8,
    "legend.columnspacing": 1.0,
    "legend.borderaxespad": 0.3,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "xtick.minor.size": 1.5,
    "ytick.minor.size": 1.5,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.35,
    "mathtext.fontset": "dejavusans",
    "pdf.fonttype": 42,  # TrueType in the PDF: editable text, accepted by journals
    "ps.fonttype": 42,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
}


def loss_style(loss: str, *, alpha: float | None = None,
               gamma: float | None = None) -> dict[str, Any]:
    """Colour, marker and label of one loss curve (the same in every figure)."""
    if loss == "ce":
        return {"color": BLUE, "marker": "o", "label": "CE"}
    if loss == "ls":
        shades = {0.05: ORANGE, 0.1: VERMILION, 0.2: DARK_RED}
        color = shades.get(round(alpha or 0.0, 6), VERMILION)
        return {"color": color, "marker": "s", "label": f"LS α={alpha:g}"}
    if loss == "maxsup":
        return {"color": PURPLE, "marker": "D", "label": f"MaxSup α={alpha:g}"}
    if loss == "fl":
        color = {1.0: GREEN, 3.0: DARK_GREEN}.get(round(gamma or 0.0, 6), GREEN)
        return {"color": color, "marker": "^", "label": f"FL γ={gamma:g}"}
    if loss == "mse":
        return {"color": BLACK, "marker": "v", "label": "MSE"}
    raise ValueError(f"loss={loss!r}: expected one of ce, ls, fl, mse, maxsup")


@contextmanager
def style() -> Iterator[None]:
    """Apply :data:`RC` for the duration of the block (restored afterwards)."""
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def figure(width: float = COLUMN, height: float | None = None, *, nrows: int = 1, ncols: int = 1,
           **subplot_kw: Any):
    """A new Agg-backed figure and its axes (``squeeze=False``: always a 2-D array).

    Call inside :func:`style` so the rc settings apply to the text it creates.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if height is None:
        height = width * 0.75
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def save(fig, out_dir: str, name: str) -> list[str]:
    """Write ``<out_dir>/<name>.png`` (300 dpi) and ``.pdf``; returns both paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(path, dpi=PNG_DPI if ext == "png" else None, metadata=_metadata(ext))
        paths.append(path)
        # the constrained layout (in inches, independent of dpi) is done: the PDF reuses it
        # instead of solving it again (half the drawing time of a figure with many log axes)
        fig.set_layout_engine("none")
    return paths


def _metadata(ext: str) -> dict[str, Any]:
    # No creation date in the PDF/PNG: regenerated files differ only when the data does.
    return {"CreationDate": None} if ext == "pdf" else {"Software": None}


def log_ticks(ax, axis: str = "x", numticks: int = 6, minor: bool = True) -> None:
    """Decade ticks 10^k only (at most ``numticks``), with unlabelled minor ticks (or none)."""
    from matplotlib.ticker import LogLocator, NullFormatter, NullLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, numticks=numticks))
    if minor:
        target.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10)), numticks=12))
    else:
        target.set_minor_locator(NullLocator())
    target.set_minor_formatter(NullFormatter())


def legend_below(fig, handles: Sequence[Any], labels: Sequence[str], ncol: int,
                 note: str | None = None) -> None:
    """One legend for the whole figure, under the axes, so it never covers data.

    ``note``: text printed above the entries as the legend's title (left-aligned, legend font;
    the layout makes room for it), e.g. what the figure shows. Wrap it to the figure width.
    """
    kw: dict[str, Any] = {}
    if note:
        kw = {"title": note, "title_fontsize": RC["legend.fontsize"], "alignment": "left"}
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, **kw)


def panel_label(ax, text: str) -> None:
    """A bold (a), (b), … label in the top-left corner, outside the data area."""
    ax.set_title(text, loc="left", fontweight="bold")
