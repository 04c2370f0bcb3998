"""The one model contract: fit, recommend in batches, save, load.

Every model in ``recommender.models`` subclasses ``Recommender`` and passes the shared contract test
suite (``tests/recommender/contract.py``). A model keeps plain numpy arrays, never framework
objects, so that ``save`` writes ``arrays.npz`` + ``config.json`` and ``load`` reads them back with
``allow_pickle=False``.

Queries are indices: customer indices for customer-facing models, item indices for item-to-item
models (``query_kind``). Recommendations come back as a ``Ranked`` pair of ``(n, k)`` arrays, best
first, padded with item -1 / score -inf when fewer than ``k`` candidates exist.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict

from recommender.errors import ModelFileError, NotFittedError
from recommender.history import OrderHistory
from recommender.model_files import read_arrays, read_json_object
from recommender.numeric.topk import Ranked

__all__ = ["ARRAYS_FILE", "CONFIG_FILE", "ModelConfig", "QueryKind", "Ranked", "Recommender"]

QueryKind = Literal["customer", "item"]
ARRAYS_FILE = "arrays.npz"
CONFIG_FILE = "config.json"


class ModelConfig(BaseModel):
    """Base for every model's typed config: unknown keys are an error, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Recommender(ABC):
    """A model: ``fit(history)``, ``recommend(queries, k)``, ``save(dir)``, ``load(dir)``."""

    name: ClassVar[str]
    query_kind: ClassVar[QueryKind]
    config_class: ClassVar[type[ModelConfig]]

    def __init__(self, config: ModelConfig | None = None) -> None:
        cfg = config if config is not None else self.config_class()
        if not isinstance(cfg, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(cfg).__name__}")
        self.config = cfg
        self._fitted = False
        self.n_customers = 0
        self.n_items = 0

    # the contract ----------------------------------------------------------------------------------
    def fit(self, history: OrderHistory) -> Self:
        """Learn from ``history``; returns self. Indices refer to ``history``'s id maps."""
        self.n_customers = history.n_customers
        self.n_items = history.n_items
        self._fit(history)
        self._fitted = True
        return self

    def recommend(self, queries: np.ndarray, k: int = 10, *, now: int | np.ndarray | None = None) -> Ranked:
        """Top-``k`` items for every query index (customer or item, see ``query_kind``).

        ``now`` (Unix seconds, one for all queries or one per query) is the moment the lists are for;
        models that depend on time (next purchase: what is due) use it, others ignore it. ``None``
        means the end of the fitted history. Unknown or out-of-range queries get an empty (fully
        padded) row; callers decide the fallback.
        """
        self._check_fitted()
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        q = np.asarray(queries, dtype=np.int64).ravel()
        limit = self.n_customers if self.query_kind == "customer" else self.n_items
        valid = (q >= 0) & (q < limit)
        out = Ranked.empty(len(q), k)
        if now is not None and np.ndim(now) > 0:
            now = np.asarray(now, dtype=np.int64).ravel()
            if len(now) != len(q):
                raise ValueError(f"now has {len(now)} values for {len(q)} queries")
            now = now[valid]
        if valid.any():
            ranked = self._recommend(q[valid], k, now)
            out.items[valid] = ranked.items
            out.scores[valid] = ranked.scores
        return out

    def save(self, directory: Path) -> None:
        """Write ``arrays.npz`` and ``config.json`` into ``directory`` (created if needed)."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = dict(self._state())
        arrays["__shape__"] = np.array([self.n_customers, self.n_items], dtype=np.int64)
        np.savez(directory / ARRAYS_FILE, **arrays)
        meta = {"model": self.name, "config": self.config.model_dump(mode="json")}
        (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Read a model saved by ``save``; refuses pickled arrays, mismatched model names and damaged files."""
        directory = Path(directory)
        meta = read_json_object(directory / CONFIG_FILE)
        if meta.get("model") != cls.name:
            raise ModelFileError(f"{directory} holds model {meta.get('model')!r}, not {cls.name!r}")
        try:
            config = cls.config_class.model_validate(meta.get("config"))
        except ValueError as exc:  # pydantic's ValidationError: an unknown key, a wrong type, a bad value
            raise ModelFileError(f"{directory / CONFIG_FILE}: invalid {cls.name} config: {exc}") from exc
        arrays = read_arrays(directory / ARRAYS_FILE)
        model = cls(config)
        try:
            shape = arrays.pop("__shape__")
            if shape.shape != (2,) or not np.issubdtype(shape.dtype, np.integer) or int(shape.min()) < 0:
                raise ModelFileError(f"{directory / ARRAYS_FILE}: __shape__ is not two sizes")
            model.n_customers, model.n_items = int(shape[0]), int(shape[1])
            model._load_state(arrays)
        except ModelFileError as exc:
            raise ModelFileError(f"{directory}: {exc}") from exc
        except (KeyError, ValueError, IndexError, TypeError, AttributeError, OverflowError) as exc:
            raise ModelFileError(f"damaged {cls.name} model in {directory}: {exc!r}") from exc
        model._fitted = True
        return model

    # what subclasses implement --------------------------------------------------------------------
    @abstractmethod
    def _fit(self, history: OrderHistory) -> None: ...

    @abstractmethod
    def _recommend(self, queries: np.ndarray, k: int, now: int | np.ndarray | None) -> Ranked:
        """Top-k for valid query indices (int64, all in range); ``now`` is None, a scalar, or one per query."""

    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """Every learned array, by name (numeric or fixed-width string dtypes only)."""

    @abstractmethod
    def _load_state(self, arrays: dict[str, np.ndarray]) -> None: ...

    # helpers -------------------------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self._fitted

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load() first")
