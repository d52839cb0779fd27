"""Run every proof: ``python -m proofs.run_all [name ...]``.

Prints one line per proof (name, ok/FAILED, seconds) and exits with status 1 if any check fails.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

from proofs import MODULES


def run(names=MODULES) -> bool:
    """Run ``check()`` of each named proof module; True if all pass."""
    ok = True
    start = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"proofs.{name}").check()
            status = "ok"
        except Exception:  # report and continue: one failing proof must not hide the others
            ok, status = False, "FAILED"
            traceback.print_exc()
        print(f"{name:<18} {status:<6} {time.perf_counter() - t0:6.1f} s", flush=True)
    print(f"{'total':<18} {'ok' if ok else 'FAILED':<6} {time.perf_counter() - start:6.1f} s")
    return ok


def main(argv=None) -> int:
    names = sys.argv[1:] if argv is None else argv
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        expected = ", ".join(MODULES)
        print(f"unknown proof(s) {unknown}: expected names from {expected}", file=sys.stderr)
        return 2
    return 0 if run(names or MODULES) else 1


if __name__ == "__main__":
    sys.exit(main())
