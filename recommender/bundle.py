"""The trained bundle: every model of one training run, with the id maps and catalog they share.

A ``ModelBundle`` is what the training job registers in MLflow and what publish precomputes from. It
translates external ids at its edge (``IdMap``) so callers never see indices, and it marks fallbacks:
an unknown customer or item gets the popular list (in the item's category when known).

On disk (``save``/``load``): ``manifest.json``, ``customers.json``, ``items.json``, ``catalog.npz`` +
``categories.json``, and ``models/<name>/`` for each model (arrays.npz + config.json). No pickle.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recommender.base import Ranked, Recommender
from recommender.errors import ModelFileError
from recommender.history import Catalog, OrderHistory
from recommender.ids import MISSING, IdMap
from recommender.models.blend import BlendConfig, BlendModel
from recommender.models.collaborative import CollaborativeConfig, CollaborativeModel
from recommender.models.complements import ComplementsConfig, ComplementsModel
from recommender.models.ease import CatalogTooLargeError, EaseConfig
from recommender.models.next_purchase import NextPurchaseConfig, NextPurchaseModel
from recommender.models.popular import PopularConfig, PopularModel
from recommender.models.similar import SimilarConfig, SimilarItemsModel

FORMAT_VERSION = 1
Surface = Literal["next_purchase", "for_you", "similar", "complements", "popular"]
SURFACE_MODEL: dict[str, str] = {
    "next_purchase": "next_purchase",
    "for_you": "for_you",
    "similar": "similar",
    "complements": "complements",
    "popular": "popular",
}
ITEM_SURFACES = ("similar", "complements")


class BundleConfig(BaseModel):
    """One typed config per model; the training job logs it as MLflow params as is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    popular: PopularConfig = Field(default_factory=PopularConfig)
    collaborative: CollaborativeConfig = Field(default_factory=CollaborativeConfig)
    # "for you" blends EASE with the shared ALS while the catalog fits EASE's dense item x item matrix
    # (ease.max_items); above it, ALS alone answers. Its own ``collaborative`` field is replaced by the above.
    for_you: BlendConfig = Field(default_factory=lambda: BlendConfig(ease=EaseConfig(max_items=15_000)))
    similar: SimilarConfig = Field(default_factory=SimilarConfig)
    complements: ComplementsConfig = Field(default_factory=ComplementsConfig)
    next_purchase: NextPurchaseConfig = Field(default_factory=NextPurchaseConfig)


StepHook = Callable[[str], None]


@dataclass
class ModelBundle:
    """Fitted models plus the id maps and catalog; answers in external ids."""

    customers: IdMap
    items: IdMap
    catalog: Catalog
    models: dict[str, Recommender]
    fitted_until: int  # Unix seconds: the end of the history the models saw
    created_at: float

    # fitting ------------------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls, history: OrderHistory, config: BundleConfig | None = None, on_step: StepHook | None = None
    ) -> ModelBundle:
        """Fit every model on ``history``. ALS is fitted once and shared by for-you and next purchase."""
        cfg = config or BundleConfig()
        step = on_step or (lambda _name: None)
        models: dict[str, Recommender] = {}
        step("popular")
        models["popular"] = PopularModel(cfg.popular).fit(history)
        step("collaborative")
        collaborative = CollaborativeModel(cfg.collaborative).fit(history)
        models["collaborative"] = collaborative
        step("for_you")
        blend_cfg = cfg.for_you.model_copy(update={"collaborative": cfg.collaborative})
        with contextlib.suppress(CatalogTooLargeError):  # then for_you is ALS alone (see ``surface_model``)
            models["for_you"] = BlendModel(blend_cfg, collaborative=collaborative).fit(history)
        step("similar")
        models["similar"] = SimilarItemsModel(cfg.similar).fit(history)
        step("complements")
        models["complements"] = ComplementsModel(cfg.complements).fit(history)
        step("next_purchase")
        np_cfg = cfg.next_purchase.model_copy(update={"collaborative": cfg.collaborative})
        models["next_purchase"] = NextPurchaseModel(np_cfg, collaborative=collaborative).fit(history)
        return cls(
            customers=history.customers,
            items=history.items,
            catalog=history.catalog,
            models=models,
            fitted_until=history.end_time,
            created_at=time.time(),
        )

    # answering in external ids ---------------------------------------------------------------------------
    def recommend(
        self, ids: Sequence[str], surface: Surface = "next_purchase", k: int = 10, now: int | None = None
    ) -> dict[str, np.ndarray]:
        """Ranked lists for external customer ids (or item ids for item surfaces), fallbacks marked.

        Returns columns, one row per (query, rank), queries in the given order and best first:
        ``id``, ``rank`` (1-based), ``item_id``, ``score``, ``fallback``.
        """
        if surface not in SURFACE_MODEL:
            raise ValueError(f"unknown surface {surface!r}; use one of {', '.join(SURFACE_MODEL)}")
        query_map = self.items if surface in ITEM_SURFACES else self.customers
        queries = np.asarray([str(x) for x in ids], dtype=str)
        idx = query_map.index(queries) if len(queries) else np.zeros(0, dtype=np.int32)
        ranked = self.surface_model(surface).recommend(idx, k, now=now)
        fallback = ranked.items[:, 0] < 0
        if fallback.any():
            fb = self._fallback(idx[fallback], surface, k)
            ranked.items[fallback] = fb.items
            ranked.scores[fallback] = fb.scores
        present = ranked.items >= 0
        query_row, rank = np.nonzero(present)
        return {
            "id": queries[query_row],
            "rank": (rank + 1).astype(np.int32),
            "item_id": self.items.external(ranked.items[present]),
            "score": ranked.scores[present].astype(np.float32),
            "fallback": fallback[query_row],
        }

    def surface_model(self, surface: str) -> Recommender:
        """The model answering a surface ("for_you" is ALS alone when the catalog was too large for EASE)."""
        name = SURFACE_MODEL[surface]
        if name == "for_you" and name not in self.models:
            name = "collaborative"
        return self.models[name]

    def _fallback(self, query_idx: np.ndarray, surface: str, k: int) -> Ranked:
        """Popular items; for a known item on an item surface, popular in its category (item excluded)."""
        popular: PopularModel = self.models["popular"]  # type: ignore[assignment]
        out = Ranked.empty(len(query_idx), k)
        overall_items, overall_scores = popular.top(k + 1)
        for row, q in enumerate(query_idx):
            items, scores = overall_items, overall_scores
            if surface in ITEM_SURFACES and q != MISSING:
                cat = int(self.catalog.category[q])
                if cat >= 0:
                    items, scores = popular.top(k + 1, category=cat)
                keep = items != q
                items, scores = items[keep], scores[keep]
            n = min(k, len(items))
            out.items[row, :n] = items[:n]
            out.scores[row, :n] = scores[:n]
        return out

    # persistence ------------------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        (directory / "models").mkdir(parents=True, exist_ok=True)
        manifest = {
            "format_version": FORMAT_VERSION,
            "models": sorted(self.models),
            "fitted_until": self.fitted_until,
            "created_at": self.created_at,
            "n_customers": len(self.customers),
            "n_items": len(self.items),
        }
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
        self.customers.save(directory / "customers.json")
        self.items.save(directory / "items.json")
        self.catalog.categories.save(directory / "categories.json")
        np.savez(
            directory / "catalog.npz",
            category=self.catalog.category,
            name=np.asarray(self.catalog.name, dtype=str),
            in_stock=self.catalog.in_stock,
            price=self.catalog.price,
        )
        for name, model in self.models.items():
            model.save(directory / "models" / name)
        return directory

    @classmethod
    def load(cls, directory: Path) -> ModelBundle:
        directory = Path(directory)
        try:
            manifest = json.loads((directory / "manifest.json").read_text())
            if manifest.get("format_version") != FORMAT_VERSION:
                raise ModelFileError(f"{directory}: bundle format {manifest.get('format_version')} is not supported")
            customers = IdMap.load(directory / "customers.json")
            items = IdMap.load(directory / "items.json")
            categories = IdMap.load(directory / "categories.json")
            with np.load(directory / "catalog.npz", allow_pickle=False) as npz:
                catalog = Catalog(
                    categories=categories,
                    category=npz["category"],
                    name=npz["name"],
                    in_stock=npz["in_stock"],
                    price=npz["price"],
                )
        except ModelFileError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"cannot load model bundle from {directory}: {exc}") from exc
        classes: dict[str, type[Recommender]] = {
            "popular": PopularModel,
            "collaborative": CollaborativeModel,
            "for_you": BlendModel,
            "similar": SimilarItemsModel,
            "complements": ComplementsModel,
            "next_purchase": NextPurchaseModel,
        }
        models = {name: classes[name].load(directory / "models" / name) for name in manifest["models"]}
        for name, model in models.items():
            if (model.n_customers, model.n_items) != (len(customers), len(items)):
                raise ModelFileError(f"{directory}: model {name} does not match the bundle's id maps")
        return cls(
            customers=customers,
            items=items,
            catalog=catalog,
            models=models,
            fitted_until=int(manifest["fitted_until"]),
            created_at=float(manifest["created_at"]),
        )
