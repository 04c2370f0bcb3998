"""The list filters, declared once for every list route, and the refusal of undeclared query parameters.

- ``list_filters`` (the dependency ``Filters``): ``in_stock`` (default true), ``category`` (repeatable),
  ``price_min``, ``price_max``, ``exclude`` (repeatable item ids) from the query; the cart's body carries
  the same fields (``serving.schemas.FilterFields``, ``ListFilters.of``);
- ``select``: the filters as one allowed mask over the held version's items (``Selection``);
- ``filled``: the popular list to pad with, followed by every other item, so that a filtered answer keeps
  ``k`` items while eligible items exist;
- ``StrictQueryRoute``: the route class of the API's routers; a query parameter the route does not
  declare is a 422 naming it (the fast path hands such requests to FastAPI).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, Query, Request, Response
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from recommender.request_time import Fallback, catalog_mask
from serving.auth import HEADER, KeyCheck
from serving.routes.common import popular_fallback
from serving.schemas import MAX_FILTER_VALUES, CategoryName, ExternalId, FilterFields, Price
from serving.state import Active


@dataclass(frozen=True)
class ListFilters:
    """A request's list filters, as the query (``list_filters``) or the cart's body gives them."""

    in_stock: bool = True
    category: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, fields: FilterFields) -> ListFilters:
        return cls(
            fields.in_stock,
            tuple(fields.category or ()),
            fields.price_min,
            fields.price_max,
            tuple(fields.exclude or ()),
        )

    @property
    def plain(self) -> bool:
        """In stock only: what a request without filters gets."""
        return self == DEFAULT_FILTERS


NO_VALUES: list[str] = []  # a repeatable parameter's default (never changed: the filters keep tuples)
DEFAULT_FILTERS = ListFilters()  # the fast path passes it for requests without filter parameters


async def list_filters(
    in_stock: Annotated[bool, Query(description="only items in stock (false: out of stock ones too)")] = True,
    category: Annotated[
        list[CategoryName],
        Query(max_length=MAX_FILTER_VALUES, description="only items of this category (repeat it for several)"),
    ] = NO_VALUES,
    price_min: Annotated[Price | None, Query(description="only items priced at least this")] = None,
    price_max: Annotated[Price | None, Query(description="only items priced at most this")] = None,
    exclude: Annotated[
        list[ExternalId],
        Query(max_length=MAX_FILTER_VALUES, description="never this item (repeat it for several)"),
    ] = NO_VALUES,
) -> ListFilters:
    """The list filters of every list route (``async``: no thread pool hop). A range with ``price_min`` above
    ``price_max`` holds no item (an empty answer: OpenAPI cannot state a rule across two parameters)."""
    return ListFilters(in_stock, tuple(category), price_min, price_max, tuple(exclude))


Filters = Annotated[ListFilters, Depends(list_filters)]


@dataclass(frozen=True)
class Selection:
    """A request's filters on one version: ``allowed`` per item, the category asked for when there is
    exactly one (else -1), all of them (None: any), and whether every one asked for is unknown (then the
    answer has no category filter and is marked a fallback)."""

    allowed: np.ndarray
    category: int = -1
    categories: np.ndarray | None = None
    unknown_category: bool = False


def select(active: Active, filters: ListFilters) -> Selection:
    """``filters`` as item indices of ``active``; unknown excluded ids and categories are ignored."""
    if filters.plain:
        return Selection(active.available)
    tables = active.tables
    cats: np.ndarray | None = None
    unknown = False
    if filters.category:
        known = sorted({c for c in map(tables.category_index, filters.category) if c >= 0})
        cats, unknown = (np.asarray(known, dtype=np.int32), False) if known else (None, True)
    exclude = np.fromiter((tables.item_index.get(i, -1) for i in filters.exclude), dtype=np.int64)
    allowed = catalog_mask(
        active.available if filters.in_stock else active.listed,
        item_category=tables.category,
        categories=cats,
        price=tables.price,
        price_min=filters.price_min,
        price_max=filters.price_max,
        exclude=exclude[exclude >= 0],
    )
    single = int(cats[0]) if cats is not None and len(cats) == 1 else -1
    return Selection(allowed, single, cats, unknown)


def filled(active: Active, selection: Selection, fallback: Fallback | None = None) -> Fallback:
    """``fallback`` (default: popular in the one category asked for, in several by score, else overall),
    then every other item (``Fallback.rest``, read only when the list cannot fill the page)."""
    if fallback is None:
        fallback = popular_fallback(active, selection.category)
        if selection.categories is not None and len(selection.categories) > 1:
            by_category = active.tables.popular_by_category
            parts = [by_category[int(c)] for c in selection.categories if int(c) in by_category]
            items, scores = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
            order = np.argsort(-scores, kind="stable")
            fallback = Fallback(items[order], scores[order], -1)
    return replace(fallback, rest=active.fill)


class StrictQueryRoute(APIRoute):
    """A route that refuses query parameters it does not declare (its own and its dependencies'): a 422
    naming them, rather than an answer that silently ignores a misspelled filter. The route's API key
    checks come first (a request without a valid key gets its 401 or 403, whatever its parameters)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        dependant = self.dependant
        # an included route's handler is built for its inclusion (prefix, the router's dependencies: the key
        # checks), which FastAPI names in this context variable while it builds it
        included = getattr(fastapi_routing, "_effective_route_context_var", None)
        context = None if included is None else included.get()
        if context is not None and context.original_route is self:
            dependant = context.dependant
        declared = frozenset(field.alias for field in query_fields(dependant))
        takes = ", ".join(sorted(declared)) or "none"
        checks = [dependency.call for dependency in dependant.dependencies if isinstance(dependency.call, KeyCheck)]

        async def strict(request: Request) -> Response:
            unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in declared]
            if unknown:
                for check in checks:
                    await check(request.headers.get(HEADER))
                raise RequestValidationError(
                    [
                        {
                            "type": "extra_forbidden",
                            "loc": ["query", name],
                            "msg": f"unknown query parameter {name!r}; this route takes: {takes}",
                        }
                        for name in unknown
                    ]
                )
            return await handler(request)

        return strict


def query_fields(dependant: Dependant) -> list[Any]:
    """The query parameters of ``dependant`` and of its dependencies."""
    fields = list(dependant.query_params)
    for sub in dependant.dependencies:
        fields += query_fields(sub)
    return fields
