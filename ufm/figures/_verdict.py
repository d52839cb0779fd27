"""The verdict of :func:`ufm.verify.verify` for a solution of the vmapped figure solver.

Each :class:`~ufm.figures._batch.Solution` carries the :class:`ufm.solvers.SolveResult` of its
lane (``sol.result``, from :func:`ufm.batch.solve_many`: float64, the solver's gtol), so the
figures classify their runs exactly as ``python -m ufm.solve`` would: ``verified`` (optimal by
the gradient test or by a closed duality gap, and equal to the closed form within the dtype
tolerances), ``certified`` (no closed form, duality gap closed), ``mismatch``, ``no-closed-form``,
or ``not-converged`` (optimality not established: no claim is made about the run).
"""

from __future__ import annotations

from typing import Any

OPTIMAL = ("verified", "certified")  # optimality established and (if a closed form) agreement


def verdict_of(sol: Any) -> dict[str, Any]:
    """The verdict of ``sol`` and what it rests on.

    Returns ``{"verdict", "optimality_basis", "certificate_status", "certificate_gap",
    "objective_tol"`` (the bar on |f − f*|, None without a closed form), ``"gram_w_rel_err"``,
    ``"logits_rel_err"}`` (None without a closed form).
    """
    from ufm.verify import verify

    rep = verify(sol.problem, sol.result)
    cert = rep["certificate"]
    cmp = rep["comparison"] or {}
    return {"verdict": rep["verdict"], "optimality_basis": rep["optimality_basis"],
            "certificate_status": cert["status"], "certificate_gap": cert["gap"],
            "objective_tol": rep["tolerances"].get("objective_tol"),
            "gram_w_rel_err": cmp.get("gram_w_rel_err"),
            "logits_rel_err": cmp.get("logits_rel_err")}
