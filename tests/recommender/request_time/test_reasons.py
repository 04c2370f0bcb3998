"""Human reasons: one short text per reason kind, with the share, interval, item and category it names."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.request_time import Candidates, UnknownReasonKindError, item_labels, reason_text, reasons_for
from recommender.vocabulary import REASON_KINDS
from recommender.wording import describe_interval


def test_complement_names_share_anchor_and_window() -> None:
    text = reason_text("complement", 0.234, "Tent 2P Explorer", window_days=14)
    assert text == "bought by 23% of Tent 2P Explorer buyers within 14 days"
    assert reason_text("complement", 0.004, "Tent", window_days=7) == "bought by <1% of Tent buyers within 7 days"


def test_complement_of_a_purchase_names_the_bought_item() -> None:
    text = reason_text("complement_of", 0.4, "Tent 2P Explorer", window_days=14)
    assert text.startswith("goes with the Tent 2P Explorer you bought")
    assert "40%" in text and "14 days" in text
    assert reason_text("complement_of", -1, "Tent", window_days=14) == "often bought within 14 days after a purchase"
    assert reason_text("complement", -1, "Tent") == "often bought after a purchase"


def test_repeat_states_the_interval_like_the_next_purchase_model() -> None:
    assert reason_text("repeat", 14) == "you buy this about every 2 weeks"
    assert reason_text("repeat", 3) == "you buy this about every 3 days"
    for days in (1, 7, 30, 90):
        assert reason_text("repeat", days).endswith(describe_interval(days))
    assert reason_text("repeat", -1) == "time to buy it again"


def test_popular_names_its_category_when_it_has_one() -> None:
    assert reason_text("popular", category_label="Camping") == "popular in Camping"
    assert reason_text("popular") == "popular right now"


def test_other_kinds() -> None:
    assert reason_text("for_you") == "customers with similar taste buy this"
    assert reason_text("similar", source_label="Tent 2P Explorer") == "similar to Tent 2P Explorer"
    assert reason_text("cart", 0.3, "Camping Stove") == "goes with the Camping Stove in your cart"


def test_every_kind_has_a_text_and_unknown_kinds_are_refused() -> None:
    for kind in REASON_KINDS:
        assert reason_text(kind, 0.5, "Lamp", "Camping", 14)
    with pytest.raises(UnknownReasonKindError, match="bestseller"):
        reason_text("bestseller")


def test_reasons_for_rows_use_item_and_category_labels() -> None:
    labels = item_labels(np.array(["t1", "sb9", "c3"]), np.array(["Tent", "", "Coffee"]))
    assert labels.tolist() == ["Tent", "sb9", "Coffee"]  # the id where the name is unknown
    rows = Candidates.concat(
        [
            Candidates.section(np.array([1]), np.array([0.9]), "complement_of", 0.4, 0),
            Candidates.section(np.array([2]), np.array([0.5]), "repeat", 14.0),
            Candidates.section(np.array([0, 2]), np.array([1.0, 0.8]), "popular", np.array([1.0, -1.0])),
        ]
    )
    texts = reasons_for(rows, labels=labels, category_labels=["Coffee", "Camping"], window_days=14)
    assert texts[0].startswith("goes with the Tent you bought")
    assert texts[1:] == ["you buy this about every 2 weeks", "popular in Camping", "popular right now"]
