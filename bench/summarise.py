#!/usr/bin/env python
"""Summarise bench/results/*-http.json as a Markdown table (medians over repeated runs).

    .venv/bin/python bench/summarise.py [--dir bench/results] [label ...]

Files of one configuration repeated with ``RUN_ID=r1``, ``r2``, ... (``pg-pool-r2-http.json``)
are grouped under their label without the run id; each cell is the median over the runs of the
p50 / p95 latency in ms (or tickets/s for creation). Labels default to every group found.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("labels", nargs="*")
    args = parser.parse_args()

    groups: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(args.dir.glob("*-http.json")):
        label = re.sub(r"-r\d+$", "", path.name.removesuffix("-http.json"))
        groups[label].append(json.loads(path.read_text()))
    labels = args.labels or sorted(groups)
    scenarios: list[str] = []
    cells: dict[tuple[str, str], str] = {}
    for label in labels:
        runs = groups[label]
        by_name: dict[str, list[dict]] = defaultdict(list)
        for run in runs:
            for result in run["results"]:
                name = re.sub(r"TD-\d+", "TD-n", result["name"])
                by_name[name].append(result)
        for name, results in by_name.items():
            if name not in scenarios:
                scenarios.append(name)
            p50 = statistics.median(r["p50_ms"] for r in results)
            p95 = statistics.median(r["p95_ms"] for r in results)
            if "per_s" in results[0]:
                rate = statistics.median(r["per_s"] for r in results)
                cells[(label, name)] = f"{rate:.0f}/s ({p50:.0f} / {p95:.0f})"
            else:
                cells[(label, name)] = f"{p50:.1f} / {p95:.1f}"
    header = [f"{label} (n={len(groups[label])})" for label in labels]
    print("| scenario, p50 / p95 ms | " + " | ".join(header) + " |")
    print("|---|" + "---|" * len(labels))
    for name in scenarios:
        print(f"| {name} | " + " | ".join(cells.get((label, name), "-") for label in labels) + " |")
    print()
    for label in labels:
        peaks = [run["memory_mib"]["after"].get("VmHWM") for run in groups[label]]
        loads = [run["loadavg"]["before"][0] + "/" + run["loadavg"]["after"][0] for run in groups[label]]
        dates = [run["date"] for run in groups[label]]
        print(
            f"- {label}: server peak RSS (VmHWM) {max(p for p in peaks if p)} MiB; "
            f"load average before/after {', '.join(loads)}; {dates[0]} .. {dates[-1]}"
        )


if __name__ == "__main__":
    main()
