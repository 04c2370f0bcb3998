"""Settings of the offline job, read from the environment (the names are in the README).

Build a ``TrainingSettings`` where it is needed (the CLI, a test); nothing is read at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recommender.vocabulary import DEFAULT_MODEL_NAME


class TrainingSettings(BaseSettings):
    """Where runs and models go. Unset ``MLFLOW_TRACKING_URI``: a local sqlite store under ``RECS_HOME``."""

    model_config = SettingsConfigDict(extra="ignore")

    home: Path = Field(default=Path(".recs"), validation_alias=AliasChoices("RECS_HOME"))
    tracking_uri: str | None = Field(default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI"))
    model_name: str = Field(default=DEFAULT_MODEL_NAME, validation_alias=AliasChoices("RECS_MODEL_NAME"))
    experiment: str = Field(default="recs", validation_alias=AliasChoices("RECS_EXPERIMENT"))
    # customers scored by the evaluation (a seeded sample; 0: everyone with two or more orders)
    eval_customers: int = Field(default=20_000, ge=0, validation_alias=AliasChoices("RECS_EVAL_CUSTOMERS"))
    # a task measured on fewer customers (complements: anchors) than this gets a warning with the counts, and
    # --promote never promotes a version whose next purchase was scored on fewer (too little evidence)
    min_eval_customers: int = Field(default=200, ge=0, validation_alias=AliasChoices("RECS_MIN_EVAL_CUSTOMERS"))
    # recs train picks next purchase's and complements' configs on validation data first (--tune/--no-tune
    # override it), within this many seconds (None: auto, see training.self_tune)
    tune: bool = Field(default=True, validation_alias=AliasChoices("RECS_TUNE"))
    tune_budget_seconds: float | None = Field(default=None, ge=0, validation_alias=AliasChoices("RECS_TUNE_BUDGET"))

    @property
    def resolved_tracking_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        """Where a local store keeps artifacts (explicit, so runs never land in ./mlruns by accident)."""
        return (self.home / "mlartifacts").resolve()

    @property
    def best_config_path(self) -> Path:
        """Written by ``recs tune``; read by the next ``recs train``."""
        return self.home / "best_config.json"
