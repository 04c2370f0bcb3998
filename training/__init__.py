"""The offline job: load, split, fit, evaluate, log to MLflow, register. The only mlflow importer."""
