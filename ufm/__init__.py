"""ufm: solve and verify the unconstrained feature model (UFM) of Neural Collapse.

Nothing here changes JAX configuration; float64 is enabled per call (see :mod:`ufm.precision`).
The command-line tools are ``python -m ufm.solve``, ``ufm.conditioning``, ``ufm.sweep`` and
``ufm.figures``; the Python entry point of a solve is :func:`minimize` (``ufm.solve`` is the CLI
module, so no function of that name is exported).
"""

from ufm.certificate import certificate
from ufm.closed_form import ClosedForm, closed_form, minimiser
from ufm.conditioning import hessian_report
from ufm.metrics import nc_metrics, nc_variants
from ufm.objective import Params, init_params, objective
from ufm.precision import x64
from ufm.solvers import SolveResult, minimize
from ufm.spec import LOSSES, Hyper, Problem, ProblemError
from ufm.spectrum import closed_form_spectrum
from ufm.verify import verify

__version__ = "0.1.0"

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
