"""``python -m ufm.figures [--quick] [--only NAME] [--out DIR] [--seed S]``: regenerate the figures.

Writes ``NAME.png``, ``NAME.pdf`` and ``NAME.json`` (the data behind the figure, with the problem
settings and package versions) for every figure into ``--out`` (default ``./figures``, the
repository's ``figures/`` directory when run from the repository root). ``--quick`` uses small
sizes (CI runs it); without it the full sizes of the paper figures are used. Progress goes to
stderr; the list of files written goes to stdout.

Exit status: 0 on success, 2 on bad arguments (one line on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

EXIT_OK, EXIT_USAGE = 0, 2


class UsageError(Exception):
    """Bad command-line input; the message is the one line printed."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    from ufm.figures import FIGURES

    p = _Parser(prog="python -m ufm.figures",
                description="Regenerate the figures: PNG, PDF and the JSON data behind each.",
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (under 2 minutes on 2 cores)")
    p.add_argument("--only", metavar="NAME", action="append", default=None,
                   help="make only this figure (repeatable): " + ", ".join(FIGURES))
    p.add_argument("--out", metavar="DIR", default="figures", help="output directory")
    p.add_argument("--seed", type=int, default=0, help="seed of every random start")
    p.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    return p


def select(only: list[str] | None) -> list[str]:
    """The figures to make, in canonical order; UsageError for an unknown or unavailable name."""
    from ufm.figures import FIGURES, available

    have = available()
    if not only:
        return list(have)
    for name in only:
        if name not in FIGURES:
            raise UsageError(f"--only {name}: expected one of {', '.join(FIGURES)}")
        if name not in have:
            raise UsageError(f"--only {name}: this figure needs a library module that is missing")
    return [n for n in FIGURES if n in only]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    from ufm.figures import _progress, make

    try:
        args = build_parser().parse_args(argv)
        names = select(args.only)
        if args.seed < 0:
            raise UsageError(f"--seed {args.seed}: expected an integer >= 0")
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise UsageError(f"--out {args.out}: expected a directory (it is a file)")
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    _progress.set_enabled(not args.no_progress)
    mode = "quick" if args.quick else "full"
    start, cpu = time.perf_counter(), time.process_time()
    for i, name in enumerate(names, 1):
        if not args.no_progress:
            print(f"[{i}/{len(names)}] {name} ({mode})", file=sys.stderr, flush=True)
        result = make(name, quick=args.quick, seed=args.seed, out_dir=args.out)
        for path in result["paths"]:
            print(path)
        if not args.no_progress:
            print(f"[{i}/{len(names)}] {name} done in {result['seconds']:.1f} s "
                  f"(CPU {result['cpu_seconds']:.1f} s)", file=sys.stderr, flush=True)
    if not args.no_progress:
        print(f"{len(names)} figure(s) in {time.perf_counter() - start:.1f} s "
              f"(CPU {time.process_time() - cpu:.1f} s) -> {args.out}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
