"""How ``recs train`` shows its results: the metrics tables (rich on the console, markdown for MLflow), each
saying how many customers (complements: anchors) it was measured on, the warning when those counts are too small
to trust, and the line about the registered version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from training.pipeline import MEASURED_ON, EvaluationReport
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


def count_text(n: int, unit: str) -> str:
    """``1,234 customers``, ``1 anchor``."""
    return f"{n:,} {unit[:-1] if n == 1 else unit}"


def measured_on(report: EvaluationReport, task: str) -> str:
    """``1,234 customers`` (complements: anchors) that ``task`` was measured on; empty when not counted."""
    found = report.measured_on(task)
    return count_text(*found) if found is not None else ""


def _table(report: EvaluationReport, task: str, title: str, cols: list[str]) -> Table:
    count = measured_on(report, task)
    table = Table(title=f"{title}{' on ' + count if count else ''} (time-ordered split)", title_justify="left")
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
        count = measured_on(report, task)
        out += [
            f"### {task}" + (f" (measured on {count})" if count else ""),
            "",
            "| method | " + " | ".join(cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for row in (r for r in report.rows if r["task"] == task):
            out.append(
                f"| {row['method']} | " + " | ".join(f"{float(row[c]):.4f}" if c in row else "" for c in cols) + " |"
            )
        out.append("")
    return "\n".join(out)


def small_evaluation_warning(report: EvaluationReport, minimum: int) -> str | None:
    """The warning when a task was measured on fewer than ``minimum`` customers (complements: anchors), with
    every task's count; None when each reached it. Promotion is decided elsewhere (``training.tracking``), on
    the same minimum."""
    measured = {task: found for task in MEASURED_ON if (found := report.measured_on(task)) is not None}
    small = [f"{_name(task)} ({count_text(n, unit)})" for task, (n, unit) in measured.items() if n < minimum]
    if not small:
        return None
    counts = ", ".join(f"{_name(task)} {count_text(n, unit)}" for task, (n, unit) in measured.items())
    eligible = report.counts.get("eligible_customers", 0)
    scored = measured.get("next_purchase", (0, ""))[0]
    sample = f", of which --eval-customers scored a sample of {scored:,}" if eligible > scored else ""
    promotion = (
        " --promote does not promote on so few." if measured.get("next_purchase", (minimum, ""))[0] < minimum else ""
    )
    return (
        f"[yellow]warning[/yellow]: too few to evaluate {_and(small)}: the minimum is "
        f"{minimum:,} (RECS_MIN_EVAL_CUSTOMERS), and metrics on fewer are too noisy to compare models on. "
        f"Measured on: {counts}; {eligible:,} customers have two or more orders{sample}.{promotion}"
    )


def _and(parts: list[str]) -> str:
    return " and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 1 else parts[0]


def _name(task: str) -> str:
    return task.replace("_", " ")


def print_registered(console: Console, settings: TrainingSettings, registered: RegisteredRun, promote: bool) -> None:
    console.print(
        f"MLflow run {registered.run_id} -> model {registered.model_name} version {registered.version} "
        f"(alias candidate) at {settings.resolved_tracking_uri}"
    )
    if promote and registered.promotion_reason:
        style = "green" if registered.promoted else "yellow"
        console.print(f"[{style}]{registered.promotion_reason}[/{style}]", highlight=False)
