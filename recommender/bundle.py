"""The trained bundle: every model of one training run, with the id maps and catalog they share.

A ``ModelBundle`` is what the training job registers in MLflow and what publish precomputes from. It
translates external ids at its edge (``IdMap``) so callers never see indices, and it marks fallbacks:
an unknown customer or item gets the popular list (in the item's category when known).

On disk (``save``/``load``): ``customers.json``, ``items.json``, ``catalog.npz`` + ``categories.json``,
``models/<name>/`` for each model (arrays.npz + config.json), and ``manifest.json``, written last, with the
sha256 of every other file: ``load`` refuses a changed, truncated or missing file with a message naming
it, before reading anything else. No pickle.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recommender.base import ARRAYS_FILE, CONFIG_FILE, Ranked, Recommender
from recommender.data.events import EventWeights
from recommender.errors import ModelFileError
from recommender.history import Catalog, OrderHistory
from recommender.ids import MISSING, IdMap
from recommender.model_files import (
    check_indices,
    file_digests,
    read_arrays,
    read_json,
    read_json_object,
    verify_digests,
)
from recommender.models.blend import BlendConfig, BlendModel
from recommender.models.collaborative import CollaborativeConfig, CollaborativeModel
from recommender.models.complements import ComplementsConfig, ComplementsModel
from recommender.models.ease import CatalogTooLargeError, EaseConfig
from recommender.models.next_purchase import NextPurchaseConfig, NextPurchaseModel
from recommender.models.popular import PopularConfig, PopularModel
from recommender.models.similar import SimilarConfig, SimilarItemsModel
from recommender.vocabulary import ITEM_SURFACES, Surface

FORMAT_VERSION = 3  # 2: manifest.json holds the sha256 of every file; 3: complements as follow-up probabilities
SURFACE_MODEL: dict[str, str] = {
    "next_purchase": "next_purchase",
    "for_you": "for_you",
    "similar": "similar",
    "complements": "complements",
    "popular": "popular",
}


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
    # what a browsing event counts in the collaborative "for you" models (``recs train --events``)
    events: EventWeights = Field(default_factory=EventWeights)


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
        cls,
        history: OrderHistory,
        config: BundleConfig | None = None,
        on_step: StepHook | None = None,
        only: Collection[str] | None = None,
        complete: bool = True,
    ) -> ModelBundle:
        """Fit every model on ``history`` (or just those named in ``only``; ALS always, as the others build on
        it). ALS is fitted once and shared by for-you and next purchase.

        ``complete`` computes every per-customer list during the fit (what saving and publishing need, and
        where the training job runs it beside the evaluation); ``False`` leaves next purchase's neighbour lists
        to be computed for the customers asked for (an evaluation that scores some customers only)."""
        cfg = config or BundleConfig()
        step = on_step or (lambda _name: None)

        def wanted(name: str) -> bool:
            return only is None or name in only

        models: dict[str, Recommender] = {}
        if wanted("popular"):
            step("popular")
            models["popular"] = PopularModel(cfg.popular).fit(history)
        step("collaborative")
        collaborative = CollaborativeModel(cfg.collaborative).fit(history)
        models["collaborative"] = collaborative
        if wanted("for_you"):
            step("for_you")
            blend_cfg = cfg.for_you.model_copy(update={"collaborative": cfg.collaborative})
            with contextlib.suppress(CatalogTooLargeError):  # then for_you is ALS alone (see ``surface_model``)
                models["for_you"] = BlendModel(blend_cfg, collaborative=collaborative).fit(history)
        if wanted("similar"):
            step("similar")
            models["similar"] = SimilarItemsModel(cfg.similar).fit(history)
        if wanted("complements"):
            step("complements")
            models["complements"] = ComplementsModel(cfg.complements).fit(history)
        if wanted("next_purchase"):
            step("next_purchase")
            np_cfg = cfg.next_purchase.model_copy(update={"collaborative": cfg.collaborative})
            next_purchase = NextPurchaseModel(np_cfg, collaborative=collaborative).fit(history)
            if complete:
                next_purchase.complete()
            models["next_purchase"] = next_purchase
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
        """Write every file, then ``manifest.json`` last, with the sha256 of each file (see ``load``)."""
        directory = Path(directory)
        (directory / "models").mkdir(parents=True, exist_ok=True)
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
        manifest = {
            "format_version": FORMAT_VERSION,
            "models": sorted(self.models),
            "fitted_until": self.fitted_until,
            "created_at": self.created_at,
            "n_customers": len(self.customers),
            "n_items": len(self.items),
            "files": file_digests(directory, bundle_files(sorted(self.models))),
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> ModelBundle:
        """Read a bundle written by ``save``; ``ModelFileError`` names what is missing, damaged or changed.

        Every file is checked against the sha256 in ``manifest.json`` before it is read
        (``ChecksumMismatchError``), then each part is checked for what a consistent bundle holds: known
        models, id maps and catalog of the sizes the models were fitted with, indices in range. No pickle.
        """
        directory = Path(directory)
        manifest = read_json_object(directory / MANIFEST)
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{directory}: bundle format {manifest.get('format_version')!r} is not supported (this version reads "
                f"{FORMAT_VERSION}): retrain it with recs train"
            )
        names = _model_names(directory, manifest.get("models"))
        verify_digests(directory, manifest.get("files"), bundle_files(names))
        customers = _load_ids(directory / "customers.json")
        items = _load_ids(directory / "items.json")
        catalog = _load_catalog(directory / "catalog.npz", _load_ids(directory / "categories.json"), len(items))
        models = {name: MODEL_CLASSES[name].load(directory / "models" / name) for name in names}
        _attach_shared_als(models)
        for name, model in models.items():
            if (model.n_customers, model.n_items) != (len(customers), len(items)):
                raise ModelFileError(f"{directory}: model {name} does not match the bundle's id maps")
        try:
            sizes = (int(manifest["n_customers"]), int(manifest["n_items"]))  # type: ignore[call-overload]
            fitted_until = int(manifest["fitted_until"])  # type: ignore[call-overload]
            created_at = float(manifest["created_at"])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{directory / MANIFEST}: missing or invalid field {exc}") from exc
        if sizes != (len(customers), len(items)):
            raise ModelFileError(f"{directory}: manifest.json's sizes {sizes} do not match the id maps")
        return cls(customers, items, catalog, models, fitted_until=fitted_until, created_at=created_at)


def _attach_shared_als(models: dict[str, Recommender]) -> None:
    """The for-you blend reuses the bundle's ALS and does not store it twice: hand it back after loading."""
    blend = models.get("for_you")
    if isinstance(blend, BlendModel) and blend.needs_collaborative:
        collaborative = models.get("collaborative")
        if not isinstance(collaborative, CollaborativeModel):
            raise ModelFileError("the for_you model shares an ALS the bundle does not hold")
        blend.attach_collaborative(collaborative)


MANIFEST = "manifest.json"
MODEL_CLASSES: dict[str, type[Recommender]] = {
    "popular": PopularModel,
    "collaborative": CollaborativeModel,
    "for_you": BlendModel,
    "similar": SimilarItemsModel,
    "complements": ComplementsModel,
    "next_purchase": NextPurchaseModel,
}
# what ``fit`` always produces ("for_you" is absent when the catalog is too large for EASE)
REQUIRED_MODELS = ("popular", "collaborative", "similar", "complements", "next_purchase")


def bundle_files(models: Sequence[str]) -> list[str]:
    """Every file of a saved bundle with these models, relative to its directory (the manifest aside)."""
    files = ["customers.json", "items.json", "categories.json", "catalog.npz"]
    return files + [f"models/{name}/{file}" for name in models for file in (ARRAYS_FILE, CONFIG_FILE)]


def _model_names(directory: Path, names: object) -> list[str]:
    """The manifest's model list, checked: known models, each once, the required ones present."""
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ModelFileError(f"{directory}: manifest.json's 'models' is not a list of names")
    unknown = sorted(set(names) - set(MODEL_CLASSES))
    missing = sorted(set(REQUIRED_MODELS) - set(names))
    if unknown or missing or len(set(names)) != len(names):
        raise ModelFileError(
            f"{directory}: manifest.json lists models {names}: unknown {unknown or 'none'}, missing {missing or 'none'}"
        )
    return names


def _load_ids(path: Path) -> IdMap:
    ids = read_json(path)
    if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
        raise ModelFileError(f"{path}: expected a JSON list of id strings")
    try:
        return IdMap(ids)
    except ValueError as exc:  # a duplicate id
        raise ModelFileError(f"{path}: {exc}") from exc


def _load_catalog(path: Path, categories: IdMap, n_items: int) -> Catalog:
    """The catalog arrays, checked: one row per item, category indices within ``categories``, plain dtypes."""
    arrays = read_arrays(path)
    kinds = {"category": "i", "name": "U", "in_stock": "b", "price": "f"}
    for name, kind in kinds.items():
        array = arrays.get(name)
        if array is None or array.shape != (n_items,) or array.dtype.kind != kind:
            found = "nothing" if array is None else f"{array.dtype} {array.shape}"
            raise ModelFileError(f"{path}: {name} must be {n_items} values of kind {kind!r}, found {found}")
    try:
        check_indices("catalog", "category", arrays["category"], len(categories), missing_ok=True)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    return Catalog(
        categories=categories,
        category=arrays["category"].astype(np.int32),
        name=arrays["name"],
        in_stock=arrays["in_stock"],
        price=arrays["price"].astype(np.float32),
    )
