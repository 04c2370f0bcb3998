"""Request and response bodies of the v1 HTTP API (pydantic); they are what /docs shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_K = 100
MAX_ITEMS = 100
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
EventType = Literal["purchase", "add_to_cart", "view"]


class RecommendedItem(BaseModel):
    item_id: str
    score: float = Field(description="higher is better; comparable within one list only")
    reason: str = Field(description='short and human, e.g. "bought by 23% of tent buyers within 14 days"')


class RecommendationList(BaseModel):
    model_version: str = Field(description="<registered model version>@<publish version>")
    recommendation_id: str = Field(description="uuid4 hex: send it back with clicks and orders for attribution")
    fallback: bool = Field(description="true when this is not the personalized answer (unknown id, outage...)")
    items: list[RecommendedItem] = Field(description="best first")


class CustomerRecommendations(RecommendationList):
    customer_id: str


class ItemRecommendations(RecommendationList):
    item_id: str


class CartRecommendations(RecommendationList):
    customer_id: str | None
    item_ids: list[str] = Field(description="the cart the list completes (with the customer's recent cart adds)")


class PopularRecommendations(RecommendationList):
    category: str | None


class CartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[ExternalId] = Field(min_length=1, max_length=MAX_ITEMS)
    customer_id: ExternalId | None = None
    k: int = Field(default=10, ge=1, le=MAX_K)


class EventIn(BaseModel):
    """A storefront event; item ids unknown to the published version are kept (they may be new items)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: ExternalId
    type: EventType
    item_ids: list[ExternalId] = Field(min_length=1, max_length=MAX_ITEMS)
    timestamp: datetime | None = Field(
        default=None, description="ISO-8601 (UTC when no offset is given) or Unix seconds; default: now"
    )

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def unix_time(self, now: float) -> int:
        return int(self.timestamp.timestamp()) if self.timestamp is not None else int(now)


class EventAccepted(BaseModel):
    customer_id: str
    type: EventType
    at: int = Field(description="the event time, Unix seconds")
    item_ids: list[str]


class Problem(BaseModel):
    """A non-2xx answer with a reason (503 of /readyz and /v1/events)."""

    status: str
    reason: str
