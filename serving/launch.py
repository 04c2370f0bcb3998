"""The ``recs`` console script: the process's allocator settings, set before any library loads, then the
command assembled in ``serving.cli``.

Polars allocates through its own jemalloc, which by default keeps freed pages for up to 10 s and returns them
only on a later allocation of its own: after ``recs train`` loaded the Complete Journey (1.46M lines), 300 MB
of them stayed resident through the whole fit. Returning them at once (``dirty_decay_ms:0``) cost no
measurable load time (2.8-3.6 s against 3.5-4.1 s). A ``_RJEM_MALLOC_CONF`` already set is left as it is
(polars puts its own defaults in front of it; jemalloc applies the options in order, so the last ones hold).

numpy allocates through the C library's malloc. glibc serves a block above its mmap threshold with its own
mapping, returned on free, but raises that threshold each time such a block is freed (up to 32 MB), and the
heap's trim threshold with it: after a few rounds of freed arrays, arrays of many megabytes come from the heap,
and freed heap space stays resident. Fixing the thresholds (``mallopt``: mmap at 1 MB, trim at 2 MB, which also
stops the raising) took a tuned ``recs train`` on the Complete Journey from 2,415 MB peak RSS to 1,628, at
50.9 -> 52.2 s (``/usr/bin/time``, one run each, 2026-12-07; issue 26). Set here, before anything large is
allocated, and only where the C library is glibc.
"""

from __future__ import annotations

import os

POLARS_ALLOCATOR = "dirty_decay_ms:0,muzzy_decay_ms:0"  # jemalloc's options, read when polars first loads
MMAP_THRESHOLD = 1 << 20  # bytes: larger blocks get their own mapping, returned to the system when freed
_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD = -3, -1  # glibc's mallopt parameter numbers (malloc.h)


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold (see the module docstring); False where the C library is not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc alone has it (AttributeError elsewhere)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2 * threshold))
    except (OSError, AttributeError):
        return False


def main() -> None:
    os.environ.setdefault("_RJEM_MALLOC_CONF", POLARS_ALLOCATOR)
    fix_mmap_threshold()
    from serving.cli import main as run  # only now: it loads polars

    run()
