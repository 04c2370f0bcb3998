"""Short human reasons for recommended items, one sentence fragment per row of an answer.

``reason_text`` turns a row's reason kind (see ``recommender.vocabulary.REASON_KINDS``) and its number into
text, e.g. "bought by 23% of Tent 2P Explorer buyers within 14 days", "you buy this about every 2 weeks",
"popular in Camping", "because you looked at Tent 2P Explorer". ``reasons_for`` does it for every row of
a ``Candidates`` answer, given display labels per item and category. Wording of shares and intervals
matches the models' own ``reason`` methods (``ComplementsModel.reason``, ``NextPurchaseModel.reason``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recommender.errors import RecommenderError
from recommender.request_time.candidates import Candidates
from recommender.vocabulary import REASON_KINDS
from recommender.wording import describe_interval


class UnknownReasonKindError(RecommenderError, ValueError):
    """A reason kind that is not one of ``REASON_KINDS``."""


def share_phrase(share: float) -> str:
    """A share of buyers (0..1) as "23%" ("<1%" below one percent)."""
    pct = 100.0 * share
    return f"{pct:.0f}%" if pct >= 1 else "<1%"


def _window(window_days: float | None) -> str:
    return "" if window_days is None else f" within {window_days:g} days"


def padded_text(window_days: float | None) -> str:
    """Reason of an item that pads a short complements list: popular after any purchase, no pair claimed."""
    return f"often bought{_window(window_days)} after a purchase"


def complement_text(share: float, source_label: str | None, window_days: float | None) -> str:
    """ "bought by 23% of Tent buyers within 14 days" (fewer words when a number is unknown)."""
    anchor = f"{source_label} buyers" if source_label else "buyers of this item"
    if share < 0:  # a padded row: no evidence for this pair, popular after any purchase
        return padded_text(window_days)
    return f"bought by {share_phrase(share)} of {anchor}{_window(window_days)}"


def complement_of_text(share: float, source_label: str | None, window_days: float | None) -> str:
    """ "goes with the Tent you bought: 23% of its buyers get it within 14 days"."""
    head = f"goes with the {source_label} you bought" if source_label else "goes with what you bought"
    if share < 0:  # a padded row
        return padded_text(window_days)
    return f"{head}: {share_phrase(share)} of its buyers get it{_window(window_days)}"


def repeat_text(interval_days: float) -> str:
    """ "you buy this about every 2 weeks" ("time to buy it again" without an interval)."""
    if not interval_days > 0:
        return "time to buy it again"
    return f"you buy this about every {describe_interval(float(interval_days))}"


def reason_text(
    kind: str,
    value: float = -1.0,
    source_label: str | None = None,
    category_label: str | None = None,
    window_days: float | None = None,
) -> str:
    """The reason for one row: ``kind`` from ``REASON_KINDS``, ``value`` its number (share for complements
    and cart rows, interval in days for repeat rows), ``source_label`` the item it comes from,
    ``category_label`` the category of a popular list, ``window_days`` the complements' window."""
    if kind == "complement":
        return complement_text(value, source_label, window_days)
    if kind == "complement_of":
        return complement_of_text(value, source_label, window_days)
    if kind == "repeat":
        return repeat_text(value)
    if kind == "for_you":
        return "customers with similar taste buy this"
    if kind == "popular":
        return f"popular in {category_label}" if category_label else "popular right now"
    if kind == "similar":
        return f"similar to {source_label}" if source_label else "similar to what you looked at"
    if kind == "pinned":  # placed by a merchandising rule (``recommender.request_time.rules``)
        return "pinned"
    if kind == "cart":
        return f"goes with the {source_label} in your cart" if source_label else "completes your cart"
    if kind == "viewed":
        return f"because you looked at {source_label}" if source_label else "because of what you looked at"
    raise UnknownReasonKindError(f"unknown reason kind {kind!r}; use one of {', '.join(REASON_KINDS)}")


def item_labels(item_ids: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Display label per item: its catalog name, or its id where the name is unknown ("")."""
    names = np.asarray(names, dtype=str)
    return np.where(names != "", names, np.asarray(item_ids, dtype=str))


def reasons_for(
    rows: Candidates, *, labels: np.ndarray, category_labels: Sequence[str], window_days: float | None
) -> list[str]:
    """The reason of every row: ``labels`` per item index (see ``item_labels``) name source items,
    ``category_labels`` per category index name a popular row's category (its value, -1 overall).

    Served on every request: plain lists and values, no per-row objects; a row of a kind whose text takes
    no number and no source ("for_you") reuses one string.
    """
    out: list[str] = []
    constant: dict[str, str] = {}
    for kind, value, source in zip(rows.kinds.tolist(), rows.values.tolist(), rows.sources.tolist(), strict=True):
        if kind in constant:
            out.append(constant[kind])
            continue
        label = str(labels[source]) if source >= 0 else None
        category = None
        if kind == "popular" and 0 <= value < len(category_labels):
            category = str(category_labels[int(value)])
        text = reason_text(kind, value, label, category, window_days)
        if kind == "for_you":
            constant[kind] = text
        out.append(text)
    return out
