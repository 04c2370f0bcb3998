"""How ``recs tune`` shows its search: a progress bar over the trials while it runs, a table of the best
trials at the end."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from recommender.bundle import BundleConfig
from training.protocol import COMPLEMENTS_K
from training.search import OBJECTIVES, Budget, SearchResult, Trial, TrialHook

PROGRESS_METRIC = OBJECTIVES[0].metric


@contextmanager
def trial_progress(console: Console, budget: Budget) -> Iterator[TrialHook]:
    """A rich progress bar over the trial cap (or the time budget): trial number and best so far."""
    by_trials = budget.max_trials is not None
    total = float(budget.max_trials) if by_trials else max(budget.seconds, 1e-9)
    columns = (
        TextColumn("trial {task.fields[trial]}"),
        BarColumn(),
        TextColumn("best " + PROGRESS_METRIC.replace("_at_", "@") + " {task.fields[best]}"),
        TimeElapsedColumn(),
    )
    t0 = time.perf_counter()
    best = -math.inf
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("tune", total=total, trial="-", best="-")

        def on_trial(trial: Trial) -> None:
            nonlocal best
            best = max(best, trial.metrics.get(PROGRESS_METRIC, -math.inf))
            done = trial.number + 1 if by_trials else min(time.perf_counter() - t0, total)
            shown = f"{best:.4f}" if np.isfinite(best) else "-"
            progress.update(task, completed=done, trial=str(trial.number), best=shown)

        yield on_trial
        progress.update(task, completed=total)


def results_table(result: SearchResult) -> Table:
    """The best trials by the main objective, with the GP-TopFreq baseline for scale."""
    metric = PROGRESS_METRIC
    table = Table(title=f"tune: trials by {metric}", title_justify="left")
    for name in ("trial", "next_purchase ndcg@10", "recall@10", "recall@20", f"complements hit@{COMPLEMENTS_K}", "s"):
        table.add_column(name, justify="right")
    ranked = sorted(result.trials, key=lambda t: -t.metrics.get(metric, -math.inf))
    for trial in ranked[:5]:
        m = trial.metrics
        cells = [m.get(k, math.nan) for k in (metric, "next_purchase.recall_at_10", "next_purchase.recall_at_20")]
        hit = m.get(f"complements.hit_rate_at_{COMPLEMENTS_K}", math.nan)
        tag = {"start": " (start)", "defaults": " (defaults)"}.get(trial.strategy, "")
        label = str(trial.number) + tag + (" failed" if trial.error else "")
        table.add_row(label, *(f"{v:.4f}" for v in cells), f"{hit:.4f}", f"{trial.seconds:.1f}")
    b = result.baselines
    gp = [
        b.get(f"next_purchase.baseline.gp_topfreq.{k}", math.nan)
        for k in ("ndcg_at_10", "recall_at_10", "recall_at_20")
    ]
    sym = b.get(f"complements.baseline.symmetric_cooccurrence.hit_rate_at_{COMPLEMENTS_K}", math.nan)
    table.add_row("gp_topfreq / sym. co-occ.", *(f"{v:.4f}" for v in gp), f"{sym:.4f}", "")
    return table


def against_defaults(result: SearchResult) -> str:
    """Each objective's best score next to the defaults' on the same split (the search never keeps less)."""
    defaults = next((t for t in result.trials if t.config == BundleConfig() and not t.error), None)
    parts = []
    for objective in OBJECTIVES:
        best = result.metrics.get(objective.metric, math.nan)
        base = defaults.metrics.get(objective.metric, math.nan) if defaults is not None else math.nan
        parts.append(f"{objective.metric}: best {best:.4f}, the defaults {base:.4f}")
    return "on the search's split: " + "; ".join(parts)
