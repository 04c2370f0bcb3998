"""Recommendation models and the data they learn from. Pure Python/numpy/scipy: never imports fastapi,
redis or mlflow."""
