"""``recs experiment status``'s answer: each variant's numbers with 95% intervals, the test, the winner.

Pure: per-customer counters in (``store.counters``), a JSON-ready dict out. The primary metric is the
conversion rate (attributed purchases per impression, as ``GET /v1/kpis`` defines it); CTR and revenue per
thousand impressions are reported with their intervals too. How the intervals and the p-value are computed,
and why, is in ``serving.experiments.stats``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from serving.experiments.config import VARIANTS, Experiment
from serving.experiments.stats import RatioEstimate, ratio, sample_ratio_p, two_sided_p
from serving.feedback.kpis import surface_kpis
from serving.feedback.revenue import CENTS_PER_UNIT
from serving.feedback.store import EXPERIMENT_METRICS, HOUR, parse_fields

PRIMARY_METRIC = "conversion_rate"
TEST = (
    "two-sided z-test on the difference of conversion rates (attributed purchases per impression), variances "
    "by the delta method over customers, the unit of randomization"
)
DEFAULT_ALPHA = 0.05
Counters = Mapping[str, tuple[np.ndarray, np.ndarray]]  # metric -> (customer ids, counts)


def aligned(counters: Counters) -> dict[str, np.ndarray]:
    """Every metric as one count per customer, over the customers any metric names (0 where absent)."""
    keys = [counters[m][0] for m in EXPERIMENT_METRICS if m in counters]
    customers = np.unique(np.concatenate(keys)) if keys and any(len(k) for k in keys) else np.zeros(0, dtype=object)
    columns: dict[str, np.ndarray] = {}
    for metric in EXPERIMENT_METRICS:
        ids, counts = counters.get(metric, (np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)))
        column = np.zeros(len(customers), dtype=np.int64)
        if len(ids):
            column[np.searchsorted(customers, ids)] = counts
        columns[metric] = column
    return columns


def estimate_fields(name: str, estimate: RatioEstimate, scale: float = 1.0) -> dict[str, Any]:
    interval = estimate.interval
    return {
        name: None if estimate.value is None else estimate.value * scale,
        # rates are never negative: a normal interval reaching below 0 (few customers) is cut there
        f"{name}_ci95": None if interval is None else [max(interval[0], 0.0) * scale, interval[1] * scale],
    }


def variant_report(variant: str, model_version: str, counters: Counters) -> tuple[dict[str, Any], RatioEstimate]:
    """One variant's row, and its primary metric's estimate."""
    columns = aligned(counters)
    impressions = columns["impressions"]
    conversion = ratio(columns["purchases"], impressions)
    revenue_cents = int(columns["revenue_cents"].sum())
    row = {
        "variant": variant,
        "model_version": model_version,
        "customers": int((columns["answers"] > 0).sum()),
        "answers": int(columns["answers"].sum()),
        "impressions": int(impressions.sum()),
        "clicks": int(columns["clicks"].sum()),
        "attributed_purchases": int(columns["purchases"].sum()),
        "attributed_revenue": revenue_cents / CENTS_PER_UNIT,
        **estimate_fields("ctr", ratio(columns["clicks"], impressions)),
        **estimate_fields("conversion_rate", conversion),
        # cents per impression -> money per thousand impressions
        **estimate_fields("revenue_per_mille", ratio(columns["revenue_cents"], impressions), 1000 / CENTS_PER_UNIT),
    }
    return row, conversion


def experiment_report(
    experiment: Experiment,
    champion: Counters,
    challenger: Counters,
    *,
    champion_model_version: str,
    alpha: float = DEFAULT_ALPHA,
    running: bool = True,
) -> dict[str, Any]:
    """The status of ``experiment`` from both variants' per-customer counters."""
    champion_row, champion_rate = variant_report("champion", champion_model_version, champion)
    challenger_row, challenger_rate = variant_report("challenger", experiment.challenger_model_version, challenger)
    p_value = two_sided_p(champion_rate, challenger_rate)
    winner = None
    if p_value is not None and p_value < alpha and champion_rate.value != challenger_rate.value:
        assert champion_rate.value is not None and challenger_rate.value is not None
        winner = "challenger" if challenger_rate.value > champion_rate.value else "champion"
    total = champion_row["customers"] + challenger_row["customers"]
    return {
        "name": experiment.name,
        "running": running,
        "model_name": experiment.model_name,
        "share": experiment.share,
        "surfaces": list(experiment.surfaces),
        "started_at": experiment.started_at,
        "primary_metric": PRIMARY_METRIC,
        "test": TEST,
        "alpha": alpha,
        "variants": [champion_row, challenger_row],
        "p_value": p_value,
        "winner": winner,
        "sample_ratio_p_value": sample_ratio_p(challenger_row["customers"], total, experiment.share),
    }


def hourly_history(
    experiment: Experiment, hours: Sequence[int], hour_counters: Sequence[Mapping[str, int]], now: float
) -> dict[str, list[tuple[int, dict[str, float]]]]:
    """Per variant, one point per hour of the experiment with traffic: (end of the hour in Unix ms, the
    cumulative impressions, CTR, conversion rate and revenue per thousand impressions so far), from the
    hourly KPI counters of the experiment's surfaces (the challenger's by its version label, the champion's
    by every other label; answers given while nothing was published are left out)."""
    challenger_label = f"{experiment.challenger_model_version}@{experiment.challenger_version}"
    totals: dict[str, Counter[str]] = {variant: Counter() for variant in VARIANTS}
    points: dict[str, list[tuple[int, dict[str, float]]]] = {variant: [] for variant in VARIANTS}
    for hour, counters in zip(hours, hour_counters, strict=True):
        surfaces, _ = parse_fields(counters)
        for (surface, label, metric), n in surfaces.items():
            if surface in experiment.surfaces and "@" in label:
                totals["challenger" if label == challenger_label else "champion"][metric] += n
        at_ms = int(min((hour + 1) * HOUR, now) * 1000)
        for variant, counts in totals.items():
            kpis = surface_kpis(counts)
            if kpis["impressions"]:
                values = {
                    name: float(kpis[name]) for name in ("impressions", "ctr", "conversion_rate", "revenue_per_mille")
                }
                points[variant].append((at_ms, values))
    return points
