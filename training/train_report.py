"""How ``recs train`` shows its results: the metrics tables (rich on the console, markdown for MLflow) and
the line about the registered version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from training.pipeline import EvaluationReport
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from training.tracking import RegisteredRun


def _metric_columns(report: EvaluationReport, task: str) -> list[str]:
    names: list[str] = []
    for row in report.rows:
        if row["task"] == task:
            names += [key for key in row if key not in ("task", "method", "ours") and key not in names]
    return names


def metrics_tables(report: EvaluationReport) -> list[Table]:
    """One table per task (the repeat/explore split in a table of its own): ours first, then baselines."""
    tables: list[Table] = []
    for task in dict.fromkeys(str(row["task"]) for row in report.rows):
        cols = _metric_columns(report, task)
        split_cols = [c for c in cols if "repeat" in c or "explore" in c]
        main_cols = [c for c in cols if c not in split_cols]
        for title, chosen in ((task, main_cols), (f"{task}: repeat / explore split", split_cols)):
            if chosen:
                tables.append(_table(report, task, title, chosen))
    return tables


def _table(report: EvaluationReport, task: str, title: str, cols: list[str]) -> Table:
    table = Table(title=f"{title} (time-ordered split)", title_justify="left")
    table.add_column("method")
    for col in cols:
        table.add_column(col.replace("_at_", "@"), justify="right")
    for row in (r for r in report.rows if r["task"] == task):
        cells = [f"{float(row[c]):.4f}" if c in row else "" for c in cols]  # type: ignore[arg-type]
        if row["ours"]:
            table.add_row("[bold]ours[/bold]", *[f"[bold]{c}[/bold]" for c in cells])
        else:
            table.add_row(str(row["method"]), *cells)
    return table


def metrics_markdown(report: EvaluationReport) -> str:
    out: list[str] = []
    for task in dict.fromkeys(str(row["task"]) for row in report.rows):
        cols = _metric_columns(report, task)
        out += [f"### {task}", "", "| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for row in (r for r in report.rows if r["task"] == task):
            out.append(f"| {row['method']} | " + " | ".join(f"{float(row[c]):.4f}" for c in cols if c in row) + " |")
        out.append("")
    return "\n".join(out)


def print_registered(console: Console, settings: TrainingSettings, registered: RegisteredRun, promote: bool) -> None:
    console.print(
        f"MLflow run {registered.run_id} -> model {registered.model_name} version {registered.version} "
        f"(alias candidate) at {settings.resolved_tracking_uri}"
    )
    if promote and registered.promotion_reason:
        style = "green" if registered.promoted else "yellow"
        console.print(f"[{style}]{registered.promotion_reason}[/{style}]", highlight=False)
