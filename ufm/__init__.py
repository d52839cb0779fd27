"""ufm: solve and verify the unconstrained feature model (UFM) of Neural Collapse.

Nothing here changes JAX configuration; float64 is enabled per call (see :mod:`ufm.precision`).
"""

from ufm.objective import Params, init_params, objective
from ufm.precision import x64
from ufm.spec import LOSSES, Hyper, Problem, ProblemError

__version__ = "0.1.0"

__all__ = [
    "LOSSES",
    "Hyper",
    "Params",
    "Problem",
    "ProblemError",
    "__version__",
    "init_params",
    "objective",
    "x64",
]
