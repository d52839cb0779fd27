"""ufm: solve and verify the unconstrained feature model (UFM) of Neural Collapse.

Nothing here changes JAX configuration; float64 is enabled per call (see :mod:`ufm.precision`).
The command-line tools are ``python -m ufm.solve``, ``ufm.conditioning``, ``ufm.sweep`` and
``ufm.figures``; the Python entry point of a solve is :func:`minimize` (``ufm.solve`` is the CLI
module, so no function of that name is exported).

No CLI module is imported here: :func:`hessian_report` (defined in the CLI module
``ufm.conditioning``) is imported on first access through a module ``__getattr__`` (PEP 562).
Importing it eagerly put ``ufm.conditioning`` in ``sys.modules`` before runpy executed
``python -m ufm.conditioning``, which then printed a RuntimeWarning on every invocation.
"""

from typing import Any

from ufm.certificate import certificate
from ufm.closed_form import ClosedForm, closed_form, minimiser
from ufm.metrics import nc_metrics, nc_variants
from ufm.objective import Params, init_params, objective
from ufm.precision import x64
from ufm.solvers import SolveResult, minimize
from ufm.spec import LOSSES, Hyper, Problem, ProblemError
from ufm.spectrum import closed_form_spectrum
from ufm.verify import verify

__version__ = "0.1.0"

_LAZY = {"hessian_report": "ufm.conditioning"}

__all__ = [
    "LOSSES",
    "ClosedForm",
    "Hyper",
    "Params",
    "Problem",
    "ProblemError",
    "SolveResult",
    "__version__",
    "certificate",
    "closed_form",
    "closed_form_spectrum",
    "hessian_report",
    "init_params",
    "minimiser",
    "minimize",
    "nc_metrics",
    "nc_variants",
    "objective",
    "verify",
    "x64",
]


def __getattr__(name: str) -> Any:
    """Import a lazily exported name (:data:`_LAZY`) from its module on first access."""
    if name not in _LAZY:
        raise AttributeError(f"module 'ufm' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later accesses do not come here
    return value


def __dir__() -> list[str]:
    """The module's names, including the lazily imported ones."""
    return sorted({*globals(), *_LAZY})
