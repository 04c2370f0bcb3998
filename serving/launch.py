"""The ``recs`` console script: the process's allocator settings, set before any library loads, then the
command assembled in ``serving.cli``.

Polars allocates through its own jemalloc, which by default keeps freed pages for up to 10 s and returns them
only on a later allocation of its own: after ``recs train`` loaded the Complete Journey (1.46M lines), 300 MB
of them stayed resident through the whole fit. Returning them at once (``dirty_decay_ms:0``) cost no
measurable load time (2.8-3.6 s against 3.5-4.1 s). A ``_RJEM_MALLOC_CONF`` already set is left as it is
(polars puts its own defaults in front of it; jemalloc applies the options in order, so the last ones hold).
"""

from __future__ import annotations

import os

POLARS_ALLOCATOR = "dirty_decay_ms:0,muzzy_decay_ms:0"  # jemalloc's options, read when polars first loads


def main() -> None:
    os.environ.setdefault("_RJEM_MALLOC_CONF", POLARS_ALLOCATOR)
    from serving.cli import main as run  # only now: it loads polars

    run()
