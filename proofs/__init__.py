"""Sympy proofs of the closed forms of theory.md, one module per claim.

Each module has a docstring with the statement and its source, functions that build the sympy
expressions, and ``check()``, which asserts the identities exactly. Importing a module has no side
effects. Run them all with ``python -m proofs.run_all``; ``tests/test_proofs.py`` runs each.
"""

MODULES = (
    "reduction",
    "ce",
    "ls",
    "maxsup",
    "focal",
    "mse",
    "nonnegative",
    "stationarity",
    "hessian_spectrum",
    "certificate",
)
