"""An experiment's numbers, from per-customer counters: ratio metrics with 95% intervals, and the test.

Customers, not impressions, are what an experiment randomizes (``serving.experiments.config``): one
customer's impressions, clicks and purchases are correlated, so a rate per impression is a ratio of two
per-customer means, ``sum(y) / sum(x)``. Its variance comes from the delta method over customers (Deng,
Knoblich and Lu, "Applying the Delta Method in Metric Analytics", KDD 2018):

    var(R) = (var(y) - 2 R cov(x, y) + R^2 var(x)) / (n mean(x)^2)

A plain two-proportion test would treat every impression as independent and understate the variance (it
is the same test when every customer has one impression). The difference of two variants' rates is then
tested with a two-sided z-test (Welch's form: each variant its own variance), valid because each variant's
customers are many and independent. The sample-ratio check compares the share of customers each variant
got with the share asked for (a binomial z-test): a small p-value there means the split itself is broken
(customers lost, or answers not recorded), and the comparison is not to be trusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the normal distribution's 97.5% quantile


@dataclass(frozen=True)
class RatioEstimate:
    """``sum(numerator) / sum(denominator)`` over customers, its delta-method variance and 95% interval."""

    value: float | None
    variance: float | None

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.value is None or self.variance is None:
            return None
        half = Z95 * math.sqrt(self.variance)
        return self.value - half, self.value + half


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> RatioEstimate:
    """The ratio of per-customer sums (arrays aligned by customer), with its delta-method variance (None
    with fewer than two customers or nothing in the denominator)."""
    y = np.asarray(numerator, dtype=np.float64)
    x = np.asarray(denominator, dtype=np.float64)
    n = len(x)
    if n == 0 or x.sum() <= 0:
        return RatioEstimate(None, None)
    mean_x, mean_y = x.mean(), y.mean()
    value = float(mean_y / mean_x)
    if n < 2:
        return RatioEstimate(value, None)
    var_x, var_y = x.var(ddof=1), y.var(ddof=1)
    cov = float(((x - mean_x) * (y - mean_y)).sum() / (n - 1))
    variance = (var_y - 2 * value * cov + value * value * var_x) / (n * mean_x * mean_x)
    return RatioEstimate(value, max(float(variance), 0.0))


def two_sided_p(a: RatioEstimate, b: RatioEstimate) -> float | None:
    """The p-value of ``b.value - a.value`` under no difference (z-test, each estimate's own variance)."""
    if a.value is None or b.value is None or a.variance is None or b.variance is None:
        return None
    spread = math.sqrt(a.variance + b.variance)
    if spread == 0.0:
        return 1.0 if a.value == b.value else 0.0
    z = (b.value - a.value) / spread
    return math.erfc(abs(z) / math.sqrt(2.0))


def sample_ratio_p(challenger: int, total: int, share: float) -> float | None:
    """The p-value of ``challenger`` customers out of ``total`` when each is a challenger with ``share``."""
    if total == 0:
        return None
    expected = total * share
    z = (challenger - expected) / math.sqrt(total * share * (1.0 - share))
    return math.erfc(abs(z) / math.sqrt(2.0))
