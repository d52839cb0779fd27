"""Read the JSON report written by ``python -m ufm.solve --json``.

    python -m ufm.solve --loss ce --classes 10 --per-class 20 --dim 32 --json report.json
    python examples/02_read_json_report.py report.json

Without a path it first writes a report itself (through the same CLI entry point) to a temporary
file. ``--tiny`` (or UFM_EXAMPLES_TINY=1) makes that problem small.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile


def write_report(path: str, tiny: bool) -> int:
    """Run ``python -m ufm.solve --json PATH`` in-process; returns its exit status (0 = verified).

    The CLI also prints its own human-readable summary on stdout; this example prints a summary
    read back from the JSON instead, so the CLI's is captured here and dropped (errors still go
    to stderr).
    """
    from ufm.solve import main as solve_main

    size = ["--classes", "4", "--per-class", "3", "--dim", "5"] if tiny else \
        ["--classes", "10", "--per-class", "20", "--dim", "32"]
    with contextlib.redirect_stdout(io.StringIO()):
        return solve_main(["--loss", "ce", *size, "--lambda-w", "5e-3", "--lambda-h", "5e-3",
                           "--json", path])


def summarise(report: dict) -> str:
    """The few numbers most people want from a report."""
    pr, so, cf = report["problem"], report["solution"], report["closed_form"]
    lines = [
        f"problem   loss={pr['loss']} K={pr['classes']} n={pr['per_class']} d={pr['dim']} "
        f"λ_W={pr['lambda_w']:g} λ_H={pr['lambda_h']:g} β={pr['beta']:.4g}",
        f"solver    {so['status']} in {so['iterations']} iterations, f = {so['objective']:.15g}",
    ]
    if cf["available"]:
        cmp = report["comparison"]
        lines.append(f"theory    f* = {cf['objective']:.15g}, Δ* = {cf['margin']:.6g} "
                     f"({cf['reason']})")
        lines.append(f"agreement f − f* = {cmp['objective_gap']:.2e}, WWᵀ rel. err "
                     f"{cmp['gram_w_rel_err']:.1e}, logits rel. err {cmp['logits_rel_err']:.1e}")
    nc = report["nc"]  # NaN metrics are stored as null
    lines.append("NC        " + "  ".join(f"{k}={'n/a' if v is None else format(v, '.1e')}"
                                         for k, v in nc.items()))
    lines.append(f"versions  jax {report['versions']['jax']}, ufm {report['versions']['ufm']}")
    lines.append(f"verdict   {report['verdict']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", nargs="?", help="a JSON report (default: write one first)")
    parser.add_argument("--tiny", action="store_true",
                        default=bool(os.environ.get("UFM_EXAMPLES_TINY")))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.report
        if path is None:
            path = os.path.join(tmp, "report.json")
            write_report(path, args.tiny)
        with open(path) as fh:
            report = json.load(fh)
    print(summarise(report))
    return 0 if report["verdict"] in ("verified", "no-closed-form") else 1


if __name__ == "__main__":
    raise SystemExit(main())
