"""Everything MLflow: the tracking store and runs (``runs``), the model registry and aliases (``registry``),
the pyfunc flavour (``pyfunc_model``).

This is the one package of the training job that imports mlflow (``pyfunc_model`` is the pyfunc wrapper
MLflow itself loads, logged as code): ``recs train``'s run and its tuning candidates, ``recs tune``'s
parent run and one child run per trial, and what ``recs publish`` reads from the registry. With
``MLFLOW_TRACKING_URI`` unset, runs go to a local sqlite store with an explicit artifact location under
``RECS_HOME``.

Aliases (``aliases``): every new registered version gets ``candidate``; ``promote`` moves ``champion`` only
when the new version beats the current champion on ``PROMOTION_METRIC`` (or there is no champion yet);
``recs promote`` and ``recs rollback`` move it by hand; a live experiment's challenger is ``challenger``
(``experiments``). Every move is recorded as tags on the version it
moves to, which is how rollback finds the champion before.

``recs tune``: one parent run (tag ``recs.kind=tune``) holds the baselines, the best config's params, its
metrics (those of the trial each part came from), ``best.<objective>`` and ``best_trial.<objective>``,
and ``best_config.json``; one nested child run per trial holds that trial's full config as params, its
metrics and the sampled values (tag ``recs.sampled``).
"""

from training.tracking.aliases import (
    CANDIDATE,
    CHAMPION,
    ChampionMove,
    NoChampionError,
    NothingToRollBackError,
    UnknownVersionError,
    current_champion,
    move_champion,
    plan_promotion,
    plan_rollback,
)
from training.tracking.experiments import CHALLENGER, VariantOutcome, clear_challenger, mark_challenger, record_outcome
from training.tracking.registry import (
    CONFIG_ARTIFACT,
    PROMOTION_METRIC,
    Evidence,
    Promotion,
    RegisteredRun,
    champion_config,
    download_bundle,
    local_bundle_path,
    promote_if_better,
    resolve_model_version,
)
from training.tracking.runs import (
    MlflowClient,
    connect,
    flatten_params,
    log_best_on_parent,
    log_candidates,
    log_training,
    log_trial_run,
    parent_run,
    pyfunc_signature,
)

__all__ = [
    "CANDIDATE",
    "CHALLENGER",
    "CHAMPION",
    "CONFIG_ARTIFACT",
    "PROMOTION_METRIC",
    "ChampionMove",
    "Evidence",
    "MlflowClient",
    "NoChampionError",
    "NothingToRollBackError",
    "Promotion",
    "RegisteredRun",
    "UnknownVersionError",
    "VariantOutcome",
    "champion_config",
    "clear_challenger",
    "connect",
    "current_champion",
    "download_bundle",
    "flatten_params",
    "local_bundle_path",
    "log_best_on_parent",
    "log_candidates",
    "log_training",
    "log_trial_run",
    "mark_challenger",
    "move_champion",
    "parent_run",
    "plan_promotion",
    "plan_rollback",
    "promote_if_better",
    "pyfunc_signature",
    "record_outcome",
    "resolve_model_version",
]
