"""What a saved next purchase model holds besides the repeat statistics, and its checked loading.

The model file (``arrays.npz``) holds the repeat statistics (``RepeatStats.state``), ``end_time``, the
neighbour lists (``nb_indptr``, ``nb_items``, ``nb_scores``), when enabled the transition lists
(``tr_indptr``, ``tr_items``, ``tr_scores``) and the new-item odds factors (``explore_factor``), and the
nested parts under their prefixes: the explore model's arrays (``explore.``), the category ownership data
(``owned.``), the ranker's booster and statistics (``ranker.``). Each ``load_*`` function here checks its
part and raises ``ModelFileError`` for a damaged one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recommender.errors import ModelFileError
from recommender.model_files import check_csr, check_indices, require_arrays, require_length
from recommender.models.collaborative import CollaborativeModel
from recommender.models.next_purchase.candidates import RowLists
from recommender.models.next_purchase.config import NextPurchaseConfig
from recommender.models.next_purchase.ranker import HistoryStats, booster_from_array
from recommender.models.next_purchase.repeats import RepeatStats
from recommender.substitutes import CategoryOwnership

if TYPE_CHECKING:
    import lightgbm

EXPLORE_PREFIX = "explore."
OWNERSHIP_PREFIX = "owned."
RANKER_PREFIX = "ranker."
# the model's own arrays, always saved (the transition lists and new-item odds only when enabled)
OWN_ARRAYS = ["end_time", "indptr", "items", "count", "last", "weight", "own_interval", "interval"]
OWN_ARRAYS += ["propensity", "repeatable", "item_interval", "global_share", "nb_indptr", "nb_items", "nb_scores"]


def own_arrays(name: str, arrays: dict[str, np.ndarray], shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """The model's own arrays (no prefix), all of ``OWN_ARRAYS`` present, its two CSR patterns checked."""
    prefixes = (EXPLORE_PREFIX, OWNERSHIP_PREFIX, RANKER_PREFIX)
    own = {key: value for key, value in arrays.items() if not key.startswith(prefixes)}
    require_arrays(name, own, OWN_ARRAYS)
    check_csr(name, "customer items", own["indptr"], own["items"], shape)
    check_csr(name, "neighbour items", own["nb_indptr"], own["nb_items"], shape)
    return own


def load_customer_lists(
    name: str, own: dict[str, np.ndarray], cfg: NextPurchaseConfig, shape: tuple[int, int]
) -> tuple[RowLists | None, np.ndarray | None]:
    """The transition lists and new-item odds factors, when the config uses them (None when not)."""
    lists, factor = None, None
    if cfg.transition_weight > 0:
        require_arrays(name, own, ["tr_indptr", "tr_items", "tr_scores"])
        check_csr(name, "transition items", own["tr_indptr"], own["tr_items"], shape)
        require_length(name, "transition scores", own["tr_scores"], len(own["tr_items"]))
        lists = (
            own["tr_indptr"].astype(np.int64, copy=False),
            own["tr_items"].astype(np.int32, copy=False),
            own["tr_scores"].astype(np.float32, copy=False),
        )
    if cfg.explore_by_customer > 0:
        require_arrays(name, own, ["explore_factor"])
        require_length(name, "explore factors", own["explore_factor"], shape[0])
        factor = own["explore_factor"].astype(np.float32, copy=False)
    return lists, factor


def check_shapes(name: str, repeats: RepeatStats, neighbours: RowLists, shape: tuple[int, int]) -> None:
    """Refuse per-customer, neighbour or per-item arrays whose lengths do not fit together."""
    n_customers, n_items = shape
    nnz = len(repeats.items)
    per_entry = (repeats.count, repeats.last, repeats.weight, repeats.own_interval, repeats.interval)
    consistent = len(repeats.indptr) == n_customers + 1 and repeats.indptr[-1] == nnz
    if not consistent or any(len(a) != nnz for a in per_entry):
        raise ModelFileError(f"{name} model file: per-customer arrays are inconsistent")
    nb_indptr, nb_items, nb_scores = neighbours
    nb_ok = len(nb_indptr) == n_customers + 1 and nb_indptr[-1] == len(nb_items)
    if not nb_ok or len(nb_scores) != len(nb_items):
        raise ModelFileError(f"{name} model file: neighbour arrays are inconsistent")
    if any(len(a) != n_items for a in (repeats.propensity, repeats.repeatable, repeats.item_interval)):
        raise ModelFileError(f"{name} model file: per-item arrays do not match the item count")


def load_explore(
    name: str, arrays: dict[str, np.ndarray], cfg: NextPurchaseConfig, shape: tuple[int, int]
) -> CollaborativeModel | None:
    """The nested explore model (None when ``explore_weight`` is 0)."""
    nested = {key[len(EXPLORE_PREFIX) :]: value for key, value in arrays.items() if key.startswith(EXPLORE_PREFIX)}
    if cfg.explore_weight <= 0:
        return None
    if not nested:
        raise ModelFileError(f"{name} model file lacks the explore model's arrays")
    explore = CollaborativeModel(cfg.collaborative)
    explore.n_customers, explore.n_items = shape
    explore._load_state(nested)
    explore._fitted = True
    return explore


def load_ownership(name: str, arrays: dict[str, np.ndarray], shape: tuple[int, int]) -> CategoryOwnership | None:
    """The category ownership data, when the model kept some (None when not)."""
    if not any(key.startswith(OWNERSHIP_PREFIX) for key in arrays):
        return None
    owned = CategoryOwnership.from_state(arrays, OWNERSHIP_PREFIX)
    n_customers, n_items = shape
    n_categories = len(owned.repeat_rate)
    require_length(name, "ownership categories", owned.item_category, n_items)
    check_indices(name, "ownership categories", owned.item_category, n_categories, missing_ok=True)
    check_csr(name, "ownership", owned.indptr, owned.indices, (n_customers, n_categories))
    return owned


def load_ranker(
    name: str, arrays: dict[str, np.ndarray], cfg: NextPurchaseConfig, shape: tuple[int, int]
) -> tuple[lightgbm.Booster | None, HistoryStats | None]:
    """The ranker's booster (None: the history had nothing to learn from) and statistics, when enabled."""
    if cfg.ranker.rounds == 0:
        return None, None
    stats = HistoryStats.from_state(arrays, RANKER_PREFIX, *shape)
    require_arrays(name, arrays, [RANKER_PREFIX + "model"])
    model = arrays[RANKER_PREFIX + "model"]
    return (booster_from_array(model) if len(model) else None), stats
