"""The paper figures: each one regenerated from nothing by ``python -m ufm.figures``.

Every figure is a module of this package with

* ``NAME`` (its file stem), ``TITLE`` and ``KEYS`` (the JSON keys its plot reads);
* ``experiment(quick: bool, seed: int) -> dict``: runs the computation and returns JSON-ready
  data that includes the problem settings and :func:`ufm.report.versions`;
* ``plot(data, out_dir) -> list[str]``: draws the figure from that data alone (so a figure can be
  redrawn from its JSON) and writes ``<out_dir>/<NAME>.png`` and ``.pdf``.

:func:`make` runs one figure end to end and also writes ``<out_dir>/<NAME>.json``. Nothing here
imports matplotlib or JAX at import time.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import time
from types import ModuleType
from typing import Any

# Order = order of generation and of the README. The last two plot library functions of
# ufm.imbalance and ufm.noise and are listed only when those modules exist (see available()).
FIGURES = (
    "closed_form_vs_solver",
    "agreement",
    "phase_diagram",
    "dynamics",
    "nc2_vs_nc1",
    "conditioning",
    "spectrum",
    "minority_collapse",
    "label_noise_dilation",
)
_REQUIRES = {"minority_collapse": "ufm.imbalance", "label_noise_dilation": "ufm.noise"}


def available() -> tuple[str, ...]:
    """The figures whose library dependencies are importable, in :data:`FIGURES` order."""
    names = []
    for name in FIGURES:
        dep = _REQUIRES.get(name)
        if dep is not None and importlib.util.find_spec(dep) is None:
            continue
        if importlib.util.find_spec(f"ufm.figures.{name}") is None:
            continue
        names.append(name)
    return tuple(names)


def load(name: str) -> ModuleType:
    """The module of figure ``name`` (ValueError naming the known figures otherwise)."""
    if name not in FIGURES:
        raise ValueError(f"figure {name!r}: expected one of {', '.join(FIGURES)}")
    if name not in available():
        raise ValueError(f"figure {name!r} is not available: its module "
                         f"{_REQUIRES.get(name, 'ufm.figures.' + name)} is missing")
    return importlib.import_module(f"ufm.figures.{name}")


def make(name: str, *, quick: bool = False, seed: int = 0,
         out_dir: str = "figures") -> dict[str, Any]:
    """Run figure ``name``: experiment, JSON, PNG and PDF into ``out_dir``.

    Returns:
        ``{"name", "paths", "seconds"}``; paths are the JSON, PNG and PDF files written.
    """
    from ufm.report import write_json

    module = load(name)
    os.makedirs(out_dir, exist_ok=True)
    start = time.perf_counter()
    data = module.experiment(quick, seed)
    data["experiment_seconds"] = time.perf_counter() - start
    json_path = os.path.join(out_dir, f"{name}.json")
    write_json(data, json_path)
    # plot from exactly what the JSON holds, so every figure can be redrawn from its file
    with open(json_path) as fh:
        saved = json.load(fh)
    paths = [json_path, *module.plot(saved, out_dir)]
    return {"name": name, "paths": paths, "seconds": time.perf_counter() - start}


__all__ = ["FIGURES", "available", "load", "make"]
