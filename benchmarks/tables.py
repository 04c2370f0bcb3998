"""Markdown tables and target verdicts for the quality benchmark's sections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Metrics = dict[str, float]  # metric key -> value
Results = dict[str, Any]  # what a section returns (written to the results JSON)


def cell(value: float, key: str) -> str:
    return f"{value:,.0f}" if key.startswith("n_") else f"{value:.4f}"


def table(rows: dict[str, Metrics], columns: Sequence[tuple[str, str]], title: str) -> str:
    """A markdown table: one row per name, one column per (header, metric key)."""
    head = "| " + " | ".join(["method", *(h for h, _ in columns)]) + " |"
    rule = "|" + "|".join(["---"] + ["---:"] * len(columns)) + "|"
    body = [
        "| " + " | ".join([name, *(cell(m.get(key, float("nan")), key) for _, key in columns)]) + " |"
        for name, m in rows.items()
    ]
    return "\n".join([f"\n### {title}\n", head, rule, *body])


def verdicts(measured: Metrics, targets: Metrics, names: dict[str, str] | None = None) -> list[str]:
    """``R@10 .1500 >= .16: short`` lines for every target."""
    out = []
    for key, goal in targets.items():
        got = measured.get(key, float("nan"))
        label = (names or {}).get(key, key)
        out.append(f"- {label}: {got:.4f} (target >= {goal:.2f}): {'met' if got >= goal else 'short'}")
    return out


def mean_metrics(runs: Sequence[Metrics]) -> Metrics:
    """Per-key mean over runs (and ``<key>_sd`` the standard deviation)."""
    keys = runs[0].keys()
    out: Metrics = {key: float(np.mean([r[key] for r in runs])) for key in keys}
    out.update({f"{key}_sd": float(np.std([r[key] for r in runs])) for key in keys})
    return out
