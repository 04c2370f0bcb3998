"""Request and response bodies of the v1 HTTP API (pydantic); they are what /docs shows.

Ids are opaque text: any Unicode (slashes, NUL and spaces inside included), stripped of surrounding
whitespace like the training data's ids, 1 to 256 characters; text that is not valid Unicode (a lone
surrogate such as ``"\\ud800"`` in JSON) is a 422, since it could be neither a Redis key nor a JSON answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from recommender.vocabulary import AnswerSurface, BrowsingEventType, EventType
from serving.experiments.config import Variant

# k and offset of list answers: their ranges and defaults, declared once (the routes' query parameters and
# the cart's body use them; the fast path reads them back from the routes)
MIN_K, MAX_K, DEFAULT_K = 1, 100, 10
MIN_OFFSET, MAX_OFFSET, DEFAULT_OFFSET = 0, 1000, 0
MAX_ITEMS = 100
MAX_BATCH_EVENTS = 1_000
MAX_QUANTITY = 10_000
MAX_PRICE = 1e9
MAX_RECOMMENDATION_ID_LENGTH = 64
MAX_ID_LENGTH = 256
MAX_CATEGORY_LENGTH = 256
MAX_FILTER_VALUES = 100  # categories, or excluded items, in one request's filters
MAX_CATALOG_ITEMS = 1_000  # records in one PUT /v1/items
MAX_NAME_LENGTH = 1_000


def valid_unicode(value: str) -> str:
    """``value`` when it encodes as UTF-8; a lone surrogate (possible in JSON's ``\\u`` escapes) is refused."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("ids must be valid Unicode text (no lone surrogate code points)") from exc
    return value


# Unicode White_Space: what ids are stripped of, as the training data's ids are (polars ``strip_chars``).
WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
)
# The same rule in the schema: an id holds a character that is not White_Space (an explicit class, so that
# every regex engine reads it alike; Python's \s would also take \x1c-\x1f).
NOT_BLANK = {"pattern": "[^\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"}
IdConstraints = StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)


def stripped_id(value: object) -> object:
    """An id as sent is at most ``MAX_ID_LENGTH`` long (as the schema says); it is then stripped of ``WHITESPACE``."""
    if not isinstance(value, str):
        return value
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"String should have at most {MAX_ID_LENGTH} characters")
    return value.strip(WHITESPACE)


ExternalId = Annotated[
    str,
    IdConstraints,
    BeforeValidator(stripped_id),
    AfterValidator(valid_unicode),
    Field(json_schema_extra=NOT_BLANK),
]
RecommendationId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_RECOMMENDATION_ID_LENGTH, pattern=r"^[!-~]+$"),
    Field(description="printable ASCII without spaces, as answers give it"),
]


def json_number(value: object) -> object:
    """A JSON number only: no text (``"8"``) and no boolean (``true``), which pydantic would convert."""
    if isinstance(value, bool | str):
        raise ValueError("a JSON number is expected")
    return value


# 8 and 8.0 (JSON Schema's integers), not 8.5, "8" or true
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY), BeforeValidator(json_number)]
MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z


def iso_text(value: object) -> object:
    """The ISO-8601 branch of a timestamp takes text (or a datetime), never a number: numbers are Unix
    seconds, checked by their own branch (pydantic would read a large one as milliseconds)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
    raise ValueError(f"timestamp: an ISO-8601 date-time text, or Unix seconds as a number 0..{MAX_UNIX_SECONDS}")


IsoTime = Annotated[datetime, BeforeValidator(iso_text)]
UnixSeconds = Annotated[float, Field(strict=True, ge=0, le=MAX_UNIX_SECONDS, allow_inf_nan=False)]


class RecommendedItem(BaseModel):
    item_id: str
    score: float = Field(description="higher is better; comparable within one list only")
    reason: str = Field(description='short and human, e.g. "bought by 23% of tent buyers within 14 days"')


class RecommendationList(BaseModel):
    model_version: str = Field(description="<registered model version>@<publish version>")
    recommendation_id: str = Field(description="uuid4 hex: send it back with clicks and orders for attribution")
    fallback: bool = Field(description="true when this is not the personalized answer (unknown id, outage...)")
    items: list[RecommendedItem] = Field(description="best first")
    experiment: str | None = Field(
        default=None, description="the live experiment this answer is part of (null: none on this surface)"
    )
    variant: Variant | None = Field(
        default=None, description="the experiment's variant this customer sees (always the same one)"
    )
    rules: list[str] = Field(
        default_factory=list, description="ids of the merchandising rules that touched this answer (POST /v1/rules)"
    )


class CustomerRecommendations(RecommendationList):
    customer_id: str


class ItemRecommendations(RecommendationList):
    item_id: str


class CartRecommendations(RecommendationList):
    customer_id: str | None
    item_ids: list[str] = Field(description="the cart the list completes (with the customer's recent cart adds)")


class PopularRecommendations(RecommendationList):
    category: str | None


CategoryName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CATEGORY_LENGTH), AfterValidator(valid_unicode)
]
Price = Annotated[float, Field(ge=0, le=MAX_PRICE, allow_inf_nan=False)]  # a query parameter (text)
JsonPrice = Annotated[Price, BeforeValidator(json_number)]  # in a body: a JSON number only
JsonBool = Annotated[bool, Field(strict=True)]  # in a body: true or false only


class FilterFields(BaseModel):
    """The list filters (``docs/serving.md``), as the cart's body carries them; the GET routes take the same
    names as query parameters (``serving.routes.common.list_filters``)."""

    in_stock: JsonBool = Field(default=True, description="only items in stock (false: also out of stock ones)")
    category: list[CategoryName] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="only items of these categories"
    )
    price_min: JsonPrice | None = Field(default=None, description="only items priced at least this")
    price_max: JsonPrice | None = Field(default=None, description="only items priced at most this")
    exclude: list[ExternalId] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="never these items"
    )


class CartRequest(FilterFields):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[ExternalId] = Field(min_length=1, max_length=MAX_ITEMS)
    customer_id: ExternalId | None = None
    k: int = Field(default=DEFAULT_K, ge=MIN_K, le=MAX_K)


class CatalogItem(BaseModel):
    """One item of the live catalog (``PUT /v1/items``): the fields given change, the others stay."""

    model_config = ConfigDict(extra="forbid")

    item_id: ExternalId
    in_stock: JsonBool | None = Field(default=None, description="false: left out of every list by default")
    price: JsonPrice | None = None
    category: CategoryName | None = None
    name: Annotated[str, StringConstraints(max_length=MAX_NAME_LENGTH), AfterValidator(valid_unicode)] | None = None
    active: JsonBool | None = Field(default=None, description="false: never shown, whatever the filters")


class CatalogUpdated(BaseModel):
    updated: int = Field(description="records written")
    stamp: int = Field(description="the live catalog's stamp after the write (one more per write)")


class EventFields(BaseModel):
    """What every storefront event has; item ids unknown to the published version are kept (they may be
    new items). ``docs/feedback.md`` says how events that name a ``recommendation_id`` are attributed to the
    answer that showed the items."""

    model_config = ConfigDict(extra="forbid")

    customer_id: ExternalId
    item_ids: list[ExternalId] = Field(min_length=1, max_length=MAX_ITEMS)
    timestamp: IsoTime | UnixSeconds | None = Field(
        default=None, description="ISO-8601 (UTC when no offset is given) or Unix seconds; default: now"
    )
    recommendation_id: RecommendationId | None = Field(
        default=None, description="the recommendation_id of the answer that showed the items, for attribution"
    )

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime | float | None) -> datetime | float | None:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def unix_time(self, now: float) -> int:
        if self.timestamp is None:
            return int(now)
        if isinstance(self.timestamp, datetime):
            return int(self.timestamp.timestamp())
        return int(self.timestamp)


class BrowsingEvent(EventFields):
    """An impression (a list shown), a click, a view, an add to or a removal from the cart."""

    type: BrowsingEventType


class PurchaseEvent(EventFields):
    """A purchase of ``item_ids``: each item one order line of ``quantity`` units at ``price``."""

    type: Literal["purchase"]
    order_id: ExternalId | None = Field(
        default=None, description="the order: an order line (order, item) is attributed at most once"
    )
    quantity: Quantity | None = Field(default=None, description="units per item; default 1")
    price: float | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_PRICE,
        allow_inf_nan=False,
        description="unit price per item; default: the catalog price of the published version",
    )


# one event: its ``type`` says which fields it may have (order fields on purchases only)
EventIn = Annotated[PurchaseEvent | BrowsingEvent, Field(discriminator="type")]


class EventAccepted(BaseModel):
    customer_id: str
    type: EventType
    at: int = Field(description="the event time, Unix seconds")
    item_ids: list[str]
    recommendation_id: str | None = None
    buffered: bool = Field(
        default=False,
        description="true when Redis was unreachable: the event is held by the service and written when Redis "
        "returns (the customer's answers reflect it from then on)",
    )


class EventBatch(BaseModel):
    """Several events in one request, validated together: one invalid event refuses the batch (422)."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class BatchAccepted(BaseModel):
    accepted: int = Field(description="how many events were accepted (all of them)")
    buffered: bool = Field(
        default=False, description="true when Redis was unreachable: the events are held by the service"
    )


class Problem(BaseModel):
    """A non-2xx answer with a reason (401/403 without a valid API key, 413, 503 of /readyz and /v1/events)."""

    status: str
    reason: str


# journey KPIs (GET /v1/kpis; the definitions are in docs/feedback.md) ---------------------------------------------
class Kpis(BaseModel):
    answers: int = Field(description="list answers served")
    impressions: int = Field(description="impression events naming one of these answers (lists shown)")
    clicks: int = Field(description="clicked items of these answers")
    ctr: float | None = Field(description="clicks / impressions; null without impressions")
    attributed_purchases: int = Field(description="order lines attributed to these answers (last click)")
    conversion_rate: float | None = Field(description="attributed purchases / impressions")
    attributed_revenue: float = Field(description="price × quantity of the attributed order lines")
    attributed_revenue_cents: int = Field(description="the same in integer cents (exact)")
    revenue_per_mille: float | None = Field(description="attributed revenue per thousand impressions")


class SurfaceKpis(Kpis):
    surface: AnswerSurface
    model_version: str


class HourKpis(Kpis):
    hour: str = Field(description="the hour's start, ISO-8601 UTC")
    views: int
    add_to_carts: int
    purchases: int


class Funnel(BaseModel):
    """All traffic, attributed or not."""

    views: int
    clicks: int
    add_to_carts: int
    remove_from_carts: int
    purchases: int = Field(description="purchase events (orders)")
    carts: int = Field(description="carts opened (a customer's add_to_cart with no open cart)")
    converted_carts: int = Field(description="carts followed by a purchase within the attribution window")
    abandoned_carts: int = Field(description="carts with no purchase within the window")
    open_carts: int = Field(description="carts opened less than the window ago, not converted yet")
    cart_abandonment_rate: float | None = Field(description="abandoned / (abandoned + converted)")


class ActiveVersion(BaseModel):
    model_version: str
    published_at: str | None


class KpiReport(BaseModel):
    from_: str = Field(alias="from", description="start of the first hour counted, ISO-8601 UTC")
    to: str = Field(description="end of the last hour counted")
    generated_at: str
    attribution_window_seconds: int
    surface: AnswerSurface | None = Field(description="the surface asked for; null: all")
    active: ActiveVersion | None = Field(description="the version held now; null when nothing is published")
    totals: Kpis
    by_surface: list[SurfaceKpis] = Field(description="per surface × model version, sorted")
    funnel: Funnel
    series: list[HourKpis] = Field(description="one row per hour, oldest first, hours without traffic included")
