"""The paper figures: each one regenerated from nothing by ``python -m ufm.figures``.

Every figure is a module of this package with

* ``NAME`` (its file stem), ``TITLE`` and ``KEYS`` (the top-level keys of ``SCHEMA``);
* ``experiment(quick: bool, seed: int) -> dict``: runs the computation and returns JSON-ready
  data that includes the problem settings and :func:`ufm.report.versions`;
* ``SCHEMA``: the JSON keys its plot reads, nested (``KEYS`` = its top level; see
  :func:`strip`): the test suite redraws every figure from only these keys;
* ``plot(data, out_dir) -> list[str]``: draws the figure from that data alone (so a figure can be
  redrawn from its JSON) and writes ``<out_dir>/<NAME>.png`` and ``.pdf``.

:func:`make` runs one figure end to end and also writes ``<out_dir>/<NAME>.json`` (compact JSON,
with ``experiment_seconds`` and the ``git`` commit the code came from, :func:`provenance`).
Nothing here imports matplotlib or JAX at import time.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
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
# Lanes per compiled call of ufm.figures._batch.solve_many, the same for every figure so that the
# figures share one compiled solver per (loss, shape): compiling costs ~6 s of CPU each, solving a
# lane of these small problems milliseconds, and every call also pays a fixed eager set-up.
LANES = 48

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


def provenance() -> dict[str, Any]:
    """The git commit of the code that makes the figures, and whether that code was modified.

    ``{"commit": sha or None, "dirty": bool or None}``; ``dirty`` is True when ``ufm/`` or
    ``pyproject.toml`` differ from the commit (tracked changes or untracked files: the code
    that produced the numbers is then not exactly the commit's; the generated ``figures/`` and
    the tests do not count). Both are None when git or the repository is unavailable (an
    installed package, say).
    """
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                                 timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    if sha is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--", "ufm", "pyproject.toml")
    return {"commit": sha.strip(), "dirty": None if status is None else bool(status.strip())}


def strip(data: Any, schema: Any, path: str = "") -> Any:
    """``data`` reduced to the keys of ``schema`` (KeyError naming a missing key's path).

    A schema is ``None`` (keep the value whole), a dict ``{key: schema}`` (a JSON object: keep
    only these keys, each reduced by its own schema), or a one-element list ``[schema]`` (a JSON
    array whose elements all follow ``schema``). A dict value may be a dict of loss name →
    list, say: give it ``None``.
    """
    if schema is None:
        return data
    if isinstance(schema, list):
        if not isinstance(data, list):
            raise KeyError(f"{path or '<root>'}: expected a list")
        return [strip(item, schema[0], f"{path}[{i}]") for i, item in enumerate(data)]
    if not isinstance(data, dict):
        raise KeyError(f"{path or '<root>'}: expected an object")
    out = {}
    for key, sub in schema.items():
        if key not in data:
            raise KeyError(f"{path}.{key}" if path else key)
        out[key] = strip(data[key], sub, f"{path}.{key}" if path else key)
    return out


def make(name: str, *, quick: bool = False, seed: int = 0,
         out_dir: str = "figures") -> dict[str, Any]:
    """Run figure ``name``: experiment, JSON, PNG and PDF into ``out_dir``.

    ``experiment_seconds`` in the JSON is the wall time of the experiment
    (``experiment_cpu_seconds``: its CPU time). A figure that reuses
    a computation cached by an earlier figure (nc2_vs_nc1 reuses the GD runs of dynamics) reports
    that computation's cost in ``reused_seconds``, and it is included in
    ``experiment_seconds``: the figure's real cost when made alone.

    Returns:
        ``{"name", "paths", "seconds", "cpu_seconds"}`` (wall and CPU time of this call,
        plotting included); paths are the JSON, PNG and PDF files written.
    """
    from ufm.report import write_json

    module = load(name)
    os.makedirs(out_dir, exist_ok=True)
    start, cpu = time.perf_counter(), time.process_time()
    data = module.experiment(quick, seed)
    data["experiment_seconds"] = time.perf_counter() - start + float(data.get("reused_seconds", 0))
    data["experiment_cpu_seconds"] = time.process_time() - cpu  # this process, all threads
    data["git"] = provenance()
    json_path = os.path.join(out_dir, f"{name}.json")
    write_json(data, json_path, compact=True)
    # plot from exactly what the JSON holds, so every figure can be redrawn from its file
    with open(json_path, encoding="utf-8") as fh:
        saved = json.load(fh)
    paths = [json_path, *module.plot(saved, out_dir)]
    return {"name": name, "paths": paths, "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu}


__all__ = ["FIGURES", "available", "load", "make", "provenance", "strip"]
