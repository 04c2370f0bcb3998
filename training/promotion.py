"""The metric that decides promotion to ``champion``, declared apart from the registry (which imports mlflow),
so that ``recs train`` can warn about it before MLflow is loaded."""

from __future__ import annotations

PROMOTION_METRIC = "next_purchase.ndcg_at_10"
