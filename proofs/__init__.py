"""Sympy proofs of the closed forms of theory.md, one module per claim.

Each module has a docstring with the statement, its source and the proof, functions that build the
sympy expressions, and ``check()``, which checks every step exactly through
:func:`proofs._common.require` (which raises, also under ``python -O``). Importing a module has no
side effects. Run them all with ``python -m proofs.run_all`` from the repository root (see
proofs/README.md); ``tests/test_proofs.py`` runs each.
"""

MODULES = (
    "factorisation",
    "reduction",
    "ce",
    "ls",
    "maxsup",
    "focal",
    "mse",
    "nonnegative",
    "global_min",
    "stationarity",
    "hessian_spectrum",
    "certificate",
)
