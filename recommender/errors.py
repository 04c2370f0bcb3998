"""Precise exceptions raised by the library; only the CLI and the HTTP routes turn them into exit codes
or status codes with messages."""

from __future__ import annotations


class RecommenderError(Exception):
    """Base of every error this package raises on purpose."""


class DataError(RecommenderError):
    """The input data cannot be used as given."""


class MissingColumnsError(DataError):
    """A required column is absent from an orders or catalog file."""

    def __init__(self, path: str, missing: list[str], found: list[str]) -> None:
        self.missing = missing
        self.found = found
        super().__init__(
            f"{path}: missing required column(s) {', '.join(missing)}; found columns: {', '.join(found) or '(none)'}"
        )


class UnreadableFileError(DataError):
    """The file does not exist, or is not a CSV/Parquet file we can read."""


class TooManyRejectsError(DataError):
    """More rows were rejected than the allowed ratio."""

    def __init__(self, rejected: int, total: int, max_ratio: float) -> None:
        self.rejected = rejected
        self.total = total
        self.max_ratio = max_ratio
        ratio = rejected / total if total else 1.0
        super().__init__(f"{rejected} of {total} rows rejected ({ratio:.1%}), above the allowed {max_ratio:.1%}")


class EmptyHistoryError(DataError):
    """Nothing usable is left to learn from."""


class NotFittedError(RecommenderError):
    """A model was used before fit() or load()."""


class ModelFileError(RecommenderError):
    """A saved model is missing, of another kind, or damaged."""
