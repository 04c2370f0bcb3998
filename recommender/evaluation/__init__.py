"""Evaluation: time-ordered splits, ranking metrics, baselines and the complements protocol.

See docs/quality.md "Evaluation protocols". Submodules: ``splits`` (next-basket, customer-split next-basket,
by-time, random and per-customer stratified hold-outs), ``metrics`` (next-basket and top-n ranking
metrics), ``baselines`` (G/P/GP-TopFreq, MostPop) and ``complements`` (complement events, metrics and baselines).
"""

from recommender.evaluation.baselines import g_topfreq, gp_topfreq, most_pop, order_counts, p_topfreq
from recommender.evaluation.complements import (
    ComplementEvents,
    complement_events,
    complement_hits,
    complement_metrics,
    popularity_in_window,
    symmetric_cooccurrence,
)
from recommender.evaluation.metrics import basket_metrics, evaluate_next_basket, ndcg_per_customer, topn_metrics
from recommender.evaluation.splits import (
    CustomerSplit,
    NextBasketSplit,
    NothingToEvaluateError,
    sample_customers,
    split_by_time,
    split_customers_last_order,
    split_last_order,
    split_random_interactions,
    split_stratified,
)

__all__ = [
    "ComplementEvents",
    "CustomerSplit",
    "NextBasketSplit",
    "NothingToEvaluateError",
    "basket_metrics",
    "complement_events",
    "complement_hits",
    "complement_metrics",
    "evaluate_next_basket",
    "g_topfreq",
    "gp_topfreq",
    "most_pop",
    "ndcg_per_customer",
    "order_counts",
    "p_topfreq",
    "popularity_in_window",
    "sample_customers",
    "split_by_time",
    "split_customers_last_order",
    "split_last_order",
    "split_random_interactions",
    "split_stratified",
    "symmetric_cooccurrence",
    "topn_metrics",
]
