"""The experiment's statistics against textbook cases: the delta-method ratio equals the two-proportion
variance when every customer has one impression, intervals cover, the test finds a planted difference and
none when there is none, and the sample-ratio check flags a broken split; the assignment is a fixed hash."""

from __future__ import annotations

import math

import numpy as np
import pytest

from serving.experiments.config import BadExperimentError, Experiment, challenger_fraction, variant_of
from serving.experiments.stats import ratio, sample_ratio_p, two_sided_p


def test_one_impression_per_customer_is_the_two_proportion_case() -> None:
    rng = np.random.default_rng(1)
    converted = (rng.random(5_000) < 0.1).astype(np.int64)
    estimate = ratio(converted, np.ones_like(converted))
    p = converted.mean()
    assert estimate.value == pytest.approx(p)
    assert estimate.variance == pytest.approx(p * (1 - p) / (len(converted) - 1))  # var with ddof=1, over n


def test_correlated_impressions_widen_the_interval() -> None:
    # customers with many impressions who convert all or nothing: per impression the rate is the same, but
    # the evidence is per customer
    impressions = np.full(200, 10)
    purchases = np.where(np.arange(200) < 20, 10, 0)
    clustered = ratio(purchases, impressions)
    independent = ratio(np.r_[np.ones(200), np.zeros(1800)], np.ones(2000))
    assert clustered.value == pytest.approx(independent.value)
    assert clustered.variance > 5 * independent.variance


def test_the_test_finds_a_planted_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(7)
    shows = rng.integers(1, 6, size=(2, 4_000))
    champion = rng.binomial(shows[0], 0.05)
    better = rng.binomial(shows[1], 0.08)
    same = rng.binomial(shows[1], 0.05)
    assert two_sided_p(ratio(champion, shows[0]), ratio(better, shows[1])) < 1e-6
    assert two_sided_p(ratio(champion, shows[0]), ratio(same, shows[1])) > 0.01
    low, high = ratio(champion, shows[0]).interval
    assert low < 0.05 < high


def test_no_numbers_without_customers() -> None:
    assert ratio(np.zeros(0), np.zeros(0)).value is None
    assert two_sided_p(ratio(np.zeros(0), np.zeros(0)), ratio(np.ones(3), np.ones(3))) is None
    assert sample_ratio_p(0, 0, 0.2) is None


def test_sample_ratio_check() -> None:
    assert sample_ratio_p(2_000, 10_000, 0.2) == pytest.approx(1.0)
    assert sample_ratio_p(2_400, 10_000, 0.2) < 1e-10


DEFINITION = dict(
    name="e",
    model_name="m",
    challenger_model_version="2",
    challenger_version="v",
    champion_model_version="1",
    share=0.25,
    surfaces=("for_you",),
    started_at=0,
)


def test_assignment_is_a_fixed_hash_of_name_and_customer() -> None:
    experiment = Experiment(**DEFINITION)
    ids = [f"c{i}" for i in range(20_000)]
    share = np.mean([variant_of(experiment, c) == "challenger" for c in ids])
    assert abs(share - 0.25) < 4 * math.sqrt(0.25 * 0.75 / len(ids))
    assert [variant_of(experiment, c) for c in ids[:50]] == [variant_of(experiment, c) for c in ids[:50]]
    renamed = experiment.model_copy(update={"name": "f"})
    assert [variant_of(renamed, c) for c in ids[:200]] != [variant_of(experiment, c) for c in ids[:200]]
    assert 0.0 <= challenger_fraction("e", "any id, even 💡 or a/slash") < 1.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("name", "has space", "experiment names"), ("surfaces", ("similar",), "not on similar"), ("share", 1.0, "less")],
)
def test_bad_definitions_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Experiment(**{**DEFINITION, field: value})
    with pytest.raises(BadExperimentError):
        Experiment.from_json(b'{"name": "e"}')
