"""Request-time code: what runs on every request, between two publishes.

Publish precomputes ranked lists (per customer, per item, popular); a request reads them, with the
customer's recent events and the complement lists of the items just bought or carted. Request-time code
merges those precomputed lists with the events, applies the filters (purchased items, one-off categories,
stock, one category), pads and pages the answer, and gives each row its reason text. Lists are small (at
most a few hundred rows), so everything is a handful of numpy calls per request. Indices are those of the
published version's item table; nothing here knows about Redis or HTTP.

- ``entries``: the packed precomputed row ``ENTRY`` (item, score, reason), ``entries``, ``with_evidence``;
- ``events``: ``Event``, ``RecentEvents`` (the events summarized by item), ``UnknownEventTypeError``;
- ``candidates``: rows of an answer (``Candidates``), one page of them (``Reranked``), ``Fallback``;
- ``filters``: ``Filters``, ``customer_filters``, ``one_off_categories``, ``catalog_mask`` (a request's filters);
- ``page``: ``assemble`` (filter, each item once, pad, slice) and its shortcut ``plain_page``;
- ``merge``: the customer merges ``rerank_for_you`` and ``rerank_next_purchase``, given a ``CustomerContext``;
- ``lists``: ``cart_complements`` and ``item_list`` (similar items or complements of one item);
- ``session``: a browsing session's rows (``session_rows``: item-to-item from what it viewed or carted, and
  popular in those categories), for guests and, modestly, known customers;
- ``reasons``: a row's reason kind and number as a short text.

The rule: request-time code never imports model-fitting code (``recommender.models``, implicit, lightgbm,
numba kernels, ``training``), not even lazily: the service loads it on every worker. It may import
``recommender.vocabulary``, ``recommender.history`` (for ``DAY`` only), ``recommender.substitutes`` (for
``MIN_REPEAT_RATE``; it imports only ``recommender.history`` and ``recommender.distinct``),
``recommender.errors``, ``recommender.wording`` and ``recommender.numeric.pair_keys``. Modules of this
package import each other by module path (``recommender.request_time.candidates``), never through this
``__init__``.
"""

from __future__ import annotations

from recommender.request_time.candidates import Candidate, Candidates, Fallback, Reranked, best_first
from recommender.request_time.entries import ENTRY, entries, with_evidence
from recommender.request_time.events import Event, RecentEvents, UnknownEventTypeError
from recommender.request_time.filters import Filters, catalog_mask, customer_filters, one_off_categories
from recommender.request_time.lists import cart_complements, item_list, summed_by_item
from recommender.request_time.merge import (
    DUE_SHARE,
    FOR_YOU_COMPLEMENTS,
    MIN_COMPLEMENT_SHARE,
    CustomerContext,
    event_complements,
    rerank_for_you,
    rerank_next_purchase,
)
from recommender.request_time.page import assemble, plain_page
from recommender.request_time.reasons import UnknownReasonKindError, item_labels, reason_text, reasons_for
from recommender.request_time.session import session_rows, touched_items

__all__ = [
    "DUE_SHARE",
    "ENTRY",
    "FOR_YOU_COMPLEMENTS",
    "MIN_COMPLEMENT_SHARE",
    "Candidate",
    "Candidates",
    "CustomerContext",
    "Event",
    "Fallback",
    "Filters",
    "RecentEvents",
    "Reranked",
    "UnknownEventTypeError",
    "UnknownReasonKindError",
    "assemble",
    "best_first",
    "cart_complements",
    "catalog_mask",
    "customer_filters",
    "entries",
    "event_complements",
    "item_labels",
    "item_list",
    "one_off_categories",
    "plain_page",
    "reason_text",
    "reasons_for",
    "rerank_for_you",
    "rerank_next_purchase",
    "session_rows",
    "summed_by_item",
    "touched_items",
    "with_evidence",
]
