"""How numbers are said to a shopper in a reason: intervals ("about every 2 weeks").

Shared by the models that explain their own lists (next purchase) and the request-time reasons, so that one
interval reads the same wherever it is shown.
"""

from __future__ import annotations


def describe_interval(days: float) -> str:
    """ "3 days", "week", "2 weeks", "month", "3 months" (for "about every ...")."""
    if days < 10.5:
        n, unit = max(round(days), 1), "day"
    elif days < 52.5:
        n, unit = round(days / 7), "week"
    else:
        n, unit = round(days / 30.4), "month"
    return unit if n == 1 else f"{n} {unit}s"
