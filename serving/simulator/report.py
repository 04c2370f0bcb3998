"""A run's report: the ledger's counts as JSON (``recs simulate --json``) or as a rich table.

The fields are those of ``GET /v1/kpis`` (``answers``, ``impressions``, ``clicks``, ``attributed_purchases``,
``attributed_revenue``: an amount with two decimals), plus ``attributed_revenue_cents``, in total and per
surface and model version, the guests' own per surface (``guests_by_surface``; their answers count 0), and
what the run did (shoppers, seconds, events sent and accepted, accepted events per type, problems).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from recommender.vocabulary import ANSWER_SURFACES, EVENT_TYPES
from serving.feedback.revenue import amount
from serving.simulator.ledger import Counts
from serving.simulator.run import RunResult


def counts_json(counts: Counts) -> dict[str, Any]:
    return {
        "answers": counts.answers,
        "impressions": counts.impressions,
        "clicks": counts.clicks,
        "attributed_purchases": counts.attributed_purchases,
        "attributed_revenue": round(amount(counts.attributed_revenue_cents), 2),
        "attributed_revenue_cents": counts.attributed_revenue_cents,
    }


def report_json(result: RunResult) -> dict[str, Any]:
    ledger, tally = result.ledger, result.tally
    guests = sum(not shopper.known for shopper in result.shoppers)
    return {
        "url": result.options.url,
        **counts_json(ledger.totals()),
        "by_surface": [
            {"surface": surface, "model_version": version, **counts_json(counts)}
            for surface, version, counts in ledger.by_surface()
        ],
        "guests_by_surface": [
            {"surface": surface, **counts_json(ledger.guest_counts[surface])}
            for surface in ANSWER_SURFACES
            if surface in ledger.guest_counts
        ],
        "attribution_window_seconds": ledger.window_seconds,
        "shoppers": len(result.shoppers),
        "guests": guests,
        "visits": tally.visits,
        "requests": tally.requests,
        "events_sent": tally.events_sent,
        "events_accepted": tally.events_accepted,
        "events_by_type": {kind: tally.accepted_by_type[kind] for kind in EVENT_TYPES},
        "purchase_lines": tally.purchase_lines,
        "seconds": round(result.seconds, 3),
        "problems": result.problems.rows(),
    }


def print_report(console: Console, result: RunResult) -> None:
    report = report_json(result)
    table = Table(
        title=f"recs simulate: {report['shoppers']} shoppers ({report['guests']} guests), {report['seconds']:.0f}s"
    )
    for name in ("surface", "model version", "answers", "impressions", "clicks", "purchases", "revenue"):
        table.add_column(name, justify="left" if name in ("surface", "model version") else "right")
    for row in report["by_surface"]:
        table.add_row(*_cells(row["surface"], row["model_version"], row))
    table.add_section()
    table.add_row(*_cells("total", "", report), style="bold")
    console.print(table)
    console.print(
        f"{report['visits']:,} visits, {report['requests']:,} requests, {report['events_accepted']:,} of "
        f"{report['events_sent']:,} events accepted, {report['purchase_lines']:,} purchase lines "
        f"(attributed: clicked from a list within {report['attribution_window_seconds']:,}s, or bought on it)"
    )
    for problem in report["problems"]:
        console.print(
            f"[red]problem[/red]: {problem['call']} -> {problem['status']} ×{problem['count']}: {problem['reason']}",
            soft_wrap=True,
        )


def _cells(surface: str, version: str, row: dict[str, Any]) -> list[str]:
    return [
        surface,
        version,
        f"{row['answers']:,}",
        f"{row['impressions']:,}",
        f"{row['clicks']:,}",
        f"{row['attributed_purchases']:,}",
        f"{row['attributed_revenue']:,.2f}",
    ]
