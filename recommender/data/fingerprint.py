"""A fingerprint of the order history a model learned from: counts, date range and a content hash.

Two runs trained on the same order lines get the same hash whatever the file's format, column order or line
order (the lines are hashed in a canonical order, by their external ids); any changed, added or removed line
changes it, and so does any browsing signal (``recs train --events``). Recorded on every ``recs train`` run
(MLflow tags ``data.fingerprint``, ``data.first_order_at``,
``data.last_order_at``), so that two runs' numbers can be told apart as measured on the same data or not.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np

from recommender.history import OrderHistory

HASH_CHARS = 16


def _ids_digest(ids: np.ndarray) -> bytes:
    return hashlib.sha256("\0".join(ids.tolist()).encode("utf-8", errors="surrogatepass")).digest()


def fingerprint(history: OrderHistory) -> dict[str, str]:
    """``{"fingerprint", "first_order_at", "last_order_at", "lines", "customers", "items"}`` as text."""
    customer_rank = np.argsort(np.argsort(history.customers.ids, kind="stable"), kind="stable")
    item_rank = np.argsort(np.argsort(history.items.ids, kind="stable"), kind="stable")
    lines = np.empty(
        history.n_lines, dtype=[("customer", "<i8"), ("ordered_at", "<i8"), ("item", "<i8"), ("quantity", "<f4")]
    )
    lines["customer"] = customer_rank[history.customer]
    lines["ordered_at"] = history.ordered_at
    lines["item"] = item_rank[history.item]
    lines["quantity"] = history.quantity
    # lexsort, then one gather: the order a structured sort by these fields gives, in a tenth of its time
    lines = lines[np.lexsort((lines["quantity"], lines["item"], lines["ordered_at"], lines["customer"]))]
    digest = hashlib.sha256()
    digest.update(_ids_digest(np.sort(history.customers.ids)))
    digest.update(_ids_digest(np.sort(history.items.ids)))
    digest.update(lines.tobytes())
    if len(history.signals):  # the browsing signals (``recs train --events``), in a canonical order too
        signals = np.empty(len(history.signals), dtype=[("c", "<i8"), ("at", "<i8"), ("i", "<i8"), ("w", "<f4")])
        signals["c"] = customer_rank[history.signals.customer]
        signals["at"] = history.signals.at
        signals["i"] = item_rank[history.signals.item]
        signals["w"] = history.signals.weight
        signals = signals[np.lexsort((signals["w"], signals["i"], signals["at"], signals["c"]))]
        digest.update(signals.tobytes())
    return {
        "fingerprint": digest.hexdigest()[:HASH_CHARS],
        "first_order_at": datetime.fromtimestamp(history.start_time, tz=UTC).isoformat(timespec="seconds"),
        "last_order_at": datetime.fromtimestamp(history.end_time, tz=UTC).isoformat(timespec="seconds"),
        "lines": str(history.n_lines),
        "customers": str(history.n_customers),
        "items": str(history.n_items),
        "signals": str(len(history.signals)),
    }
