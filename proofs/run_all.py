"""Run every proof: ``python -m proofs.run_all [name ...]`` from the repository root.

Prints one line per proof (name, ok/FAILED, CPU seconds) and exits with status 1 if any check
fails. ``python proofs/run_all.py`` works too, from any directory: run as a script, it puts the
repository root on ``sys.path`` (proofs/ is not installed with ufm).
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make ``import proofs`` resolve to this folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proofs import MODULES


def run(names=MODULES) -> bool:
    """Run ``check()`` of each named proof module; True if all pass."""
    ok = True
    start = time.process_time()
    for name in names:
        t0 = time.process_time()
        try:
            importlib.import_module(f"proofs.{name}").check()
            status = "ok"
        except Exception:  # report and continue: one failing proof must not hide the others
            ok, status = False, "FAILED"
            traceback.print_exc()
        print(f"{name:<18} {status:<6} {time.process_time() - t0:6.1f} s", flush=True)
    print(f"{'total':<18} {'ok' if ok else 'FAILED':<6} {time.process_time() - start:6.1f} s CPU")
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
