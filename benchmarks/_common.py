"""Shared helpers for the benchmark scripts: timing and result files with versions."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def median_seconds(fn: Callable[[], Any], repeats: int = 7, min_batch_seconds: float = 0.2) -> float:
    """Median seconds per call: each repetition times a batch of calls lasting ≥ min_batch_seconds."""
    fn()  # warm-up (compile)
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    batch = max(1, int(min_batch_seconds / once))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - start) / batch)
    return statistics.median(samples)


def write_result(name: str, data: dict[str, Any]) -> str:
    """Write benchmarks/results/<name>.json with versions and the load average."""
    from ufm.report import to_jsonable, versions

    os.makedirs(RESULTS, exist_ok=True)
    data = {**data, "versions": versions(), "load_average_1min": os.getloadavg()[0],
            "cpu_count": os.cpu_count()}
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w") as fh:
        json.dump(to_jsonable(data), fh, indent=2)
        fh.write("\n")
    return path
