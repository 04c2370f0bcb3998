"""Packed precomputed lists: the ``ENTRY`` row (item, score, reason) that publish stores and requests read.

``serving.cache`` packs and unpacks published lists with ``ENTRY``; the merges read them as ``ENTRY`` arrays
(any structured array with fields item, score and reason is accepted). A row's ``reason`` is the list's
number for it: the repeat interval in days on next purchase lists, the share of the anchor's buyers on
complements lists, -1 for none (a padded complements row has no pair evidence).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# one precomputed entry, as published lists are packed in Redis (``serving.cache`` packs and unpacks with it;
# any structured array with fields item, score and reason is accepted)
ENTRY = np.dtype([("item", "<i4"), ("score", "<f4"), ("reason", "<f4")])


def entries(
    items: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, reasons: object = None
) -> np.ndarray:
    """A list as an ``ENTRY`` array (``reasons`` None: -1 for every row)."""
    items = np.asarray(items, dtype=np.int32).ravel()
    out = np.empty(len(items), dtype=ENTRY)
    out["item"] = items
    out["score"] = np.asarray(scores, dtype=np.float32).ravel()
    out["reason"] = -1.0 if reasons is None else np.asarray(reasons, dtype=np.float32).ravel()
    return out


def with_evidence(complements: np.ndarray, min_share: float = 0.0) -> np.ndarray:
    """The rows of a published complements list that are real pairs (reason = share >= 0), not padding,
    and whose share of the anchor's buyers is at least ``min_share``."""
    return complements[complements["reason"] >= max(min_share, 0.0)]
