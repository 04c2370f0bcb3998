"""Settings of the HTTP service, read from ``RECS_*`` environment variables (pydantic-settings).

``create_app(settings)`` takes one instance; nothing reads the environment at import time. ``redis_url``
may be unset: ``recs serve`` then starts an embedded Redis server and passes its URL in. API keys are
``SecretStr`` (comma-separated lists), so they never show in a repr, a log line or a traceback.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from recommender.request_time.merge import FOR_YOU_COMPLEMENTS, MIN_COMPLEMENT_SHARE
from recommender.vocabulary import DEFAULT_MODEL_NAME


def split_keys(value: SecretStr | None) -> tuple[str, ...]:
    """The keys of a comma-separated secret (blank entries dropped); ``()`` when unset or blank."""
    if value is None:
        return ()
    return tuple(key.strip() for key in value.get_secret_value().split(",") if key.strip())


class ServingSettings(BaseSettings):
    """What the service needs to run; every field has an environment variable ``RECS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="RECS_", extra="ignore", frozen=True, protected_namespaces=())

    redis_url: str | None = Field(default=None, description="Redis URL; unset: the CLI starts an embedded server")
    redis_cluster: bool = Field(
        default=False,
        description="RECS_REDIS_URL names one node of a Redis Cluster: the service and every recs command use "
        "cluster clients and the hash-tagged key layout (serving.keys)",
    )
    model_name: str = Field(
        default=DEFAULT_MODEL_NAME, description="registered model name (shown in /metrics and /readyz)"
    )
    events_max: int = Field(default=50, ge=1, le=1000, description="recent events kept per customer")
    events_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1, description="a customer's events expire after this")
    for_you_complements: int = Field(
        default=FOR_YOU_COMPLEMENTS,
        ge=0,
        le=100,
        description="for you: at most this many complements of recent purchases (each bought by at least "
        "MIN_COMPLEMENT_SHARE of its anchor's buyers), so one purchase does not take over the list",
    )
    for_you_min_complement_share: float = Field(
        default=MIN_COMPLEMENT_SHARE,
        ge=0,
        le=1,
        description="for you: a complement of a recent purchase needs at least this share of its anchor's buyers "
        "(next purchase's minimum)",
    )
    sessions: bool = Field(
        default=True,
        description="for you: items viewed or carted lead to similar items and complements (a guest's answer "
        "is personal); one more Redis round trip when the shopper has such events",
    )
    redis_socket_timeout: float = Field(default=0.5, gt=0, description="seconds one Redis command may take")
    redis_connect_timeout: float = Field(default=0.5, gt=0, description="seconds to open a Redis connection")
    request_timeout_seconds: float = Field(
        default=1.0, gt=0, description="budget for a request's Redis work; past it the answer is a fallback"
    )
    version_check_seconds: float = Field(
        default=1.0,
        ge=0,
        description="routes that read nothing from Redis (popular, held item answers) look at the active version "
        "this often",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1, description="larger request bodies get 413 (chunked ones too), before any parsing"
    )
    event_buffer_max: int = Field(
        default=10_000,
        ge=0,
        description="events accepted while Redis is unreachable, held in process until it returns; "
        "when full, events get 503 with Retry-After",
    )
    event_flush_max_backoff_seconds: float = Field(
        default=1.0, gt=0, description="longest pause between attempts to flush buffered events to Redis"
    )
    event_spool_dir: Path | None = Field(
        default=None,
        description="where a stopping process writes events it could not flush (JSON lines); the next start "
        "reads them back. Unset: they are logged at ERROR level instead",
    )
    max_batch_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1, description="the body limit of POST /v1/events/batch (up to 1,000 events)"
    )
    record_answers: bool = Field(
        default=True,
        description="record what each list answer showed (for attribution and the KPIs); off: clicks and "
        "purchases are counted in the funnel only",
    )
    answer_ttl_seconds: int = Field(
        default=3600, ge=1, description="how long an answer's record is kept: later clicks on it are not attributed"
    )
    attribution_window_seconds: int = Field(
        default=24 * 3600,
        ge=1,
        description="a purchase is attributed to the customer's last click on the item within this many seconds "
        "before it; also how long a cart stays open without a purchase before it counts as abandoned",
    )
    event_log_max_length: int = Field(
        default=1_000_000, ge=1, description="events kept in the event log (the stream recs:log), about"
    )
    event_log_max_age_days: float = Field(default=30, gt=0, description="events older than this leave the event log")
    kpi_retention_days: int = Field(default=90, ge=1, description="hourly KPI counters expire after this many days")
    item_answer_cache: int = Field(
        default=50_000,
        ge=0,
        description="item answers (complements, similar, per k; about 1 kB each at k=10) kept in process per "
        "version after their first read; 0 reads Redis every time",
    )
    diversity_cap: int = Field(
        default=0,
        ge=0,
        le=100,
        description="at most this many items of one category in an answer's top k, on the surfaces of "
        "RECS_DIVERSITY_SURFACES (later ones move down); 0: no cap",
    )
    diversity_surfaces: str = Field(
        default="for_you,next_purchase,popular,complements,cart",
        pattern=r"^[a-z_, ]*$",
        description="comma-separated surfaces the diversity cap applies to",
    )
    fast_path: bool = Field(
        default=True,
        description="answer well-formed GETs of the list routes without FastAPI's per-request machinery "
        "(serving.fast_path); the answers are the same",
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry hooks (tracing, metrics, logs to the configured providers); "
        "off by default: /metrics serves Prometheus, and the hooks cost a provider lookup per request",
    )
    api_keys: SecretStr | None = Field(
        default=None, description="comma-separated keys; when set, every /v1 route needs one in X-API-Key"
    )
    event_api_keys: SecretStr | None = Field(
        default=None,
        description="comma-separated write keys; when set, POST /v1/events needs one of these (read keys get 403)",
    )

    @property
    def read_keys(self) -> tuple[str, ...]:
        return split_keys(self.api_keys)

    @property
    def write_keys(self) -> tuple[str, ...]:
        return split_keys(self.event_api_keys)

    def diversity_cap_on(self, surface: str) -> int:
        """The diversity cap of ``surface`` (0: none)."""
        surfaces = {name.strip() for name in self.diversity_surfaces.split(",")}
        return self.diversity_cap if surface in surfaces else 0
