"""The MLflow pyfunc flavour of a trained bundle, logged as code (no pickle).

``mlflow.pyfunc.load_model("models:/<name>@champion").predict(df, params={"k": 10, "surface": ...})``
takes a DataFrame with a ``customer_id`` column (or ``item_id`` for the ``similar`` and ``complements``
surfaces) and returns one row per recommendation: ``id, rank, item_id, score, fallback``. Unknown ids
get the popular list with ``fallback`` true.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from recommender.bundle import ModelBundle
from recommender.vocabulary import ITEM_SURFACES


class RecommendationsModel(mlflow.pyfunc.PythonModel):
    """Loads the bundle from the model's ``bundle`` artifact and answers in external ids."""

    def load_context(self, context: Any) -> None:
        self.bundle = ModelBundle.load(Path(context.artifacts["bundle"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        params = params or {}
        surface = str(params.get("surface", "next_purchase"))
        k = int(params.get("k", 10))
        column = "item_id" if surface in ITEM_SURFACES else "customer_id"
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame({column: list(model_input)})
        if column not in frame.columns:
            raise ValueError(f"surface {surface!r} needs a {column!r} column; got {list(frame.columns)}")
        ids = frame[column].dropna().astype(str).tolist()
        return pd.DataFrame(self.bundle.recommend(ids, surface=surface, k=k))  # type: ignore[arg-type]


mlflow.models.set_model(RecommendationsModel())
