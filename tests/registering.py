"""Register the session's trained bundle in the test's MLflow store, as ``recs train`` would log it (an empty
rejects file, the given metrics), for tests of the registry, promotion and the commands that read it."""

from __future__ import annotations

from typing import Any

from training import tracking
from training.settings import TrainingSettings


def register(
    settings: TrainingSettings,
    trained: Any,
    *,
    metrics: dict[str, float] | None = None,
    promote: bool = False,
    evidence: tracking.Evidence | None = None,
    params: dict[str, Any] | None = None,
    texts: dict[str, str] | None = None,
) -> tracking.RegisteredRun:
    """One run of ``trained`` (default metrics: its own report's) registered as a new version."""
    rejects = settings.home / "rejects.csv"
    rejects.parent.mkdir(parents=True, exist_ok=True)
    rejects.write_text("source,line,reason\n")
    return tracking.log_training(
        tracking.connect(settings),
        settings,
        params=params or {},
        metrics=metrics if metrics is not None else trained.report.metrics,
        bundle=trained.bundle,
        artifacts={"data": rejects},
        texts=texts or {},
        promote=promote,
        evidence=evidence,
    )
