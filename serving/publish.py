"""The publish step: precompute every ranked list of a trained bundle into Redis, then switch atomically.

``publish_bundle`` writes a whole new version through ``serving.cache.VersionWriter``:

- hashes ``for_you`` and ``next_purchase`` (customer id -> packed top-k), ``complements`` and ``similar``
  (item id -> packed top-k); a packed entry's reason is a complement's share of anchor buyers
  (``n_AB / n_A``), a repeat item's interval in days, or -1. Empty lists are not stored: a missing field
  means "unknown", and serving falls back;
- blobs ``items`` (item ids in index order), ``catalog`` and ``popular`` (npz), and ``meta`` (JSON),
  written last of all.

Only when everything is written does one SET flip ``recs:active`` to the new version; the previous one
then expires after a grace period, and versions left unfinished by crashed publishes are deleted. A
publish that dies halfway therefore leaves the previous version serving, untouched.

Lists are computed ``chunk_size`` queries at a time, each chunk split over ``RANK_THREADS`` threads (the
models rank in numpy, scipy and implicit, which release the GIL; BLAS is held to one thread, so two
threads use two cores), and packed with ``cache.pack_rows``. One writer thread sends each chunk's HSETs
while the next chunk is ranked: at most one chunk is in flight, chunks are written in order, and
``progress`` is called, from the publishing thread, once a chunk is written. No Python loop runs per
customer beyond slicing the packed bytes. The CLI fetches the bundle (through ``training.tracking``) and
hands it here with a synchronous Redis client.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import redis
from threadpoolctl import threadpool_limits

from recommender.base import Ranked, Recommender
from recommender.bundle import ModelBundle
from recommender.errors import ModelFileError, RecommenderError
from recommender.models.collaborative import CollaborativeModel
from recommender.models.complements import ComplementsModel
from recommender.models.next_purchase import NextPurchaseModel
from recommender.models.popular import PopularModel
from recommender.models.similar import SimilarItemsModel
from recommender.vocabulary import SURFACES
from serving.cache import npz_bytes, pack_rows
from serving.experiments.store import live_challenger_version
from serving.version_writer import VersionWriter, cleanup_versions

Progress = Callable[[str, int], None]
"""``progress(step, done)``: ``step`` is a surface (``done`` = queries written so far) or a blob name."""

# queries per chunk: bounds the memory of one chunk (20k x k=100 entries is 24 MB packed; two chunks live
# at once, one being written and one being ranked)
DEFAULT_CHUNK = 20_000
RANK_THREADS = 2  # threads ranking the parts of one chunk
# a Recommender subclass, for the typed model lookup
M = TypeVar("M", bound=Recommender)


class IncompleteBundleError(ModelFileError):
    """The bundle lacks a model that publish needs, or holds one of another kind."""


class InconsistentBundleError(ModelFileError):
    """The bundle's parts disagree (sizes, catalog), or a model fails on a trial query: nothing is written."""


@dataclass(frozen=True)
class PublishReport:
    """What one publish wrote: the new version, the one it replaced, list counts, time and size."""

    version: str
    previous_version: str | None
    counts: dict[str, int]  # stored (non-empty) lists per surface
    seconds: float
    bytes_written: int  # approximate: hash fields + values + blobs
    removed_versions: list[str] = field(default_factory=list)  # unfinished or superseded versions deleted


def new_version_id(now: float | None = None) -> str:
    """A sortable version id: UTC time to the millisecond plus a short random suffix."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return f"{moment:%Y%m%dT%H%M%S}{moment.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def model_of(bundle: ModelBundle, name: str, kind: type[M]) -> M:
    """The bundle's model ``name``, checked to be a ``kind``."""
    model = bundle.models.get(name)
    if not isinstance(model, kind):
        found = "nothing" if model is None else type(model).__name__
        raise IncompleteBundleError(f"the bundle's model {name!r} must be a {kind.__name__}, found {found}")
    return model


# before anything is written ------------------------------------------------------------------------------
TRIAL_QUERIES = 8  # the first and last few customers or items every surface answers before publishing


def check_publishable(bundle: ModelBundle, k: int) -> None:
    """Refuse, before a single write, a bundle whose models, id maps and catalog disagree, or whose
    models fail or answer out-of-range items on a few trial queries (first and last customers and items).
    """
    n_customers, n_items = len(bundle.customers), len(bundle.items)
    for name, model in bundle.models.items():
        if (model.n_customers, model.n_items) != (n_customers, n_items):
            raise InconsistentBundleError(
                f"the bundle's model {name!r} was fitted on {model.n_customers} customers x {model.n_items} items, "
                f"the bundle has {n_customers} x {n_items}"
            )
    catalog = bundle.catalog
    if any(len(a) != n_items for a in (catalog.category, catalog.name, catalog.in_stock, catalog.price)):
        raise InconsistentBundleError(f"the bundle's catalog does not describe its {n_items} items")
    for surface in SURFACES:
        model = bundle.surface_model(surface)
        n = n_customers if model.query_kind == "customer" else n_items
        queries = np.unique(np.r_[np.arange(min(n, TRIAL_QUERIES)), np.arange(max(n - TRIAL_QUERIES, 0), n)])
        try:
            ranked = model.recommend(queries, k)
        except (RecommenderError, IndexError, ValueError) as exc:
            raise InconsistentBundleError(f"the bundle's {surface} model fails on a trial query: {exc!r}") from exc
        if ranked.items.size and (int(ranked.items.min()) < -1 or int(ranked.items.max()) >= n_items):
            raise InconsistentBundleError(f"the bundle's {surface} model answers items outside its {n_items} items")
        check_scores(surface, ranked)


def check_scores(surface: str, ranked: Ranked) -> None:
    """Refuse NaN or infinite scores on listed items (they would make the API's JSON invalid)."""
    if not np.isfinite(ranked.scores[ranked.items >= 0]).all():
        raise InconsistentBundleError(f"the bundle's {surface} model gives NaN or infinite scores")


# one surface -------------------------------------------------------------------------------------------
Reasons = Callable[[np.ndarray, Ranked], np.ndarray | None]
"""``reasons(queries, ranked) -> (n, k) float32``: the reason number of every ranked entry (None: all -1)."""


def no_reasons(queries: np.ndarray, ranked: Ranked) -> None:
    """Surfaces without a reason number (packed as -1)."""
    return None


def pair_reasons(score_pairs: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Reasons:
    """Reasons from a vectorized ``f(queries, items) -> float32`` over every (query, ranked item) pair."""

    def reasons(queries: np.ndarray, ranked: Ranked) -> np.ndarray:
        rows = np.repeat(queries, ranked.items.shape[1])
        return score_pairs(rows, ranked.items.ravel()).reshape(ranked.items.shape)

    return reasons


def rank_part(
    surface: str, model: Recommender, ids: np.ndarray, queries: np.ndarray, k: int, reasons: Reasons
) -> tuple[list[str], list[bytes], int]:
    """The non-empty packed lists of ``queries``: (fields, values, approximate bytes)."""
    ranked = model.recommend(queries, k)
    check_scores(surface, ranked)  # raising here leaves the new version unfinished: the old one serves
    keep = np.flatnonzero(ranked.items[:, 0] >= 0)  # rows are best first: an empty row starts with -1
    why = reasons(queries, ranked)
    packed = pack_rows(ranked.items[keep], ranked.scores[keep], None if why is None else why[keep])
    names = ids[queries[keep]]
    return names.tolist(), packed, sum(map(len, packed)) + int(np.char.str_len(names).sum())


class ChunkWriter:
    """Writes chunks of one version's hashes in a background thread, one chunk in flight at a time.

    ``submit`` first waits for the chunk before (reporting it to ``progress``), then hands the new one to
    the writer thread and returns, so the caller ranks the next chunk while this one is sent. ``finish``
    waits for the last chunk. Chunks are written and reported in the order they are submitted; a Redis
    error surfaces at the next ``submit`` or at ``finish``.
    """

    def __init__(self, writer: VersionWriter, progress: Progress) -> None:
        self.writer = writer
        self.progress = progress
        self.stored: dict[str, int] = {}
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish-writer")
        self._pending: tuple[Future[int], str, int] | None = None

    def submit(self, surface: str, fields: list[str], values: list[bytes], done: int) -> None:
        self.finish()
        self._pending = (self._thread.submit(self.writer.put_hash, surface, fields, values), surface, done)

    def finish(self) -> None:
        if self._pending is None:
            return
        future, surface, done = self._pending
        self._pending = None
        self.stored[surface] = self.stored.get(surface, 0) + future.result()
        self.progress(surface, done)

    def close(self) -> None:
        """Stop the writer thread once the chunk in flight, if any, is written (not reported)."""
        self._thread.shutdown(wait=True)


def write_surface(
    chunks: ChunkWriter,
    ranking: ThreadPoolExecutor,
    threads: int,
    surface: str,
    model: Recommender,
    ids: np.ndarray,
    k: int,
    reasons: Reasons,
    chunk_size: int,
) -> int:
    """Hand every query's top-``k`` of ``surface`` to ``chunks``, a chunk at a time, each chunk ranked in
    ``threads`` parts on ``ranking``; returns the bytes."""
    written = 0
    for start in range(0, len(ids), chunk_size):
        queries = np.arange(start, min(start + chunk_size, len(ids)), dtype=np.int64)
        parts = [part for part in np.array_split(queries, threads) if len(part)]
        ranked = [ranking.submit(rank_part, surface, model, ids, part, k, reasons) for part in parts]
        fields: list[str] = []
        values: list[bytes] = []
        for future in ranked:
            part_fields, part_values, n_bytes = future.result()
            fields += part_fields
            values += part_values
            written += n_bytes
        chunks.submit(surface, fields, values, int(queries[-1]) + 1)
    return written


# blobs -------------------------------------------------------------------------------------------------
def catalog_blob(bundle: ModelBundle, next_purchase: NextPurchaseModel) -> bytes:
    """npz: category, categories, in_stock, price, name, and category_repeat_rate when the model has it."""
    catalog = bundle.catalog
    arrays: dict[str, np.ndarray] = {
        "category": np.asarray(catalog.category, dtype=np.int32),
        "categories": np.asarray(catalog.categories.ids, dtype=str),
        "in_stock": np.asarray(catalog.in_stock, dtype=bool),
        "price": np.asarray(catalog.price, dtype=np.float32),
        "name": np.asarray(catalog.name, dtype=str),
    }
    rate = next_purchase.category_repeat_rate
    if rate is not None and len(rate) == len(catalog.categories) > 0:
        arrays["category_repeat_rate"] = np.asarray(rate, dtype=np.float32)
    return npz_bytes(**arrays)


def popular_blob(popular: PopularModel, n_categories: int, k: int) -> bytes:
    """npz: the overall top-``k`` (items, scores) and every category's top-``k`` as CSR-like arrays."""
    items, scores = popular.top(k)
    per_category = [popular.top(k, category=c) for c in range(n_categories)]  # one call per category
    lengths = [len(c_items) for c_items, _ in per_category]
    empty_items, empty_scores = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
    return npz_bytes(
        items=items.astype(np.int32),
        scores=scores.astype(np.float32),
        category_indptr=np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64),
        category_items=np.concatenate([empty_items] + [c for c, _ in per_category]).astype(np.int32),
        category_scores=np.concatenate([empty_scores] + [s for _, s in per_category]).astype(np.float32),
    )


def meta_blob(
    bundle: ModelBundle,
    complements: ComplementsModel,
    *,
    model_name: str,
    model_version: str,
    version: str,
    counts: dict[str, int],
    k: int,
) -> str:
    meta: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "version": version,
        "published_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "fitted_until": int(bundle.fitted_until),
        "counts": counts,
        "complements_window_days": int(complements.config.window_days),
        "k": k,
        "n_customers": len(bundle.customers),
        "n_items": len(bundle.items),
    }
    return json.dumps(meta, separators=(",", ":"))


# the publish -------------------------------------------------------------------------------------------
def publish_bundle(
    bundle: ModelBundle,
    client: redis.Redis,
    *,
    model_name: str,
    model_version: str,
    k: int = 100,
    grace_seconds: int = 3600,
    progress: Progress | None = None,
    version: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    activate: bool = True,
) -> PublishReport:
    """Precompute every list of ``bundle`` under a new version, then make it the active one.

    ``model_name``/``model_version`` name the registered model (stored in ``meta``); ``k`` is the list
    length per customer or item; the replaced version expires ``grace_seconds`` after the switch.
    ``version`` overrides the generated id (tests). With ``activate`` off the version is written but
    ``recs:active`` is left as it is (an experiment's challenger, ``serving.experiments``). Raises
    ``IncompleteBundleError`` for a bundle lacking a model, ``InconsistentBundleError`` for one whose parts
    disagree (both before anything is written), ``ValueError`` for bad sizes; Redis errors propagate,
    leaving the old version active.
    """
    if k < 1 or chunk_size < 1 or grace_seconds < 1:
        raise ValueError(f"k, chunk_size and grace_seconds must be positive, got {k}, {chunk_size}, {grace_seconds}")
    report = progress or (lambda _step, _done: None)
    started = time.time()
    model_of(bundle, "collaborative", CollaborativeModel)
    for_you = bundle.surface_model("for_you")  # EASE + ALS blend, or ALS alone for a large catalog
    next_purchase = model_of(bundle, "next_purchase", NextPurchaseModel)
    complements = model_of(bundle, "complements", ComplementsModel)
    similar = model_of(bundle, "similar", SimilarItemsModel)
    popular = model_of(bundle, "popular", PopularModel)
    check_publishable(bundle, k)
    version = version or new_version_id(started)
    writer = VersionWriter(client, version)
    customer_ids = np.asarray(bundle.customers.ids, dtype=str)
    item_ids = np.asarray(bundle.items.ids, dtype=str)
    plan: list[tuple[str, Recommender, np.ndarray, Reasons]] = [
        ("for_you", for_you, customer_ids, no_reasons),
        ("next_purchase", next_purchase, customer_ids, pair_reasons(next_purchase.intervals)),
        ("complements", complements, item_ids, pair_reasons(complements.shares)),
        ("similar", similar, item_ids, no_reasons),
    ]
    written = 0
    chunks = ChunkWriter(writer, report)
    # one BLAS thread for the whole publish, set here: the models' own limits then never race between threads
    with threadpool_limits(1, "blas"), ThreadPoolExecutor(RANK_THREADS, thread_name_prefix="publish-rank") as pool:
        try:
            for surface, model, ids, reasons in plan:
                written += write_surface(chunks, pool, RANK_THREADS, surface, model, ids, k, reasons, chunk_size)
            chunks.finish()
        finally:
            chunks.close()
    counts = {surface: chunks.stored.get(surface, 0) for surface, *_ in plan}
    blobs: list[tuple[str, bytes | str]] = [
        ("items", json.dumps(item_ids.tolist(), ensure_ascii=False)),
        ("catalog", catalog_blob(bundle, next_purchase)),
        ("popular", popular_blob(popular, len(bundle.catalog.categories), k)),
        (
            "meta",  # last: a version with meta has every other key
            meta_blob(
                bundle,
                complements,
                model_name=model_name,
                model_version=model_version,
                version=version,
                counts=counts,
                k=k,
            ),
        ),
    ]
    for name, value in blobs:
        writer.put_blob(name, value)
        written += len(value.encode() if isinstance(value, str) else value)
        report(name, 1)
    if not activate:
        return PublishReport(version, None, counts, time.time() - started, written)
    previous = writer.activate(grace_seconds)
    keep = {v for v in (version, previous, live_challenger_version(client)) if v}  # an experiment's too
    removed = cleanup_versions(client, keep=keep, older_than=started)
    return PublishReport(
        version=version,
        previous_version=previous,
        counts=counts,
        seconds=time.time() - started,
        bytes_written=written,
        removed_versions=removed,
    )
