"""The journey KPIs of a range of hours, computed from the hourly counters (``serving.feedback.store``).

Pure: counters in, the ``GET /v1/kpis`` answer out (``serving.schemas.KpiReport``'s fields). The
definitions (rates per impression, carts decided once the window has passed) are in ``docs/feedback.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from serving.feedback.revenue import amount
from serving.feedback.store import HOUR, parse_fields

SURFACE_COUNTS = ("answers", "impressions", "clicks", "attributed_purchases", "attributed_revenue_cents")
FUNNEL_COUNTS = ("views", "clicks", "add_to_carts", "remove_from_carts", "purchases", "carts", "converted_carts")


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def rate(numerator: float, denominator: int) -> float | None:
    """``numerator / denominator``, or None when there is nothing to divide by."""
    return None if denominator == 0 else numerator / denominator


def surface_kpis(counts: Mapping[str, int]) -> dict[str, Any]:
    """The KPI fields of summed counters (answers, impressions, clicks, attributed purchases, revenue)."""
    impressions, cents = counts.get("impressions", 0), counts.get("attributed_revenue_cents", 0)
    return {
        "answers": counts.get("answers", 0),
        "impressions": impressions,
        "clicks": counts.get("clicks", 0),
        "ctr": rate(counts.get("clicks", 0), impressions),
        "attributed_purchases": counts.get("attributed_purchases", 0),
        "conversion_rate": rate(counts.get("attributed_purchases", 0), impressions),
        "attributed_revenue": amount(cents),
        "attributed_revenue_cents": cents,
        "revenue_per_mille": rate(cents * 10, impressions),  # cents / 100 * 1000 per impression
    }


def kpi_report(
    hours: Sequence[int],
    counters: Sequence[Mapping[str, int]],
    *,
    now: float,
    window: int,
    surface: str | None = None,
    active: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The answer for ``hours`` (consecutive hour numbers, oldest first) given each hour's counters."""
    per_surface: dict[tuple[str, str], Counter[str]] = {}
    totals: Counter[str] = Counter()
    funnel: Counter[str] = Counter()
    open_carts = abandoned = 0
    series = []
    for hour, hour_counters in zip(hours, counters, strict=True):
        surfaces, hour_funnel = parse_fields(hour_counters)
        in_hour: Counter[str] = Counter()
        for (name, version, metric), n in surfaces.items():
            if surface is not None and name != surface:
                continue
            per_surface.setdefault((name, version), Counter())[metric] += n
            in_hour[metric] += n
        totals.update(in_hour)
        funnel.update({metric: hour_funnel.get(metric, 0) for metric in FUNNEL_COUNTS})
        undecided = hour_funnel.get("carts", 0) - hour_funnel.get("converted_carts", 0)
        if (hour + 1) * HOUR + window <= now:
            abandoned += undecided
        else:
            open_carts += undecided
        series.append(
            {
                "hour": iso(hour * HOUR),
                **surface_kpis(in_hour),
                **{metric: hour_funnel.get(metric, 0) for metric in ("views", "add_to_carts", "purchases")},
            }
        )
    by_surface = [
        {"surface": name, "model_version": version, **surface_kpis(counts)}
        for (name, version), counts in sorted(per_surface.items())
    ]
    return {
        "from": iso(hours[0] * HOUR),
        "to": iso((hours[-1] + 1) * HOUR),
        "generated_at": iso(now),
        "attribution_window_seconds": window,
        "surface": surface,
        "active": dict(active) if active is not None else None,
        "totals": surface_kpis(totals),
        "by_surface": by_surface,
        "funnel": {
            **{metric: funnel[metric] for metric in FUNNEL_COUNTS},
            "abandoned_carts": abandoned,
            "open_carts": open_carts,
            "cart_abandonment_rate": rate(abandoned, abandoned + funnel["converted_carts"]),
        },
        "series": series,
    }
