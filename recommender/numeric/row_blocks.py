"""Run a compiled kernel over blocks of rows in a few threads.

The numba kernels (TIFU-KNN's neighbour search and mean, similar items' co-purchase top-k) release the GIL,
so two threads on blocks of rows use both cores; each block writes only its own output rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

MAX_THREADS = 2  # blocks in flight at once


def row_blocks(n_rows: int, step: int) -> list[tuple[int, int]]:
    """Consecutive ``(lo, hi)`` row ranges of at most ``step`` rows covering ``0:n_rows``."""
    return [(lo, min(lo + step, n_rows)) for lo in range(0, n_rows, step)]


def each_block(work: Callable[[int, int], None], blocks: list[tuple[int, int]], name: str = "row-block") -> None:
    """``work(lo, hi)`` for every block, in up to ``MAX_THREADS`` threads; the first error is raised."""
    threads = min(MAX_THREADS, os.cpu_count() or 1, len(blocks))
    if threads <= 1:
        for lo, hi in blocks:
            work(lo, hi)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name) as pool:
        for future in [pool.submit(work, lo, hi) for lo, hi in blocks]:
            future.result()
