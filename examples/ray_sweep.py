"""Run a ufm sweep on many cores or machines with Ray: one Ray task per grid shard.

Ray is an optional extra (``pip install ray``); without it this script checks the grid (exit 2 on
a bad one, like ``python -m ufm.sweep``), says how to run the shards without Ray and exits 0.

Local (a Ray instance is started in this process, using the local cores)::

    python examples/ray_sweep.py --grid examples/grid.toml --out-dir sweep-out --shards 4

Cluster (``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on the others;
``--out-dir`` must be on storage that every machine sees, e.g. NFS, for the shard files)::

    python examples/ray_sweep.py --grid grid.toml --out-dir /shared/sweep --shards 64 \\
        --address auto --cpus-per-task 2

Each task runs ``ufm.sweep.run_sweep(grid, out_dir/shard-I-of-M.jsonl, shard=(I, M))``: the
shard's configurations, vmapped per shape, appended to its own file. A rerun resumes every shard
where it stopped. The driver then merges the rows of all shard files (and of an earlier merged
file) into ``out_dir/results.jsonl``, one row per configuration, reading each file by the sweep's
own resume rule (``ufm.sweep.parse_rows``: every complete line must be a row of this grid, a torn
last line is skipped and its configuration solved again), and checks the merged file against the
grid by one more ``run_sweep`` (which solves anything still missing). Ray schedules the tasks;
ufm has no scheduler of its own. The grid is sent to the tasks as TOML text, so only the driver
reads the file.

Exit status as ``python -m ufm.sweep``: 0 all verified, 1 a mismatch or non-converged run, 2 bad
input (one line on stderr: a bad flag, a grid that does not parse, a shard or merged file that
holds a line which is not a row of this grid).
"""

from __future__ import annotations

import os
import sys


def run_shard(grid_text: str, source: str, out: str, index: int, count: int, batch_size: int):
    """One Ray task: solve shard ``index`` of ``count`` into ``out``; returns the summary dict."""
    from ufm.sweep import loads_grid, run_sweep

    grid = loads_grid(grid_text, source)
    summary = run_sweep(grid, out, batch_size=batch_size, shard=(index, count), progress=False)
    return summary.to_dict()


def merge(paths: list[str], out: str, grid) -> int:
    """Write the rows of ``paths`` (missing files skipped) to ``out`` atomically, one per id.

    Each file is read by :func:`ufm.sweep.parse_rows`, the rule a resumed sweep applies: a torn
    last line is skipped, any other line that is not a row of ``grid`` raises
    :class:`ufm.sweep.OutputError`. An existing ``out`` is read first, so rows that an earlier
    check run appended to it are kept. Returns the number of rows written.
    """
    from ufm.sweep import parse_rows

    rows: dict[str, bytes] = {}
    for path in [out, *paths]:
        if not os.path.exists(path):
            continue
        with open(path, "rb") as fh:
            found, _ = parse_rows(fh.read(), path, grid)
        for row_id, (_, line) in found.items():
            rows.setdefault(row_id, line)
    tmp = out + ".tmp"
    with open(tmp, "wb") as dst:
        dst.writelines(rows.values())
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, out)
    return len(rows)


def build_parser():
    """The argument parser (errors raise ``ufm.solve.UsageError``: one line, exit 2)."""
    from ufm.solve import _Parser
    from ufm.sweep import _positive as shards  # an integer >= 1, else a one-line error

    parser = _Parser(prog="python examples/ray_sweep.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", required=True, help="grid file (TOML), see ufm.sweep")
    parser.add_argument("--out-dir", required=True, help="directory for shard and merged files")
    parser.add_argument("--shards", type=shards, default=4, help="number of shards (Ray tasks)")
    parser.add_argument("--batch-size", type=shards, default=256,
                        help="configurations per compiled, vmapped call at most")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address ('auto' for a running cluster; default: start "
                             "a local instance)")
    parser.add_argument("--cpus-per-task", type=float, default=1.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ufm.solve import UsageError
    from ufm.sweep import GridError, SweepError, format_summary, load_grid, run_sweep

    try:  # everything the driver can check is checked before Ray is imported
        args = build_parser().parse_args(argv)
        grid = load_grid(args.grid)
        with open(args.grid, encoding="utf-8") as fh:
            grid_text = fh.read()
        os.makedirs(args.out_dir, exist_ok=True)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except GridError as err:
        print(f"error: --grid {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: --out-dir {args.out_dir}: cannot be created ({err.strerror or err})",
              file=sys.stderr)
        return 2
    try:
        import ray
    except ImportError:
        print(f"ray is not installed (pip install ray); nothing to do. The grid has "
              f"{len(grid.configs)} configurations; without Ray, run shards with: "
              "python -m ufm.sweep --grid GRID --out part-I.jsonl --shard I/M")
        return 0

    paths = [os.path.join(args.out_dir, f"shard-{i}-of-{args.shards}.jsonl")
             for i in range(args.shards)]
    merged = os.path.join(args.out_dir, "results.jsonl")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=args.address)
    try:
        task = ray.remote(num_cpus=args.cpus_per_task)(run_shard)
        refs = [task.remote(grid_text, args.grid, path, i, args.shards, args.batch_size)
                for i, path in enumerate(paths)]
        results = ray.get(refs)
    except SweepError as err:  # a task's error is re-raised by ray.get as its own type
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if started_here:
            ray.shutdown()
    for i, result in enumerate(results):
        print(f"shard {i}/{args.shards}: {result['new']} solved, {result['resumed']} resumed, "
              f"verdicts {result['counts']}")
    try:
        merge(paths, merged, grid)
        summary = run_sweep(grid, merged, batch_size=args.batch_size, progress=False)
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_summary(summary, grid, merged))
    return 0 if summary.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
