"""Where the pair counts of complements and similar items run: their row blocks, mapped by a ``PairLists``.

Both models count item pairs with a compiled kernel, a block of item rows per call
(``recommender.models.similar.product_block``, ``recommender.models.complements_blocks.followup_block`` and
``reverse_block``). Each block function is pure: ``work(shared, lo, hi)`` returns the block's rows, computed
from the block's bounds and the inputs shared by every block, and writes nothing else. The model then stacks
the blocks' rows in block order, so any runner that returns ``[work(shared, lo, hi) for lo, hi in blocks]``
gives the same lists.

``local_pair_lists`` (the default) runs the blocks in this process, two threads at a time
(``recommender.numeric.row_blocks.each_block``); a caller that runs the models inside ``pair_lists_by(other)``
has them run elsewhere (``recs train --engine spark`` runs each block as a Spark task on the broadcast shared
inputs: ``training.spark.pairs``). The rule of each model is declared once, in its kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from recommender.numeric.row_blocks import each_block
from recommender.scoped import Scoped

BlockWork = Callable[[Any, int, int], Any]
"""``work(shared, lo, hi)``: the rows of block ``lo:hi``, a pure function of the block and ``shared``."""

PairLists = Callable[[BlockWork, Any, list[tuple[int, int]], str], list[Any]]
"""``run(work, shared, blocks, name)``: ``[work(shared, lo, hi) for lo, hi in blocks]``, in block order."""


def local_pair_lists(work: BlockWork, shared: Any, blocks: list[tuple[int, int]], name: str) -> list[Any]:
    """Every block's rows, computed in this process in up to two threads, returned in block order."""
    rows: list[Any] = [None] * len(blocks)
    slot = {block: index for index, block in enumerate(blocks)}

    def run(lo: int, hi: int) -> None:
        rows[slot[lo, hi]] = work(shared, lo, hi)

    each_block(run, blocks, name)
    return rows


# the blocks' runner of the running fit: a context variable, so a scope sets it (``pair_lists_by``)
_PAIR_LISTS: Scoped[PairLists] = Scoped("recs_pair_lists", local_pair_lists)


def pair_lists_by(run: PairLists) -> AbstractContextManager[None]:
    """Within this block (and threads started with a copy of its context), pair-count blocks run by ``run``."""
    return _PAIR_LISTS.using(run)


def map_pair_blocks(work: BlockWork, shared: Any, blocks: list[tuple[int, int]], name: str) -> list[Any]:
    """``[work(shared, lo, hi) for lo, hi in blocks]`` by the running fit's ``PairLists``."""
    return _PAIR_LISTS.get()(work, shared, blocks, name)
