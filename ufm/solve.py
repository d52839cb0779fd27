"""``python -m ufm.solve``: solve one UFM instance and check it against its closed form.

Exit status: 0 when the solution is verified (or converged with no closed form to check),
1 on a mismatch or a run that did not converge, 2 on bad input (one line on stderr).

Example::

    python -m ufm.solve --loss ls --alpha 0.1 --classes 10 --dim 64 --per-class 50 \\
        --lambda-w 5e-4 --lambda-h 5e-4 --json report.json
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

# flag → Problem field, for error messages that name the flag the user typed
FLAG_OF = {
    "classes": "--classes", "per_class": "--per-class", "dim": "--dim", "loss": "--loss",
    "lambda_w": "--lambda-w", "lambda_h": "--lambda-h", "lambda_b": "--lambda-b",
    "alpha": "--alpha", "gamma": "--gamma", "target_scale": "--target-scale",
    "features": "--features", "bias": "--no-bias", "label_noise": "--label-noise",
    "noise_seed": "--noise-seed",
}
DEFAULTS = dict(loss="ce", classes=10, per_class="20", dim=32, lambda_w=5e-4, lambda_h=5e-4,
                lambda_b=5e-4, alpha=0.1, gamma=3.0, target_scale=1.0)


class UsageError(Exception):
    """Bad command-line input; the message is the one line printed."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # accept "--lambda-w -1e-3", "-inf", "-nan" or "--per-class -1,3" as (bad) values, so that
        # the range check can name them instead of argparse's "expected one argument"
        self._negative_number_matcher = re.compile(r"^-(\d|\.\d|inf|nan)[\w.,+-]*$", re.I)

    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UsageError(message)


def _as_typed(base: type) -> type:
    """A ``base`` (float or int) subclass that prints as the text the user typed, so an error
    echoes "1e-400" rather than the parsed "0.0"."""

    class Typed(base):
        text: str

        def __new__(cls, text: str):
            value = super().__new__(cls, text)
            value.text = text
            return value

        def __str__(self) -> str:
            return self.text

        __repr__ = __str__

    Typed.__name__ = f"Typed{base.__name__.title()}"
    return Typed


_Float, _Int = _as_typed(float), _as_typed(int)


def _number(text: str) -> float:
    try:
        return _Float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number") from None


def _integer(text: str) -> int:
    try:
        return _Int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m ufm.solve", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--loss", default=DEFAULTS["loss"], help="ce, ls, fl, mse or maxsup")
    p.add_argument("--classes", type=_integer, default=None, help="K >= 2 (default 10, or the "
                   "length of a --per-class list)")
    p.add_argument("--per-class", default=DEFAULTS["per_class"],
                   help="samples per class n >= 1, or a comma-separated list of K counts")
    p.add_argument("--dim", type=_integer, default=DEFAULTS["dim"], help="feature dimension d >= 1")
    p.add_argument("--lambda-w", type=_number, default=DEFAULTS["lambda_w"], help="λ_W > 0")
    p.add_argument("--lambda-h", type=_number, default=DEFAULTS["lambda_h"], help="λ_H > 0")
    p.add_argument("--lambda-b", type=_number, default=None,
                   help=f"λ_b >= 0 (default {DEFAULTS['lambda_b']})")
    p.add_argument("--no-bias", action="store_true", help="classifier without bias")
    p.add_argument("--alpha", type=_number, default=None,
                   help=f"smoothing α in [0,1) for ls/maxsup (default {DEFAULTS['alpha']})")
    p.add_argument("--gamma", type=_number, default=None,
                   help=f"focal γ >= 0 for fl (default {DEFAULTS['gamma']})")
    p.add_argument("--target-scale", type=_number, default=None,
                   help=f"MSE target scale s > 0 (default {DEFAULTS['target_scale']})")
    p.add_argument("--features", default="free",
                   help="free, or nonnegative (H >= 0, ReLU features; theory.md b.7)")
    p.add_argument("--label-noise", type=_number, default=0.0,
                   help="fraction η in [0,1) of labels flipped uniformly to another class")
    p.add_argument("--noise-seed", type=_integer, default=0, help="seed of the label flips")
    p.add_argument("--seed", type=_integer, default=0, help="seed of the random start")
    p.add_argument("--dtype", default="float64", help="float64 or float32")
    p.add_argument("--max-iters", type=_integer, default=20_000, help="iteration budget (accelerated-gradient plus Newton)")
    p.add_argument("--json", metavar="PATH", default=None, help="write the JSON report ('-': stdout)")
    p.add_argument("--save", metavar="PATH.npz", default=None,
                   help="write W, H, b and the labels to an .npz file")
    p.add_argument("--hessian", action="store_true",
                   help="add the Hessian spectrum and condition numbers at the solution")
    return p


def _per_class(text: str) -> int | tuple[int, ...]:
    parts = [s.strip() for s in str(text).split(",")]
    try:
        counts = [int(s) for s in parts]
    except ValueError:
        raise UsageError(f"--per-class {text}: expected an integer n >= 1 or a comma-separated "
                         "list of integers >= 1") from None
    return counts[0] if len(counts) == 1 else tuple(counts)


def problem_from_args(args: argparse.Namespace):
    """Build the validated Problem; raises UsageError naming the flag."""
    from ufm.spec import Problem, ProblemError

    loss = args.loss
    only = {"alpha": ("ls", "maxsup"), "gamma": ("fl",), "target_scale": ("mse",)}
    for field, losses in only.items():
        if getattr(args, field) is not None and loss not in losses:
            raise UsageError(f"{FLAG_OF[field]} {getattr(args, field)}: applies only to --loss "
                             + " or ".join(losses) + f", not {loss!r}")
    if args.no_bias and args.lambda_b is not None:
        raise UsageError(f"--lambda-b {args.lambda_b}: applies only with a bias (drop --no-bias)")
    per_class = _per_class(args.per_class)
    classes = args.classes
    if classes is None:
        classes = len(per_class) if isinstance(per_class, tuple) else DEFAULTS["classes"]
    kwargs: dict[str, Any] = dict(
        classes=classes, per_class=per_class, dim=args.dim, loss=loss, lambda_w=args.lambda_w,
        lambda_h=args.lambda_h, bias=not args.no_bias, features=args.features,
        lambda_b=0.0 if args.no_bias else (DEFAULTS["lambda_b"] if args.lambda_b is None
                                            else args.lambda_b),
    )
    for field, losses in only.items():
        value = getattr(args, field)
        if value is None:  # unused settings keep a neutral value (α = γ = 0, s = 1)
            value = DEFAULTS[field] if loss in losses else (1.0 if field == "target_scale" else 0.0)
        kwargs[field] = value
    try:
        return Problem(**kwargs)
    except ProblemError as err:
        value = err.value
        if err.field == "per_class" and isinstance(value, tuple):
            value = ",".join(map(str, value))
        raise UsageError(f"{FLAG_OF.get(err.field, err.field)} {value}: expected {err.expected}") from None


def _validate_run_flags(args: argparse.Namespace) -> None:
    from ufm.report import check_writable

    if args.dtype not in ("float64", "float32"):
        raise UsageError(f"--dtype {args.dtype}: expected float64 or float32")
    if not 1 <= args.max_iters < 2**31:
        raise UsageError(f"--max-iters {args.max_iters}: expected an integer in [1, 2^31)")
    if not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed {args.seed}: expected an integer in [0, 2^32)")
    if not (math.isfinite(args.label_noise) and 0 <= args.label_noise < 1):
        raise UsageError(f"--label-noise {args.label_noise}: expected a number in [0, 1)")
    if not 0 <= args.noise_seed < 2**63:
        raise UsageError(f"--noise-seed {args.noise_seed}: expected an integer in [0, 2^63)")
    for flag, path in (("--json", args.json), ("--save", args.save)):
        if path is None:
            continue
        if flag == "--save" and path == "-":
            raise UsageError("--save -: expected a file path ending in .npz")
        reason = check_writable(path)
        if reason:
            raise UsageError(f"{flag} {path}: expected a writable file path ({reason})")


# A solve holds about this many arrays the size of (W, H, Z) at once: the iterate, the extrapolated
# point, gradients, line-search trials and the four CG vectors of the Newton phase, plus
# temporaries; measured peak RSS at paper scale is ~0.4 GB runtime + a few copies of H.
_WORKING_COPIES = 16


def check_size(problem: Any, dtype: str) -> None:
    """Refuse a problem whose working set would not fit in this machine's memory (exit 2)."""
    import os

    import numpy as np

    floats = problem.K * problem.d + problem.d * problem.N + problem.K * problem.N
    need = _WORKING_COPIES * floats * np.dtype(dtype).itemsize
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > total // 2:
        raise UsageError(
            f"--classes {problem.K} --dim {problem.d} --per-class "
            f"{problem.n if problem.balanced else ','.join(map(str, problem.counts))}: the solve "
            f"needs about {need / 2**30:.3g} GiB: expected a problem within half of this machine's "
            f"{total / 2**30:.3g} GiB")


def _fmt(x: Any, spec: str = ".3e") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, spec)


def summary(report: dict[str, Any]) -> str:
    """The human-readable summary printed by the CLI."""
    pr, so, cf, cmp = report["problem"], report["solution"], report["closed_form"], report["comparison"]
    tol = report["tolerances"]
    per = pr["per_class"]
    lines = [
        f"ufm.solve  loss={pr['loss']}  K={pr['classes']}  n={per}  d={pr['dim']}  "
        f"λ_W={pr['lambda_w']:g}  λ_H={pr['lambda_h']:g}  "
        + (f"bias λ_b={pr['lambda_b']:g}" if pr["bias"] else "no bias")
        + (f"  α={pr['alpha']:g}" if pr["loss"] in ("ls", "maxsup") else "")
        + (f"  γ={pr['gamma']:g}" if pr["loss"] == "fl" else "")
        + (f"  s={pr['target_scale']:g}" if pr["loss"] == "mse" else "")
        + f"  {so['dtype']}  seed={so['seed']}",
        f"solver     {so['status']} after {so['iterations']} iterations "
        f"({so['first_order_iterations']} accelerated-gradient + {so['newton_iterations']} Newton-CG), "
        f"‖∇f‖ = {_fmt(so['grad_norm'], '.2e')}, {so['seconds']:.3f} s (+{so['compile_seconds']:.2f} s compile)",
        f"objective  f  = {so['objective']:.15g}",
    ]
    if cf["available"]:
        lines.append(f"closed     f* = {cf['objective']:.15g}   [{cf['reason']}; regime {cf['regime']}, "
                     f"Δ* = {_fmt(cf['margin'], '.6g')}]")
        kind = "relative" if cf["regime"] == "collapse" else "absolute: W* = H* = 0"
        lines.append(f"gap        f − f* = {_fmt(cmp['objective_gap'], '.2e')}  "
                     f"(relative {_fmt(cmp['objective_rel_err'], '.1e')}; tolerance "
                     f"|f − f*| <= {tol['objective_tol']:.1e})")
        lines.append(f"distance   WWᵀ {_fmt(cmp['gram_w_rel_err'], '.1e')}   HᵀH {_fmt(cmp['gram_h_rel_err'], '.1e')}"
                     f"   logits {_fmt(cmp['logits_rel_err'], '.1e')}   ({kind}, tolerance {tol['gram_rtol']:.1e})")
    else:
        lines.append(f"closed     no closed form: {cf['reason']}")
    cert = report.get("certificate")
    if cert:
        lines.append(f"certificate {cert['status']}: lower bound {_fmt(cert.get('lower_bound'), '.15g')}, "
                     f"gap {_fmt(cert.get('gap'), '.2e')}  [{cert.get('reason')}]")
    if "imbalance" in report:
        im = report["imbalance"]
        lines.append(f"imbalance  minority angle {_fmt(im.get('minority_angle_deg'), '.4g')}°, "
                     f"minority ‖w‖ {_fmt(im.get('minority_norm'), '.4g')}, majority ‖w‖ "
                     f"{_fmt(im.get('majority_norm'), '.4g')}")
    if "label_noise" in report:
        ln = report["label_noise"]
        lines.append(f"noise      η = {ln['eta']:g} ({ln['flipped']} flipped): dilation "
                     f"{_fmt(ln.get('dilation'), '.3e')}, memorization {_fmt(ln.get('memorization'), '.3e')}")
    nc = report["nc"]
    lines.append("NC         " + "   ".join(f"{k.upper()} {_fmt(nc.get(k), '.1e')}"
                                           for k in ("nc1", "nc2_w", "nc2_h", "nc3", "nc4")))
    if "hessian" in report:
        h = report["hessian"]
        lines.append(f"Hessian    λ_max {_fmt(h.get('lambda_max'), '.6e')}   λ_min⁺ "
                     f"{_fmt(h.get('lambda_min_nonzero'), '.6e')}   zero modes {h.get('zero_modes')} "
                     f"(expected {h.get('zero_modes_expected')})   κ_full {_fmt(h.get('kappa_full'), '.4g')}")
    if report.get("optimality_basis") == "duality gap":
        lines.append("optimality ‖∇f‖ did not reach its tolerance (MaxSup: a kink of max z), but the "
                     "duality gap closes: optimality is proved by the certificate")
    lines.append(f"verdict    {report['verdict'].upper()}"
                 + (f" ({cmp['mismatch']})" if cmp and cmp.get("mismatch") else "")
                 + (f" ({cmp['unresolved']})" if cmp and cmp.get("unresolved") else ""))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    """Solve, verify and assemble the report; returns (report, exit status)."""
    from ufm.report import versions
    from ufm.solvers import minimize
    from ufm.verify import verify

    problem = problem_from_args(args)
    _validate_run_flags(args)
    check_size(problem, args.dtype)
    started = time.perf_counter()
    labels = None
    if args.label_noise > 0:
        from ufm.noise import flip_labels
        from ufm.spec import ProblemError

        try:
            labels = flip_labels(problem.labels(), problem.K, args.label_noise, args.noise_seed)
        except ProblemError as err:
            raise UsageError(f"{FLAG_OF[err.field]} {err.value}: expected {err.expected}") from None
    result = minimize(problem, seed=args.seed, dtype=args.dtype, max_iters=args.max_iters,
                      labels=labels)
    checks = verify(problem, result, labels)
    report: dict[str, Any] = {
        "problem": {**problem.to_dict(), "dtype": args.dtype, "seed": args.seed,
                    "max_iters": args.max_iters, "label_noise": args.label_noise,
                    "noise_seed": args.noise_seed},
        "solution": result.to_dict(),
        **checks,
    }
    if labels is not None:
        from ufm.noise import noise_report

        report["label_noise"] = noise_report(problem, result.params, problem.labels(), labels)
    if not problem.balanced:
        from ufm.imbalance import minority_report

        report["imbalance"] = minority_report(problem, result.params)
    if args.hessian:
        from ufm.conditioning import hessian_report

        report["hessian"] = hessian_report(problem, result.params, labels=labels)
    report["versions"] = versions()
    report["wall_seconds"] = time.perf_counter() - started
    if args.save:
        import numpy as np

        W, H, b = result.params
        try:
            with open(args.save, "wb") as fh:
                np.savez(fh, W=W, H=H, b=b, labels=problem.labels())
        except OSError as exc:
            raise UsageError(f"--save {args.save}: expected a writable file path ({exc})") from None
    ok = report["verdict"] in ("verified", "no-closed-form", "certified")
    return report, EXIT_OK if ok else EXIT_FAIL


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m ufm.solve``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        from ufm.precision import enable_compilation_cache, x64

        enable_compilation_cache()

        with x64(args.dtype == "float64"):
            report, status = run(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    from ufm.report import write_json

    out = sys.stderr if args.json == "-" else sys.stdout
    print(summary(report), file=out)
    if args.json:
        try:
            write_json(report, args.json)
        except OSError as exc:
            print(f"error: --json {args.json}: expected a writable file path ({exc})", file=sys.stderr)
            return EXIT_USAGE
    return status


if __name__ == "__main__":
    raise SystemExit(main())
