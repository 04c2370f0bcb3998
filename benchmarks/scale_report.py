"""What ``benchmarks.scale`` measured for one data set (``Row``), printed as markdown tables and written as JSON."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ITEMS = 20_000  # items of a generated shop
CUSTOMERS_PER_MILLION = 50_000  # customers of a generated shop per million order lines
PUBLISH_K = 100
TRAIN_RATIO_TARGET = 1.5
PUBLISH_RATIO_TARGET = 1.5


@dataclass
class Row:
    """Everything measured for one data set."""

    label: str
    lines: int
    customers: int
    items: int
    pairs: int = 0
    bare: dict[str, float] = field(default_factory=dict)
    bare_peak_rss_mb: float = 0.0
    bare_runs: list[dict[str, float]] = field(default_factory=list)  # each bare run (``bare`` holds the medians)
    train_seconds: float = 0.0
    train_phases: dict[str, float] = field(default_factory=dict)
    train_peak_rss_mb: float = 0.0
    untuned_train_seconds: float = 0.0  # recs train --no-tune
    untuned_train_peak_rss_mb: float = 0.0
    publish_seconds: float = 0.0
    publish_inner_seconds: float = 0.0
    publish_peak_rss_mb: float = 0.0
    redis_used_mb: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def train_ratio(self) -> float:
        return self.train_seconds / self.bare["fit_s"]

    @property
    def tuning_ratio(self) -> float:
        """``recs train`` (self-tuning) over ``recs train --no-tune``."""
        return self.train_seconds / self.untuned_train_seconds

    @property
    def publish_ratio(self) -> float:
        return self.publish_seconds / self.bare["recommend_s"]


def print_tables(rows: list[Row]) -> None:
    if not rows:
        return
    bare = rows[0].bare
    print(
        f"\nbare implicit ALS: factors={bare['factors']:g}, iterations={bare['iterations']:g} (the bundle's "
        f"collaborative config), BLAS 1 thread; recommend-all N={PUBLISH_K}; {os.cpu_count()} cores\n"
    )
    print(
        "| data | lines | customers | items | bare ALS fit s | recs train s (x bare) | bare recommend-all s "
        "| recs publish s (x bare) | recs train --no-tune s (self-tuning x) | train peak RSS MB (--no-tune) "
        "| publish peak RSS MB | load avg |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.label} | {r.lines:,} | {r.customers:,} | {r.items:,} | {r.bare['fit_s']:.2f} "
            f"| {r.train_seconds:.1f} ({r.train_ratio:.1f}x) | {r.bare['recommend_s']:.2f} "
            f"| {r.publish_seconds:.1f} ({r.publish_ratio:.1f}x) | {r.untuned_train_seconds:.1f} "
            f"({r.tuning_ratio:.2f}x) | {r.train_peak_rss_mb:,.0f} ({r.untuned_train_peak_rss_mb:,.0f}) "
            f"| {r.publish_peak_rss_mb:,.0f} | {r.load_before[0]:.1f} |"
        )
    phases = list(dict.fromkeys(p for r in rows for p in r.train_phases))
    header = " | ".join(f"train: {p} s" for p in phases)
    print(f"\n| data | {header} | publish: lists + Redis s | publish: rest s | Redis used MB |")
    print("|---|" + "---:|" * (len(phases) + 3))
    for r in rows:
        cells = [f"{r.train_phases.get(p, float('nan')):.1f}" for p in phases]
        rest = r.publish_seconds - r.publish_inner_seconds
        tail = f"{r.publish_inner_seconds:.1f} | {rest:.1f} | {r.redis_used_mb:,.0f}"
        print(f"| {r.label} | " + " | ".join(cells) + f" | {tail} |")
    for r in rows:
        fits = " / ".join(f"{run['fit_s']:.2f}" for run in r.bare_runs)
        recs = " / ".join(f"{run['recommend_s']:.2f}" for run in r.bare_runs)
        print(f"\n{r.label}: bare runs (medians above): ALS fit {fits} s; recommend-all {recs} s", end="")
    print()
    print(
        f"\ntargets (issue 5, at 2M): recs train <= {TRAIN_RATIO_TARGET}x bare ALS fit, "
        f"recs publish <= {PUBLISH_RATIO_TARGET}x bare recommend-all"
    )


def write_results(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu_count": os.cpu_count(),
        "items_generated": ITEMS,
        "customers_per_million_lines": CUSTOMERS_PER_MILLION,
        "publish_k": PUBLISH_K,
        "rows": [
            {
                **asdict(r),
                "train_ratio": r.train_ratio,
                "publish_ratio": r.publish_ratio,
                "tuning_ratio": r.tuning_ratio,
            }
            for r in rows
        ],
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {path}")
