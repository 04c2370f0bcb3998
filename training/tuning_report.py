"""How ``recs train`` shows its own tuning: one line per candidate while it runs, a table at the end."""

from __future__ import annotations

from rich.table import Table

from training.self_tune import COMPLEMENTS_METRIC, NEXT_PURCHASE_METRIC, TUNED_SURFACES, Candidate, TuneOutcome

METRIC_OF = {"next_purchase": NEXT_PURCHASE_METRIC, "complements": COMPLEMENTS_METRIC}


def _metric_text(candidate: Candidate) -> str:
    metric = METRIC_OF[candidate.surface]
    if candidate.error is not None:
        return f"failed: {candidate.error}"
    value = candidate.metrics.get(metric)
    name = metric.split(".", 1)[1].replace("_at_", "@")
    return f"{name} {value:.4f}" if value is not None else f"{name} -"


def candidate_line(candidate: Candidate) -> str:
    """``next_purchase {"own_weight": 0.3}: ndcg@10 0.1093 (4.4 s)``."""
    return f"{candidate.surface} {candidate.label}: {_metric_text(candidate)} ({candidate.seconds:.1f} s)"


def tuning_table(outcome: TuneOutcome) -> Table:
    """Every candidate with its validation metric and time; the picked one per surface marked."""
    title = (
        f"tuning on validation data: {len(outcome.candidates)} candidates in {outcome.seconds:.0f} s "
        f"(budget {outcome.budget_seconds:.0f} s)"
    )
    table = Table(title=title, title_justify="left")
    for name, justify in (("surface", "left"), ("candidate", "left"), ("validation", "right"), ("s", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    picked = {id(best) for s in TUNED_SURFACES if (best := outcome.picked(s)) is not None}
    for candidate in outcome.candidates:
        mark = " [bold green](picked)[/bold green]" if id(candidate) in picked else ""
        table.add_row(candidate.surface, candidate.label + mark, _metric_text(candidate), f"{candidate.seconds:.1f}")
    for surface, why in outcome.skipped.items():
        table.add_row(surface, "not tuned", why, "")
    return table
