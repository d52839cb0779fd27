"""Run a ufm sweep on many cores or machines with Ray: one Ray task per grid shard.

Ray is an optional extra (``pip install ray``); without it this script says so and exits 0.

Local (a Ray instance is started in this process, using the local cores)::

    python examples/ray_sweep.py --grid examples/grid.toml --out-dir sweep-out --shards 4

Cluster (``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on the others;
``--out-dir`` must be on storage that every machine sees, e.g. NFS, for the shard files)::

    python examples/ray_sweep.py --grid grid.toml --out-dir /shared/sweep --shards 64 \\
        --address auto --cpus-per-task 2

Each task runs ``ufm.sweep.run_sweep(grid, out_dir/shard-I-of-M.jsonl, shard=(I, M))``: the
shard's configurations, vmapped per shape, appended to its own file. A rerun resumes every shard
where it stopped. The driver then merges the complete rows of all shard files (dropping
duplicates) into ``out_dir/results.jsonl`` and checks it against the grid by one more
``run_sweep`` (which solves anything still missing). Ray schedules the tasks; ufm has no
scheduler of its own. The grid is sent to the tasks as TOML text, so only the driver reads it.

Exit status as ``python -m ufm.sweep``: 0 all verified, 1 a mismatch or non-converged run, 2 bad
input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def run_shard(grid_text: str, source: str, out: str, index: int, count: int, batch_size: int):
    """One Ray task: solve shard ``index`` of ``count`` into ``out``; returns the summary dict."""
    from ufm.precision import x64
    from ufm.sweep import loads_grid, run_sweep

    grid = loads_grid(grid_text, source)
    with x64(any(c.dtype == "float64" for c in grid.configs)):
        summary = run_sweep(grid, out, batch_size=batch_size, shard=(index, count), progress=False)
    return summary.to_dict()


def merge(paths: list[str], out: str) -> int:
    """Concatenate the complete lines of ``paths`` into ``out`` (atomically), one row per id."""
    seen: set[str] = set()
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as dst:
        for path in paths:
            if not os.path.exists(path):
                continue
            with open(path, encoding="utf-8") as src:
                for line in src:
                    if not line.endswith("\n"):
                        continue  # a torn last line: its configuration is solved again below
                    row_id = json.loads(line)["id"]
                    if row_id not in seen:
                        seen.add(row_id)
                        dst.write(line)
    os.replace(tmp, out)
    return len(seen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", required=True, help="grid file (TOML), see ufm.sweep")
    parser.add_argument("--out-dir", required=True, help="directory for shard and merged files")
    parser.add_argument("--shards", type=int, default=4, help="number of shards (Ray tasks)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--address", default=None,
                        help="Ray cluster address ('auto' for a running cluster; default: start "
                             "a local instance)")
    parser.add_argument("--cpus-per-task", type=float, default=1.0)
    args = parser.parse_args(argv)
    try:
        import ray
    except ImportError:
        print("ray is not installed (pip install ray); nothing to do. Without Ray, run shards "
              "with: python -m ufm.sweep --grid GRID --out part-I.jsonl --shard I/M")
        return 0

    from ufm.sweep import SweepError, format_summary, loads_grid, run_sweep

    try:
        with open(args.grid, encoding="utf-8") as fh:
            grid_text = fh.read()
        grid = loads_grid(grid_text, args.grid)
        if args.shards < 1:
            raise SweepError(f"--shards {args.shards}: expected an integer >= 1")
        os.makedirs(args.out_dir, exist_ok=True)
    except (OSError, SweepError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=args.address)
    try:
        task = ray.remote(num_cpus=args.cpus_per_task)(run_shard)
        paths = [os.path.join(args.out_dir, f"shard-{i}-of-{args.shards}.jsonl")
                 for i in range(args.shards)]
        refs = [task.remote(grid_text, args.grid, path, i, args.shards, args.batch_size)
                for i, path in enumerate(paths)]
        for i, result in enumerate(ray.get(refs)):
            print(f"shard {i}/{args.shards}: {result['new']} solved, {result['resumed']} resumed, "
                  f"verdicts {result['counts']}")
    finally:
        if started_here:
            ray.shutdown()

    merged = os.path.join(args.out_dir, "results.jsonl")
    merge(paths, merged)
    from ufm.precision import x64

    with x64(any(c.dtype == "float64" for c in grid.configs)):
        summary = run_sweep(grid, merged, batch_size=args.batch_size, progress=False)
    print(format_summary(summary, grid, merged))
    return 0 if summary.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
