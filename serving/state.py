"""The in-process holder of the active version: its small tables (``VersionTables``), reloaded on change.

Every request's Redis pipeline also reads ``recs:active``; when it names another version than the one
held, ``sync`` loads the new version's tables (one MGET) under an ``asyncio.Lock`` so that concurrent
requests load it once. A request answers with the tables it started with, from keys of that same
version (an old version stays readable for the publish grace period): no answer mixes two versions.

During an experiment (``serving.experiments``) the state also holds the experiment and the challenger's
tables: every customer read returns ``recs:experiment`` as stored, and ``sync_experiment`` loads the
challenger's tables when it changed; ``arm`` picks the tables a customer's answer comes from.

The live catalog (``serving.catalog_store``) is followed the same way: every read also returns its stamp,
and ``sync_catalog`` reads the records changed since the stamp held and applies them to the held tables
(``serving.catalog_overlay``), the champion's and the challenger's; a version loaded later gets every record.

The state also holds the buffer of events accepted while Redis was unreachable (``serving.event_buffer``);
``sync`` follows every successful Redis read, so it nudges the buffer's flusher when events are waiting.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from recommender.request_time import item_labels
from serving import catalog_store
from serving.cache import CacheReader, VersionIncompleteError, VersionTables
from serving.catalog_overlay import apply_records
from serving.event_buffer import EventBuffer, PendingEvent
from serving.experiments.config import BadExperimentError, Experiment, Variant, variant_of
from serving.feedback import store
from serving.feedback.answers import AnswerRecorder
from serving.feedback.ingest import GroupCommit, encode
from serving.metrics import Metrics
from serving.rules_store import HeldRules
from serving.settings import ServingSettings

log = logging.getLogger(__name__)


DEFAULT_WINDOW_DAYS = 14.0  # when a version's meta does not say the complements' window


def model_version_label(tables: VersionTables) -> str:
    """``<registered model version>@<publish version>``, e.g. ``3@20250101T120000Z-ab12``."""
    return f"{tables.meta.get('model_version', '?')}@{tables.version}"


def settle_heap() -> None:
    """Collect garbage once, then exempt every object alive now (imports, the version's tables) from later
    collections (``gc.freeze``): the cyclic collector's full passes would otherwise walk them again and
    again, pausing requests for tens of milliseconds (the p99). Objects freed later by reference counting
    are still freed."""
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class Active:
    """A loaded version (with the live catalog applied) and what requests derive from it once: display
    labels, the version label, the item answers rendered so far (``ItemAnswers``), which items may be shown
    (``listed``; ``available``: listed and in stock, the default filter) and ``fill``, every item in the
    order a filtered answer is filled in last (the popular list, then each category's, then the others)."""

    tables: VersionTables
    labels: np.ndarray  # display label per item index (name, else id)
    model_version: str
    window_days: float
    item_answers: ItemAnswers
    listed: np.ndarray
    available: np.ndarray
    fill: np.ndarray

    @classmethod
    def of(cls, tables: VersionTables, max_item_answers: int = 0) -> Active:
        n = len(tables.item_ids)
        listed = np.ones(n, dtype=bool) if tables.listed is None else tables.listed
        ranked = [tables.popular_items, *(items for items, _ in tables.popular_by_category.values())]
        order = np.concatenate([*ranked, np.arange(n, dtype=np.int32)]).astype(np.int32)
        _, first = np.unique(order, return_index=True)
        return cls(
            tables=tables,
            labels=item_labels(tables.item_ids, tables.names),
            model_version=model_version_label(tables),
            window_days=float(tables.meta.get("complements_window_days", DEFAULT_WINDOW_DAYS)),
            item_answers=ItemAnswers(max_item_answers),
            listed=listed,
            available=listed & tables.in_stock,
            fill=order[np.sort(first)],
        )

    @property
    def version(self) -> str:
        return self.tables.version


@dataclass(frozen=True)
class RenderedItems:
    """An item answer's ``items`` as JSON, why it is a fallback (None: it is not), and the items' ids."""

    items: bytes
    cause: str | None
    item_ids: tuple[str, ...] = ()  # the items' ids, best first (what the answer shows, for its record)
    rules: tuple[str, ...] = ()  # the merchandising rules that touched it


class ItemAnswers:
    """Rendered item answers (complements, similar) of one version, kept in process after their first read.

    An item answer depends on the version, the item and ``k`` only, and a version never changes: the next
    request for the item reads nothing from Redis and merges nothing. Bounded at ``capacity`` answers (the
    oldest goes first; about 1 kB each at k=10); only items of the version's catalog and the one shared
    answer for unknown items (index -1) are kept, so ids made up by clients cannot fill it. A new version
    starts empty.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._answers: dict[tuple[str, int, int], RenderedItems] = {}

    def get(self, surface: str, item: int, k: int) -> RenderedItems | None:
        return self._answers.get((surface, item, k))

    def put(self, surface: str, item: int, k: int, answer: RenderedItems) -> None:
        if self.capacity <= 0:
            return
        if len(self._answers) >= self.capacity:
            del self._answers[next(iter(self._answers))]
        self._answers[(surface, item, k)] = answer

    def __len__(self) -> int:
        return len(self._answers)


@dataclass(frozen=True)
class LiveExperiment:
    """The experiment being served: its definition and the challenger's loaded version."""

    config: Experiment
    challenger: Active


@dataclass(frozen=True)
class Arm:
    """The version one answer comes from, and the experiment and variant it is part of (None: none)."""

    active: Active
    experiment: str | None = None
    variant: Variant | None = None


@dataclass
class ServingState:
    """Per app: settings, the Redis reader, metrics, the tables of the version held in memory, the events
    waiting for Redis, and the feedback writers (answer records, the events' group commit)."""

    settings: ServingSettings
    reader: CacheReader
    metrics: Metrics
    events: EventBuffer
    active: Active | None = None
    problem: str | None = "no version loaded yet"  # why the held tables are missing or stale, for /readyz
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _checked_at: float = float("-inf")
    _failed: tuple[str, float] | None = None  # a version that could not be loaded, and when
    answers: AnswerRecorder = field(init=False)
    commit: GroupCommit = field(init=False)
    experiment: LiveExperiment | None = None
    _experiment_raw: bytes | None = None  # recs:experiment as last synced (None: no experiment)
    _experiment_failed: tuple[bytes, float] | None = None  # an experiment whose challenger could not load
    rules: HeldRules = field(default_factory=HeldRules)  # merchandising rules (``serving.rules_store``)
    catalog: dict[str, dict[str, object]] = field(default_factory=dict)  # the live catalog's records
    catalog_stamp: int | None = None  # the stamp they are as of (None: not read yet)

    def __post_init__(self) -> None:
        self.answers = AnswerRecorder(self.write_answers)
        self.commit = GroupCommit(self.write_events)

    @property
    def retention(self) -> store.Retention:
        cfg = self.settings
        return store.Retention(
            events_max=cfg.events_max,
            events_ttl=cfg.events_ttl_seconds,
            log_max_length=cfg.event_log_max_length,
            log_max_age=int(cfg.event_log_max_age_days * 86400),
            window=cfg.attribution_window_seconds,
            kpi_ttl=cfg.kpi_retention_days * 86400,
            answer_ttl=cfg.answer_ttl_seconds,
        )

    async def sync(self, active: str | None) -> Active | None:
        """Make the held version match ``active`` (the one Redis names now); returns the held version.

        ``None`` (nothing published) drops the held tables. A version whose tables are incomplete (a
        publish that did not finish, or an expired one) keeps the held tables and records the problem.
        Redis errors propagate (``serving.cache.RedisUnavailable``).
        """
        self._checked_at = now = time.monotonic()
        self.events.nudge()  # Redis answered: buffered events can go now
        if self._held() == active or self._failed_recently(active, now):
            return self.active
        async with self._lock:
            if self._held() != active:
                await self._load(active)
        return self.active

    async def refresh(self) -> Active | None:
        """Ask Redis for the active version, the experiment and the catalog's stamp (one MGET); sync to all."""
        active, experiment, stamp = await self.reader.pointers()
        await self.sync_catalog(stamp)
        held = await self.sync(active)
        await self.sync_experiment(experiment)
        return held

    def follows_catalog(self, stamp: bytes | None) -> bool:
        """The held records are as of ``stamp`` (``recs:catalog:stamp``, as read)."""
        return self.catalog_stamp == catalog_store.stamp_of(stamp)

    async def sync_catalog(self, stamp: bytes | None) -> None:
        """Apply the live catalog's records changed since the held stamp (all of them on the first call, or
        when the stamp went back: Redis lost its data) to the held tables. Redis errors propagate."""
        if self.follows_catalog(stamp):
            return
        async with self._lock:
            if self.follows_catalog(stamp):
                return
            held = self.catalog_stamp
            since = held if held is not None and held <= catalog_store.stamp_of(stamp) else None
            changes = await catalog_store.read_changes(self.reader.client, since)
            if changes.full:
                self.catalog = changes.records
                if held is not None and self.active is not None:  # records may have gone: start from the version
                    self._apply(await self.reader.load_tables(self.active.version), self.catalog)
                    self.catalog_stamp = changes.stamp
                    return
            else:
                self.catalog.update(changes.records)
            if self.active is not None:
                self._apply(self.active.tables, changes.records)
            self.catalog_stamp = changes.stamp
            log.info("live catalog at stamp %d: %d records applied", changes.stamp, len(changes.records))

    def _apply(self, tables: VersionTables, records: Mapping[str, Mapping[str, object]]) -> None:
        """Hold ``tables`` with ``records`` applied (the challenger's too, when an experiment runs)."""
        self.active = Active.of(apply_records(tables, records), self.settings.item_answer_cache)
        live = self.experiment
        if live is not None:
            challenger = apply_records(live.challenger.tables, records)
            self.experiment = LiveExperiment(live.config, Active.of(challenger, self.settings.item_answer_cache))

    async def sync_experiment(self, raw: bytes | None) -> None:
        """Make the held experiment match ``raw`` (``recs:experiment`` as Redis holds it now).

        A definition that does not parse, or whose challenger version cannot be loaded (retried every
        ``version_check_seconds``), leaves no experiment held: every customer gets the champion, and the
        problem is logged. Redis errors propagate."""
        if raw == self._experiment_raw:
            return
        now = time.monotonic()
        failed = self._experiment_failed
        if failed is not None and failed[0] == raw and now - failed[1] < max(self.settings.version_check_seconds, 0.1):
            return
        async with self._lock:
            if raw == self._experiment_raw:
                return
            if raw is None:
                self.experiment, self._experiment_raw = None, None
                log.info("experiment ended")
                return
            try:
                config = Experiment.from_json(raw)
                tables = await self.reader.load_tables(config.challenger_version)
            except (BadExperimentError, VersionIncompleteError) as exc:
                log.warning("experiment not served, every customer gets the champion: %s", exc)
                self.experiment, self._experiment_failed = None, (raw, now)
                return
            tables = apply_records(tables, self.catalog)
            self.experiment = LiveExperiment(config, Active.of(tables, self.settings.item_answer_cache))
            self._experiment_raw, self._experiment_failed = raw, None
            settle_heap()
            log.info(
                "experiment %s: challenger %s for %.0f%% of customers", config.name, tables.version, 100 * config.share
            )

    def arm(self, active: Active, surface: str, customer_id: str | None) -> Arm:
        """The version ``customer_id``'s answer on ``surface`` comes from: the challenger's for customers in
        its group when an experiment runs on ``surface``, else ``active`` (the champion)."""
        live = self.experiment
        if live is None or customer_id is None or surface not in live.config.surfaces:
            return Arm(active)
        variant = variant_of(live.config, customer_id)
        return Arm(live.challenger if variant == "challenger" else active, live.config.name, variant)

    async def current(self, *, check_stale: bool = True) -> Active | None:
        """The version to answer with: the held one, after a check of Redis when none is held or (with
        ``check_stale``, for routes that read nothing else from Redis) the last check is older than
        ``version_check_seconds``. Redis errors propagate."""
        stale = check_stale and time.monotonic() - self._checked_at >= self.settings.version_check_seconds
        if self.active is None or stale:
            return await self.refresh()
        return self.active

    async def write_events(self, events: Sequence[PendingEvent]) -> None:
        """Store events, oldest first, with one script call within the request budget (the log, the
        customers' recent events, attribution, KPIs; ``serving.feedback.store``). The answers recorded so
        far go first, so that a click finds the answer it names."""
        async with asyncio.timeout(self.settings.request_timeout_seconds):
            await self.answers.flush()
            credits = await store.write_events(
                self.reader.client, [encode(e) for e in events], self.retention, time.time()
            )
        self.metrics.credit(credits)

    async def write_answers(self, answers: Sequence[bytes], counts: Mapping[tuple[int, str], int]) -> None:
        """Store answer records and add answer counts (``serving.feedback.answers``), within the request budget."""
        async with asyncio.timeout(self.settings.request_timeout_seconds):
            await store.write_answers(self.reader.client, answers, counts, self.retention)
        self.metrics.count_answers(counts)

    def _failed_recently(self, active: str | None, now: float) -> bool:
        """``active`` failed to load less than ``version_check_seconds`` ago (do not retry on every request)."""
        return (
            self._failed is not None
            and self._failed[0] == active
            and now - self._failed[1] < max(self.settings.version_check_seconds, 0.1)
        )

    def follows(self, experiment: bytes | None) -> bool:
        """The held experiment is the one ``recs:experiment`` holds (``experiment``, as read)."""
        return experiment == self._experiment_raw

    def holds(self, version: str | None) -> bool:
        """The held tables are those of ``version`` (a published one)."""
        return version is not None and self._held() == version

    def _held(self) -> str | None:
        return self.active.version if self.active is not None else None

    async def _load(self, active: str | None) -> None:
        if active is None:
            self._set(None, "no version is published (recs:active is unset)")
            return
        try:
            tables = await self.reader.load_tables(active)
        except VersionIncompleteError as exc:
            log.warning("active version not loadable, keeping %s: %s", self._held(), exc)
            self.problem = str(exc)
            self._failed = (active, time.monotonic())
            return
        self._set(Active.of(apply_records(tables, self.catalog), self.settings.item_answer_cache), None)
        settle_heap()
        log.info("loaded version %s (%d items)", active, len(tables.item_ids))

    def _set(self, active: Active | None, problem: str | None) -> None:
        self.active = active
        self.problem = problem
        if active is None:
            self.metrics.set_active(None)
        else:
            meta = active.tables.meta
            name = str(meta.get("model_name", self.settings.model_name))
            self.metrics.set_active(active.version, name, str(meta.get("model_version", "")))
