"""What the list routes call to apply merchandising rules and the diversity cap to an answer.

A route asks its merge for ``pool_size`` rows from the top (``pool_size`` follows the stored rules first;
offset 0: rules re-rank the whole list, and page 2 continues page 1), then ``shaped`` turns them into the
page with the rules in effect (``recommender.request_time.merchandise``) and says which rules touched it.
Without a rule that may apply to the surface and without a diversity cap, the pool is the page and nothing
is re-ranked.

The rules are held in process (``serving.rules_store.HeldRules``) and followed with one script call at
most every ``RECS_VERSION_CHECK_SECONDS`` (``refresh_rules``); a Redis failure keeps the held rules.
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np

from recommender.request_time import Reranked
from recommender.request_time.merchandise import merchandise
from recommender.request_time.rules import Page, RuleBook
from serving.routes.common import REDIS_FAILURES, popular_fallback
from serving.state import Active, ServingState

log = logging.getLogger(__name__)
POOL_EXTRA = 30  # rows below the page that rules and the diversity cap may bring up


async def refresh_rules(state: ServingState) -> None:
    """Follow the stored rules when due (see the module docstring); never raises."""
    if not state.rules.due(state.settings.version_check_seconds):
        return
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            await state.rules.refresh(state.reader.client, state.settings.version_check_seconds)
    except REDIS_FAILURES as exc:
        log.warning("could not read the rules, answering with the held ones: %r", exc)


def active_on(state: ServingState, surface: str) -> bool:
    """Rules or diversity may change answers on ``surface``."""
    return state.rules.may_touch(surface) or state.settings.diversity_cap_on(surface) > 0


async def pool_size(state: ServingState, surface: str, *, k: int, offset: int = 0) -> int:
    """How many rows (from the top) to ask the merge for: the page's end, and more when rules or the
    diversity cap may re-rank. Follows the stored rules first (``refresh_rules``)."""
    await refresh_rules(state)
    need = offset + k
    return need + max(need, POOL_EXTRA) if active_on(state, surface) else need


def book(state: ServingState, active: Active) -> RuleBook:
    return state.rules.book(active.tables)


def rules_stamp(state: ServingState, active: Active, now: float | None = None) -> str:
    """Changes whenever the rules or the set of rules in effect does (answers kept in process key on it)."""
    at = time.time() if now is None else now
    return f"{state.rules.version}.{book(state, active).phase(at)}.{state.settings.diversity_cap}"


def shaped(
    state: ServingState,
    active: Active,
    surface: str,
    answer: Reranked,
    *,
    k: int,
    offset: int = 0,
    category: int | None = None,
    item: int = -1,
    item_category: int = -1,
    allowed: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> tuple[Reranked, tuple[str, ...]]:
    """The page of ``answer`` (``pool_size`` rows from the top) after the rules in effect on this page and
    the surface's diversity cap; the ids of the rules that touched it.

    ``category``: the request's category filter (the answer is about it; pins and promotions keep to it);
    ``item`` and ``item_category``: the item page and its category; ``allowed``: the items the answer may
    hold; ``exclude``: items it may not (pins and promotions never bring them: what was just bought, the
    cart)."""
    cap = state.settings.diversity_cap_on(surface)
    if not state.rules.rules and cap <= 0:  # the common case: the merge's rows are the page
        return Reranked(answer.candidates.take(slice(offset, offset + k)), answer.fallback), ()
    rulebook = book(state, active)
    page = Page(surface, item_category if category is None else category, item)
    rules = rulebook.in_effect(page, time.time())
    if category is not None and category >= 0:
        mask = active.tables.category == category
        allowed = mask if allowed is None else (np.asarray(allowed, dtype=bool) & mask)
    if exclude is not None and len(exclude):
        allowed = np.ones(len(active.tables.item_ids), dtype=bool) if allowed is None else allowed.copy()
        allowed[np.asarray(exclude, dtype=np.int64)[np.asarray(exclude) >= 0]] = False
    result = merchandise(
        answer.candidates,
        rules,
        rulebook,
        k=k,
        offset=offset,
        popular=popular_fallback(active, -1 if category is None else category),
        allowed=allowed,
        cap=cap,
    )
    return Reranked(result.rows, answer.fallback), result.rules
