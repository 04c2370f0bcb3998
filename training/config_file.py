"""The model config a training command starts from: the ``--config`` file, else ``RECS_HOME/best_config.json``
(written by ``recs tune``) when present, else the defaults."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from recommender.bundle import BundleConfig
from training.exit_codes import EXIT_BAD_DATA
from training.settings import TrainingSettings


def load_bundle_config(path: Path | None, settings: TrainingSettings, console: Console) -> BundleConfig:
    """``path``, else ``settings.best_config_path`` when it exists, else ``BundleConfig()``; says which it
    used. A file that cannot be read or validated prints why and exits with ``EXIT_BAD_DATA``."""
    source = path or (settings.best_config_path if settings.best_config_path.exists() else None)
    if source is None:
        return BundleConfig()
    try:
        cfg = BundleConfig.model_validate_json(source.read_text())
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] cannot use model config {source}: {exc}")
        raise typer.Exit(EXIT_BAD_DATA) from exc
    console.print(f"using model config {source}")
    return cfg
