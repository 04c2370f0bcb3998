"""A moment given as text, as the API's query parameters and the commands take it: Unix seconds, or ISO-8601
(a date, or a date-time; UTC when it has no offset)."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def unix_seconds(text: str) -> float:
    """``text`` as Unix seconds; ``ValueError`` when it is neither form, or not a finite number."""
    try:
        seconds = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)  # a ValueError names what is wrong
        seconds = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(seconds):
        raise ValueError(f"{text!r} is not a finite number of seconds")
    return seconds
