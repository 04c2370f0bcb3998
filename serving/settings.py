"""Settings of the HTTP service, read from ``RECS_*`` environment variables (pydantic-settings).

``create_app(settings)`` takes one instance; nothing reads the environment at import time. ``redis_url``
may be unset: ``recs serve`` then starts an embedded Redis server and passes its URL in.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServingSettings(BaseSettings):
    """What the service needs to run; every field has an environment variable ``RECS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="RECS_", extra="ignore", frozen=True, protected_namespaces=())

    redis_url: str | None = Field(default=None, description="Redis URL; unset: the CLI starts an embedded server")
    model_name: str = Field(default="recs", description="registered model name (shown in /metrics and /readyz)")
    events_max: int = Field(default=50, ge=1, le=1000, description="recent events kept per customer")
    events_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1, description="a customer's events expire after this")
    redis_socket_timeout: float = Field(default=0.5, gt=0, description="seconds one Redis command may take")
    redis_connect_timeout: float = Field(default=0.5, gt=0, description="seconds to open a Redis connection")
    request_timeout_seconds: float = Field(
        default=1.0, gt=0, description="budget for a request's Redis work; past it the answer is a fallback"
    )
    version_check_seconds: float = Field(
        default=1.0,
        ge=0,
        description="routes that read nothing from Redis (popular) look at the active version this often",
    )
