"""``recs train`` with the Spark engine on ``local[2]`` next to the local engine, by size, measured in one run.

    python -m benchmarks.scale_spark [--sizes 1,4] [--out benchmarks/results/scale_spark.json]

For each size (millions of generated order lines, the shops of ``benchmarks.scale``), ``recs train --no-tune``
runs twice as its own process, the local engine then ``--engine spark --spark-master local[2]``, each in a
fresh ``RECS_HOME``. Wall seconds and the peak of the summed RSS of the command's whole process tree (the
Python driver, Spark's JVM and its Python workers), sampled every 0.2 s, since Spark's JVM is a child of the
driver and ``ru_maxrss`` would report the larger process alone. Untuned, so the two engines fit the same
configs (the tuning's ALS fits would each start a Spark job). The job's own phase timings (load, evaluate,
final fit) come from its metrics JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.scale import RECS, generated, job_env, parse_sizes

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "scale_spark.json"
SAMPLE_SECONDS = 0.2
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """The summed RSS (bytes) of process ``root`` and its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):  # a process that ended meanwhile
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total


def tree_peak(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run ``cmd``; its wall seconds and the peak summed RSS (MB) of it and its descendants."""
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(SAMPLE_SECONDS)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
    return seconds, peak / 2**20


def measure(size: float, work: Path, seed: int) -> dict[str, object]:
    data = generated(size, work, seed)
    row: dict[str, object] = {"size": data.label, "lines": data.lines, "customers": data.customers}
    for engine in ("local", "spark"):
        folder = work / f"{data.label}-{engine}"
        folder.mkdir(parents=True, exist_ok=True)
        metrics = folder / "metrics.json"
        cmd = [RECS, "train", "--orders", str(data.orders), "--catalog", str(data.catalog), "--no-tune"]
        cmd += ["--metrics-json", str(metrics), "--engine", engine]
        seconds, peak_mb = tree_peak(cmd, job_env(folder / "home"), folder / "train.log")
        payload = json.loads(metrics.read_text())
        row[engine] = {
            "seconds": seconds,
            "peak_rss_mb": peak_mb,
            "phases": payload["seconds"],
            "for_you.precision_at_10": payload["metrics"].get("for_you.precision_at_10"),
            "next_purchase.recall_at_10": payload["metrics"].get("next_purchase.recall_at_10"),
        }
        print(f"{data.label} {engine}: {seconds:.0f} s, peak RSS {peak_mb:,.0f} MB", flush=True)
    return row


def print_table(rows: list[dict[str, object]]) -> None:
    print("\n| lines | engine | recs train --no-tune (s) | load (s) | evaluate + final fit (s) | peak RSS, tree (MB) |")
    print("|---:|---|---:|---:|---:|---:|")
    for row in rows:
        for engine in ("local", "spark"):
            r = row[engine]
            assert isinstance(r, dict)
            phases = r["phases"]
            print(
                f"| {row['lines']:,} | {engine} | {r['seconds']:.0f} | {phases['load']:.0f} | "
                f"{phases['evaluate_and_fit']:.0f} | {r['peak_rss_mb']:,.0f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=[1.0, 4.0], help="millions of order lines")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="recs-scale-spark-") as tmp:
        for size in args.sizes:
            rows.append(measure(size, Path(tmp), args.seed))
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "load": os.getloadavg()}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
