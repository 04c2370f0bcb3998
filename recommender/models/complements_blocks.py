"""Complements' pair counts as pure row-block functions, and the stacking of their rows.

``recommender.models.complements.AnchorEvents`` counts follow-ups in blocks run by the fit's ``PairLists``
(``recommender.models.pair_blocks``: two threads here, Spark tasks with ``recs train --engine spark``):

- ``followup_block``: a block of category groups' anchor items, their best candidates
  (``complements_kernels.followup_top``), returned flat with the block's anchor items in group order;
  ``stack_top_lists`` puts every block's rows back in anchor order;
- ``reverse_block``: a block of candidate rows, the reverse count of each of their pairs
  (``complements_kernels.reverse_counts``), in pair order: the blocks' outputs, concatenated, are every pair's.

Each is a function of its block and the shared inputs only (the anchor events, the score rule), so the rows
do not depend on where or in which order the blocks run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recommender.models import complements_kernels as kernels

if TYPE_CHECKING:
    from recommender.models.complements import AnchorEvents, ScoreRule

TopRows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TopInputs:
    """What every block of the top lists shares."""

    events: AnchorEvents
    item_weight: np.ndarray  # weighted anchor events per item
    rule: ScoreRule
    group_indptr: np.ndarray  # items grouped by category (``ScoreRule.groups``)
    group_items: np.ndarray
    width: int  # candidates kept per anchor


def followup_block(inputs: TopInputs, lo: int, hi: int) -> TopRows:
    """The best candidates of the anchor items of groups ``lo:hi``: (anchor items int64 in group order, entries
    per anchor int64, then the entries one anchor after the other, best first: candidate int64, score float32,
    n_AB int32)."""
    events, rule, width = inputs.events, inputs.rule, inputs.width
    items = inputs.group_items[inputs.group_indptr[lo] : inputs.group_indptr[hi]]
    columns = np.full((len(items), width), -1, dtype=np.int64)
    scores = np.zeros((len(items), width), dtype=np.float32)
    counts = np.zeros((len(items), width), dtype=np.int64)
    sizes = np.zeros(len(items), dtype=np.int64)
    kernels.followup_top(
        events.item, events.lo, events.hi, events.indptr, events.event, events.weight, inputs.item_weight,
        rule.base, rule.prior, inputs.group_indptr, inputs.group_items, rule.n_categories, rule.blocked_category,
        rule.category, rule.shrinkage, rule.category_shrinkage, rule.exponent, rule.min_support, rule.with_prior,
        lo, hi, columns, scores, counts, sizes,
    )  # fmt: skip
    valid = np.arange(width)[None, :] < sizes[:, None]
    return items, sizes, columns[valid], scores[valid], counts[valid].astype(np.int32)


def stack_top_lists(blocks: list[TopRows], n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The blocks' rows (every item in exactly one block) as flat (anchor, candidate, score, n_AB) arrays,
    anchors ascending, each anchor's entries best first as its block gave them."""
    if not blocks:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int32)
    items, sizes, columns, scores, counts = (np.concatenate(part) for part in zip(*blocks, strict=True))
    starts = np.cumsum(sizes) - sizes  # where each item's entries begin in the concatenation
    size_of = np.zeros(n_items, dtype=np.int64)
    start_of = np.zeros(n_items, dtype=np.int64)
    size_of[items], start_of[items] = sizes, starts
    shift = start_of - (np.cumsum(size_of) - size_of)  # concatenation position minus anchor-order position
    gather = np.repeat(shift, size_of) + np.arange(int(size_of.sum()))
    anchor = np.repeat(np.arange(n_items, dtype=np.int64), size_of)
    return anchor, columns[gather], scores[gather], counts[gather]


@dataclass(frozen=True)
class ReverseInputs:
    """What every block of the reverse counts shares: the pairs as CSR by candidate row."""

    events: AnchorEvents
    pair_indptr: np.ndarray  # int64, per candidate row
    target: np.ndarray  # int64: each pair's anchor


def reverse_block(inputs: ReverseInputs, lo: int, hi: int) -> np.ndarray:
    """For the pairs of candidate rows ``lo:hi``, in pair order: how many of the candidate's anchor events were
    followed by the pair's anchor (int64)."""
    events, indptr = inputs.events, inputs.pair_indptr
    out = np.zeros(int(indptr[hi] - indptr[lo]), dtype=np.int64)
    kernels.reverse_counts(
        events.item, events.lo, events.hi, events.indptr, events.event, indptr, inputs.target, lo, hi, out
    )
    return out
