"""The two customer merges: a customer's precomputed list merged with their recent events and the filters.

Publish precomputes one ranked list per customer; between two publishes a customer keeps buying. Both
merges take the published list, a ``CustomerContext`` (the recent events, the complement lists of the items
just bought, the request's time and window, the catalog's categories) and the page's filters:

- ``rerank_for_you``: recently purchased items drop out (and, given category repeat rates, other items of a
  just-bought item's one-off category: no second tent), complements of purchases made within the window
  come first, each naming the item it goes with (only pairs with at least ``MIN_COMPLEMENT_SHARE``, at most
  ``FOR_YOU_COMPLEMENTS`` of them: one purchase must not take over the list), then the precomputed list,
  with the session's rows (``recommender.request_time.session``) woven in; a customer without a list (a
  guest) gets the session's rows alone;
- ``rerank_next_purchase``: the same, except that a just-purchased repeat item comes back once its repeat
  interval has passed since the event, and complements come after the due repeat items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from recommender.history import DAY
from recommender.request_time.candidates import Candidates, Fallback, Reranked, best_first
from recommender.request_time.entries import with_evidence
from recommender.request_time.events import RecentEvents
from recommender.request_time.filters import customer_filters
from recommender.request_time.page import assemble, plain_page
from recommender.request_time.session import KNOWN_SESSION_EVERY, KNOWN_SESSION_ROWS, interleave, session_rows
from recommender.substitutes import MIN_REPEAT_RATE

DUE_SHARE = 0.5  # a repeat row scoring at least this share of the list's top score counts as due
# next purchase: a complement of a just-bought item goes ahead of the customer's own non-due items only when
# at least this share of the item's buyers bought it within the window. On raw Ta-Feng (benchmarks.quality,
# complements section) HitRate@5 within 30 days of the post-purchase answer was .378 with every complement,
# .408 from .1, .412 from .2 and .413 from .3: weak grocery pairs displaced the customer's own staples.
# (for you takes the same minimum: the demo showed toothpaste at "2% of its buyers" after a tent)
MIN_COMPLEMENT_SHARE = 0.2
# for you: at most this many complements of recent purchases (RECS_FOR_YOU_COMPLEMENTS): see docs/benchmarks.md
FOR_YOU_COMPLEMENTS = 3


@dataclass(slots=True)  # built several times per request: a plain init is 3x faster than a frozen one
class CustomerContext:
    """What a customer merge knows besides the precomputed list and the page.

    ``events``: what the customer did since publish; ``complements_of`` maps a purchased item to its
    precomputed complement ``ENTRY`` list; ``now`` (Unix seconds) and ``window_days`` say which purchases
    are recent enough for their complements. ``item_category`` (per item) and ``category_repeat_rate`` (per
    category) drop other items of a just-bought item's category when its rate is below ``min_repeat_rate``.
    ``similar_of`` and ``popular_by_category`` feed the session's rows (for you only).
    """

    events: RecentEvents
    complements_of: Mapping[int, np.ndarray]
    now: int
    window_days: float
    item_category: np.ndarray | None = None
    category_repeat_rate: np.ndarray | None = None
    min_repeat_rate: float = MIN_REPEAT_RATE
    # the published similar lists of the items the session touched (views, cart), and the popular lists per
    # category (None: no popular-in-category rows); ``complements_of`` holds the cart items' lists too
    similar_of: Mapping[int, np.ndarray] = field(default_factory=dict)
    popular_by_category: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None


def event_complements(
    events: RecentEvents,
    complements_of: Mapping[int, np.ndarray],
    *,
    now: int,
    window_days: float,
    min_share: float = 0.0,
) -> Candidates:
    """Complements of the items purchased within ``window_days`` before ``now``, best score first, each row
    naming its purchased item (kind ``complement_of``); an item offered by two purchases appears twice.
    Pairs whose share of the anchor's buyers is below ``min_share`` are left out."""
    anchors = events.purchased_since(int(now - window_days * DAY))
    parts = [
        Candidates.from_entries(with_evidence(complements_of[int(a)], min_share), "complement_of", source=int(a))
        for a in anchors.tolist()
        if int(a) in complements_of
    ]
    return best_first(Candidates.concat(parts))


def rerank_for_you(
    base: np.ndarray,
    customer: CustomerContext,
    *,
    k: int,
    offset: int = 0,
    allowed: np.ndarray | None = None,
    category: int | None = None,
    fallback: Fallback | None = None,
    max_complements: int | None = FOR_YOU_COMPLEMENTS,
    min_complement_share: float = MIN_COMPLEMENT_SHARE,
) -> Reranked:
    """The "for you" answer: complements of recent purchases first, then ``base`` with the session's rows;
    purchased items and the cart's out.

    ``base`` is the precomputed ``ENTRY`` list (empty for a guest: the session's rows, item-to-item and
    popular in the touched categories, are its list); ``allowed`` a bool per item (stock, category);
    ``category`` keeps only that category (needs ``customer.item_category``); ``fallback`` pads the page.
    At most ``max_complements`` complement rows (None: any number), each bought by at least
    ``min_complement_share`` of its anchor's buyers within the window.
    """
    events = customer.events
    if not (len(events.purchased) or len(events.cart) or len(events.viewed)) and category is None:
        page = plain_page(base, None, "for_you", k=k, offset=offset, allowed=allowed)  # most requests: no events
        if page is not None:
            return page
    guest = not len(base)
    session = session_rows(
        events,
        customer.similar_of,
        customer.complements_of,
        item_category=customer.item_category,
        popular_by_category=customer.popular_by_category if guest else None,
    )
    if not len(events.purchased) and not len(session) and category is None:
        page = plain_page(base, None, "for_you", k=k, offset=offset, allowed=allowed)
        if page is not None:
            return page
    filters = customer_filters(
        events,
        block_cart=True,
        allowed=allowed,
        category=category,
        item_category=customer.item_category,
        category_repeat_rate=customer.category_repeat_rate,
        min_repeat_rate=customer.min_repeat_rate,
    )
    complements = event_complements(
        events,
        customer.complements_of,
        now=customer.now,
        window_days=customer.window_days,
        min_share=min_complement_share,
    )
    complements = complements.take(filters.keep(complements.items)).first_of_each()
    if max_complements is not None:
        complements = complements.take(slice(0, max(max_complements, 0)))
    own = Candidates.from_entries(base, "for_you")
    if guest:
        rest = session
    else:
        rest = interleave(own, session, KNOWN_SESSION_EVERY, limit=KNOWN_SESSION_ROWS)
    return assemble([complements, rest], filters, k=k, offset=offset, fallback=fallback)


def rerank_next_purchase(
    base: np.ndarray,
    customer: CustomerContext,
    *,
    k: int,
    offset: int = 0,
    allowed: np.ndarray | None = None,
    category: int | None = None,
    fallback: Fallback | None = None,
    due_share: float = DUE_SHARE,
    min_complement_share: float = MIN_COMPLEMENT_SHARE,
) -> Reranked:
    """The "next purchase" answer: the published list as the model ranked it; after a purchase event, due
    repeat items, then strong complements of recent purchases, then the rest.

    ``base`` rows with ``reason >= 0`` are repeat items (reason = interval in days). A repeat item purchased
    in the events comes back once its interval has passed since that purchase (it then counts as due);
    other purchased items drop out. A repeat row is also due when its score is at least ``due_share`` of
    the list's top score (the model ranked by due-ness when it was published). Only complements bought by
    at least ``min_complement_share`` of the anchor's buyers within the window are mixed in (weaker pairs
    would push out the customer's own staples). Other parameters as in ``rerank_for_you``.
    """
    events, now = customer.events, customer.now
    if not len(events.purchased) and category is None:
        # nothing bought since publish: the published list as the model ranked it (due-ness included)
        page = plain_page(base, None, None, k=k, offset=offset, allowed=allowed)
        if page is not None:
            return page
    repeat = base["reason"] >= 0
    top = float(base["score"].max()) if len(base) else 0.0
    strong = repeat & (base["score"] >= due_share * top)
    last = events.last_purchase(base["item"])
    bought = last >= 0
    # only an item with a rhythm of its own (interval > 0) comes back after being bought in the events
    due_again = repeat & bought & (base["reason"] > 0) & (now - last >= base["reason"].astype(np.float64) * DAY)
    due = strong | due_again
    kinds = np.where(repeat, "repeat", "for_you")
    filters = customer_filters(
        events,
        keep_purchased=base["item"][due_again],
        allowed=allowed,
        category=category,
        item_category=customer.item_category,
        category_repeat_rate=customer.category_repeat_rate,
        min_repeat_rate=customer.min_repeat_rate,
    )
    rows = Candidates.from_entries(base, kinds)
    if not len(events.purchased):  # nothing bought since publish: the model's order
        return assemble([rows], filters, k=k, offset=offset, fallback=fallback)
    sections = [
        rows.take(due),
        event_complements(
            events, customer.complements_of, now=now, window_days=customer.window_days, min_share=min_complement_share
        ),
        rows.take(~due),
    ]
    return assemble(sections, filters, k=k, offset=offset, fallback=fallback)
