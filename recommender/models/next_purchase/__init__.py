"""Next purchase: what a customer buys next, repeat items when they are due, plus new items to explore.

Per (customer, item) the customer bought before, from the fitted history:

- ``count``: distinct orders holding the item;
- ``weight``: the TIFU-KNN personal vector (``tifu``): the customer's orders cut into
  ``groups`` groups, an order weighs ``recency_decay ** ago * group_decay ** (groups - 1 - g) / size(g) /
  n_groups``, ``ago`` counted in the customer's orders (0 = their last order) or in days (``recency_unit``);
  the weight is the sum over the orders holding the item;
- ``interval`` (days): the customer's own mean repurchase interval, shrunk towards the item's
  population interval (median over repeat customers of their mean interval):
  ``(w * own + s * population) / (w + s)`` with ``w = count - 1`` and ``s = interval_shrinkage``;
  a customer who bought it once gets the population interval;
- per item, ``propensity``: share of its buyers who bought it again, shrunk towards the global share ``G``,
  ``(repeaters + p * G) / (buyers + p)`` with ``p = propensity_shrinkage``. An item is a repeat
  candidate only when at least ``min_repeaters`` customers (default 1) did buy it again and its propensity
  is at least ``min_repeat_share``: a durable bought once (a tent) never comes back. With both at 0 every
  bought item is a candidate and the shrunk propensity alone weighs it (a sparse catalog such as Ta-Feng,
  where most items have too few buyers to have shown a repeat yet).

Neighbours (TIFU-KNN): the ``neighbours`` customers nearest to each customer by their personal vectors
(``similarity``: Euclidean distance as in the authors' code, or cosine; the customer itself included),
and ``nb``, the mean of their vectors, kept at fit time as each customer's best ``neighbour_items`` items.

At ``now``, with ``x = (now - last purchase) / interval``::

    due(x)   = exp(-ln(x)^2 / (2 * early_width^2))   for x <= 1  (just bought: near 0)
             = exp(-ln(x)^2 / (2 * late_width^2))    for x > 1   (overdue: fades slowly)
    d        = due_floor + (1 - due_floor) * due(x)
    bought, repeatable item:  (a * weight + (1 - a) * nb) * (propensity / G) ** propensity_power * d
    never bought item:        g * (1 - a) * nb * damping    (a = own_weight, g = neighbour_explore_scale)

``damping`` is the category ownership factor (``recommender.substitutes``): an owner of a one-off kind
(a tent) is not offered another one. With ``neighbours = 0`` the older formula holds: bought items score
``weight * propensity * d`` and new items come only from the explore part below.

Two optional terms (off by default). Transitions (``transition_weight`` ``w > 0``): what customers bought
in the order right after one holding the items of this customer's last order, ``sum over i in last of
n(i -> j) / (n(i) + transition_shrinkage)``, kept as the customer's best ``neighbour_items`` items scaled to 1
at the best, added as ``w * best * t`` (``best`` the customer's best score above, 1 when none). Explore by customer
(``explore_by_customer`` ``e > 0``): every item new to the customer is scaled by ``(o / O) ** e``, ``o`` the
odds that one of the customer's purchases after their first order is of an item new to them (shrunk
towards everyone's share with ``explore_by_customer_prior`` purchases), ``O`` everyone's odds: a customer
who keeps trying new things gets more of them.

Explore part (``explore_weight > 0``): items the customer never bought, ranked by a ``CollaborativeModel``
(implicit ALS), scaled per customer into the repeat range: ``explore_weight * top * s / s_top`` (``s`` the
ALS score clipped at 0, ``s_top`` the customer's best unbought ALS score, ``top`` the customer's best
score above, or 1 when there is none), added to the scores above. The final list is the top ``k``.

The defaults (own weight 0.1; due floor 0.8, so a just-bought repeat item drops below a due one) were
chosen across three shops together: on each customer's second-to-last order (validation: the last one
removed first), they have the best mean NDCG@10 relative to GP-TopFreq over Ta-Feng, the Complete Journey
and the generated shop (20,000 customers) among the candidates of ``training.self_tune``: 1.21x / 1.10x /
1.02x GP-TopFreq, against 1.13x / 1.07x / 1.03x for the previous defaults (own weight 0.3, due floor 0.3,
picked on the generated shop alone). ``recs train`` then picks per shop among a few candidates
(``training.self_tune``), and ``recs tune`` searches wider.

``neighbour_explore_scale`` (default 1, the TIFU-KNN formula) weighs the new items the neighbours bring
against the customer's own repeat items; on Ta-Feng's second-to-last baskets 1.5 did best (with own weight
0.1 and due floor 0.8: validation NDCG@10 .1093 against .1088 at 1). Dropping the repeater gate there
(``min_repeaters`` 0, ``min_repeat_share`` 0) raised it to .1104 (R@20 .1647 to .1700): Ta-Feng's catalog is
sparse, and an item few customers bought has had no chance to show a repeat yet. Adding transitions
(weight .05 / .1) and explore by customer (.5) on top raised it to .1112 / .1113 (R@20 .1713 / .1708).

``neighbours`` is 100 (300, the TIFU-KNN paper's pick for Ta-Feng, until issue 26): the neighbours' mean
costs in proportion to it, and at the production protocol's evaluation (every customer's last order, the
default config, ``training.pipeline.evaluate``) fewer neighbours did as well or better on two shops of
three. NDCG@10 by neighbours:

| neighbours | 50 | 100 | 150 | 200 | 300 |
|---|---:|---:|---:|---:|---:|
| Ta-Feng | .1334 | .1348 | .1349 | .1351 | .1361 |
| Complete Journey | .1500 | .1479 | .1464 | .1455 | .1426 |
| generated, 2M lines (20,000 customers scored) | | .3337 | | | .3322 |

(recall@10 at 100 against 300: Ta-Feng .1575 / .1584, the Complete Journey .1544 / .1496, the generated shop
.3911 / .3887), and on the generated 2M-line shop the fit's neighbours' mean took a third of its time.
``recs tune`` picks them per shop. ALS explore (``explore_weight``) did not help on either. Neighbours are
searched among the ``neighbour_pool`` most active customers, so fitting stays n x pool, not n x n,
and only when first needed: a customer's list is computed when a recommendation for them is asked for, and
every list before the model is saved (an evaluation pays for the customers it scores only).

Learned re-ordering (``ranker.rounds > 0``, off by default; ``ranker``): fit also holds
out each customer's last order, fits a copy of this model without it on the rest, and trains LightGBM on
whether the held-out orders hold each of its top ``ranker.candidates`` items, described by the signals above
(score, personal weight, due ratio, neighbour and transition scores, item popularity, customer activity).
Recommending re-orders the formula's top candidates by the learned odds, which become the scores.

The state is plain arrays: the per (customer, item) statistics and the neighbour lists as CSR arrays,
per-item arrays, and (with ``explore_weight > 0``) the nested collaborative model's arrays under keys
prefixed ``explore.``; the ranker's booster (LightGBM's text format as bytes) and statistics under ``ranker.``.

The package, one job a module:

- ``config``: ``NextPurchaseConfig``;
- ``repeats``: the repeat statistics (``RepeatStats``: counts, weights, intervals, propensities; the
  due-ness curve) and each customer's new-item odds;
- ``tifu`` (with its numba ``kernels``): TIFU-KNN personal vectors, nearest neighbours, their mean;
- ``neighbours``: the model's neighbour lists, computed lazily, and their scores;
- ``transitions``: the transition lists and their candidates;
- ``explore``: the ALS explore candidates;
- ``candidates``: (row, item, score) candidate triples and their top k;
- ``ranker`` and ``features``: the learned re-ordering and the features it reads;
- ``state``: the saved arrays beyond the repeat statistics and their checked loading;
- ``model``: ``NextPurchaseModel``, composing them.
"""

from recommender.models.next_purchase.config import NextPurchaseConfig
from recommender.models.next_purchase.model import NextPurchaseModel, UnknownCustomerError
from recommender.models.next_purchase.ranker import RankerConfig

__all__ = ["NextPurchaseConfig", "NextPurchaseModel", "RankerConfig", "UnknownCustomerError"]
