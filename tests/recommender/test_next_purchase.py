"""Next purchase on a small hand-built grocery-and-camping shop: due repeat items, durables, explore."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.base import ARRAYS_FILE
from recommender.history import DAY, OrderHistory
from recommender.models.collaborative import CollaborativeConfig, CollaborativeModel
from recommender.models.next_purchase import NextPurchaseConfig, NextPurchaseModel, UnknownCustomerError
from recommender.models.next_purchase import neighbours as next_purchase_neighbours
from recommender.models.next_purchase import transitions as next_purchase_transitions
from recommender.models.next_purchase.repeats import grouped_median, new_item_odds, orders_ago
from recommender.models.next_purchase.transitions import transition_lists
from recommender.wording import describe_interval
from tests.recommender.conftest import START, Line, history_from_lines

SMALL_ALS = CollaborativeConfig(factors=8, iterations=3)
# neighbours and ALS both on; a low due floor (the default .8 suits real shops) makes due-ness easy to see
CONFIG = NextPurchaseConfig(explore_weight=0.1, collaborative=SMALL_ALS, due_floor=0.3, own_weight=0.3)
DURABLES = ("tent", "stove")
ALICE_LAST_COFFEE = 70.0


def shop_lines(seed: int = 5) -> list[Line]:
    """40 regulars with grocery cycles and one-off durables, Alice (coffee every 14 days), Bob (one order)."""
    rng = np.random.default_rng(seed)
    lines: list[Line] = []
    for c in range(40):
        who = f"r{c}"
        for item, every, start in (("coffee", 14, rng.uniform(0, 14)), ("soap", 30, rng.uniform(0, 30))):
            lines += [(who, item, float(d + rng.uniform(-1, 1))) for d in np.arange(start, 100, every)]
        if c % 2 == 0:
            lines += [(who, "bread", float(d)) for d in np.arange(rng.uniform(0, 7), 100, 7)]
        if c >= 20:
            lines += [(who, "tea", float(d)) for d in np.arange(rng.uniform(0, 21), 100, 21)]
        if c < 20:
            lines.append((who, "tent", float(rng.uniform(0, 100))))
        if 10 <= c < 30:
            lines.append((who, "stove", float(rng.uniform(0, 100))))
        lines += [(who, f"snack{j}", float(rng.uniform(0, 100))) for j in rng.choice(6, 2, replace=False)]
    lines += [("alice", "coffee", d) for d in np.arange(0.0, ALICE_LAST_COFFEE + 1, 14)]
    lines += [("alice", "bread", float(d)) for d in np.arange(1.0, 72, 7)]
    lines += [("alice", "soap", 20.0), ("alice", "soap", 50.0), ("alice", "tent", 5.0)]
    lines += [("alice", "tea", d) for d in (10.0, 31.0, 52.0)]
    lines += [("bob", "coffee", 95.0), ("bob", "tent", 95.0)]
    return lines


@pytest.fixture(scope="module")
def shop() -> OrderHistory:
    return history_from_lines(shop_lines())


@pytest.fixture(scope="module")
def model(shop: OrderHistory) -> NextPurchaseModel:
    return NextPurchaseModel(CONFIG).fit(shop)


def at_day(day: float) -> int:
    return START + int(day * DAY)


def listed(model: NextPurchaseModel, shop: OrderHistory, who: str, k: int = 10, now: int | None = None) -> list[str]:
    items, _ = model.recommend(np.array([shop.customers.index_one(who)]), k, now=now).row(0)
    return [str(x) for x in shop.items.external(items)]


def test_due_coffee_is_in_the_top_3(model: NextPurchaseModel, shop: OrderHistory) -> None:
    assert "coffee" in listed(model, shop, "alice", k=3, now=at_day(ALICE_LAST_COFFEE + 14))


def test_coffee_ranks_lower_right_after_buying_it(model: NextPurchaseModel, shop: OrderHistory) -> None:
    alice, coffee = shop.customers.index_one("alice"), shop.items.index_one("coffee")

    def rank_and_score(day: float) -> tuple[int, float]:
        items, scores = model.recommend(np.array([alice]), shop.n_items, now=at_day(day)).row(0)
        pos = int(np.flatnonzero(items == coffee)[0])
        return pos, float(scores[pos])

    due_rank, due_score = rank_and_score(ALICE_LAST_COFFEE + 14)
    fresh_rank, fresh_score = rank_and_score(ALICE_LAST_COFFEE + 0.5)
    assert fresh_rank >= due_rank  # alice has little else she buys: coffee may stay first, but scores far lower
    assert fresh_score < 0.5 * due_score
    # overdue fades slowly: a week late it still beats having just bought it
    late_rank, late_score = rank_and_score(ALICE_LAST_COFFEE + 21)
    assert late_rank <= fresh_rank and late_score > 0.8 * due_score


@pytest.mark.parametrize("days_after_end", [0, 30, 365])
def test_durables_bought_once_never_come_back(
    model: NextPurchaseModel, shop: OrderHistory, days_after_end: int
) -> None:
    durable = np.isin(shop.item, shop.items.index(list(DURABLES)))
    buyers = np.unique(shop.customer[durable])
    ranked = model.recommend(buyers, shop.n_items, now=shop.end_time + days_after_end * DAY)
    assert (ranked.items >= 0).all(axis=1).sum() < len(buyers), "lists are not just every item"
    rows = np.repeat(buyers, ranked.items.shape[1])
    items = ranked.items.ravel()
    offered_durable = np.isin(items, shop.items.index(list(DURABLES)))
    bought = shop.customer_items("binary")
    # a durable may be offered to someone who does not own one yet, never again to an owner
    assert np.asarray(bought[rows[offered_durable], items[offered_durable]]).ravel().sum() == 0


def test_explore_items_fill_short_histories(model: NextPurchaseModel, shop: OrderHistory) -> None:
    got = listed(model, shop, "bob", k=5)
    new = [item for item in got if item not in ("coffee", "tent")]
    assert new, "a one-order customer gets items they never bought"
    assert "tent" not in got
    bob = shop.customers.index_one("bob")
    assert model.reason(bob, shop.items.index_one(new[0])) == "customers like you buy this"


@pytest.mark.parametrize("als_excludes_bought", [True, False])
def test_bought_items_in_any_list_are_repeat_items(shop: OrderHistory, als_excludes_bought: bool) -> None:
    als = CollaborativeConfig(factors=8, iterations=3, exclude_bought=als_excludes_bought)
    model = NextPurchaseModel(NextPurchaseConfig(explore_weight=0.5, collaborative=als)).fit(shop)
    customers = np.arange(shop.n_customers)
    ranked = model.recommend(customers, 8)
    bought = shop.customer_items("binary")
    rows = np.repeat(customers, 8)
    items = ranked.items.ravel()
    valid = items >= 0
    was_bought = np.asarray(bought[rows[valid], items[valid]]).ravel() > 0
    names = set(shop.items.external(items[valid][was_bought]))
    assert names and names.isdisjoint(DURABLES)
    assert len(set(shop.items.external(items[valid][~was_bought]))) > 0


def test_now_per_query(model: NextPurchaseModel, shop: OrderHistory) -> None:
    alice = shop.customers.index_one("alice")
    times = np.array([at_day(ALICE_LAST_COFFEE + 14), at_day(ALICE_LAST_COFFEE + 0.5)])
    both = model.recommend(np.array([alice, alice]), 6, now=times)
    for row, when in enumerate(times):
        alone = model.recommend(np.array([alice]), 6, now=int(when))
        np.testing.assert_array_equal(both.items[row], alone.items[0])
        np.testing.assert_allclose(both.scores[row], alone.scores[0], rtol=1e-6)
    assert not np.allclose(both.scores[0], both.scores[1])


def test_none_means_the_end_of_the_history(model: NextPurchaseModel, shop: OrderHistory) -> None:
    customers = np.arange(shop.n_customers)
    np.testing.assert_array_equal(
        model.recommend(customers, 5).items, model.recommend(customers, 5, now=shop.end_time).items
    )


def test_reasons(model: NextPurchaseModel, shop: OrderHistory) -> None:
    alice, coffee = shop.customers.index_one("alice"), shop.items.index_one("coffee")
    assert model.reason(alice, coffee) == "you buy this about every 2 weeks"
    bob = shop.customers.index_one("bob")
    assert "about every" in model.reason(bob, coffee)
    with pytest.raises(UnknownCustomerError):
        model.reason(shop.n_customers, coffee)


def test_intervals_give_the_numbers_the_reasons_state(model: NextPurchaseModel, shop: OrderHistory) -> None:
    alice, coffee = shop.customers.index_one("alice"), shop.items.index_one("coffee")
    assert model.intervals(np.array([alice]), np.array([coffee]))[0] == pytest.approx(14.0, abs=0.01)
    customers = np.repeat(np.arange(shop.n_customers), shop.n_items)
    items = np.tile(np.arange(shop.n_items), shop.n_customers)
    days = model.intervals(customers, items)
    assert days.dtype == np.float32
    orders = np.asarray(shop.customer_items("count")[customers, items]).ravel()
    again, once = orders >= 2, orders == 1
    # the customer's own rhythm where they bought it again, 0 where once, -1 for the rest (explore items)
    assert (days[again] >= model.config.min_interval_days).all()
    assert (days[once] == 0).all()
    assert (days[orders == 0] == -1).all()
    for c, i, d in zip(customers[again], items[again], days[again], strict=True):
        assert model.reason(int(c), int(i)) == f"you buy this about every {describe_interval(float(d))}"


def test_intervals_of_unknown_pairs_are_minus_one(model: NextPurchaseModel, shop: OrderHistory) -> None:
    coffee = shop.items.index_one("coffee")
    days = model.intervals(np.array([-1, shop.n_customers, 0]), np.array([coffee, coffee, -1]))
    assert (days == -1).all()
    assert len(model.intervals(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))) == 0
    with pytest.raises(ValueError):
        model.intervals(np.array([0, 1]), np.array([coffee]))


def test_save_load_round_trip_is_identical(model: NextPurchaseModel, shop: OrderHistory, tmp_path: Path) -> None:
    model.save(tmp_path / "np")
    with np.load(tmp_path / "np" / ARRAYS_FILE, allow_pickle=False) as npz:
        assert any(key.startswith("explore.") for key in npz.files)
    loaded = NextPurchaseModel.load(tmp_path / "np")
    assert loaded.config == model.config
    customers = np.arange(shop.n_customers)
    for now in (None, at_day(ALICE_LAST_COFFEE + 14)):
        before, after = model.recommend(customers, 7, now=now), loaded.recommend(customers, 7, now=now)
        np.testing.assert_array_equal(before.items, after.items)
        np.testing.assert_array_equal(before.scores, after.scores)
    alice, coffee = shop.customers.index_one("alice"), shop.items.index_one("coffee")
    assert loaded.reason(alice, coffee) == model.reason(alice, coffee)


def test_a_fitted_collaborative_model_is_reused_not_refitted(shop: OrderHistory) -> None:
    als = CollaborativeModel(CollaborativeConfig(factors=4, iterations=2, seed=3)).fit(shop)
    factors = als.item_factors.copy()
    model = NextPurchaseModel(NextPurchaseConfig(explore_weight=0.8), collaborative=als).fit(shop)
    assert model.collaborative is als
    np.testing.assert_array_equal(als.item_factors, factors)
    assert model.config.collaborative == als.config
    assert model.config.explore_weight == 0.8
    other = history_from_lines([("x", "coffee", 1.0), ("y", "tea", 2.0)])
    with pytest.raises(ValueError, match="fitted on"):
        NextPurchaseModel(NextPurchaseConfig(explore_weight=0.1), collaborative=als).fit(other)


def test_explore_weight_zero_recommends_only_repeat_items(shop: OrderHistory, tmp_path: Path) -> None:
    model = NextPurchaseModel(NextPurchaseConfig(explore_weight=0.0, neighbours=0)).fit(shop)
    assert model.collaborative is None
    bob = shop.customers.index_one("bob")
    assert listed(model, shop, "bob", k=5) == ["coffee"]
    assert model.reason(bob, shop.items.index_one("tea")) == "customers like you buy this"
    model.save(tmp_path / "repeat-only")
    with np.load(tmp_path / "repeat-only" / ARRAYS_FILE, allow_pickle=False) as npz:
        assert not any(key.startswith("explore.") for key in npz.files)


def test_without_the_repeater_gate_every_bought_item_is_a_repeat_candidate(shop: OrderHistory) -> None:
    gated = NextPurchaseModel(NextPurchaseConfig(explore_weight=0.0, neighbours=0)).fit(shop)
    open_cfg = NextPurchaseConfig(explore_weight=0.0, neighbours=0, min_repeaters=0, min_repeat_share=0.0)
    ungated = NextPurchaseModel(open_cfg).fit(shop)
    assert listed(gated, shop, "bob", k=5) == ["coffee"]
    # nobody ever bought a second tent: it comes back only below coffee, weighed by its shrunk propensity
    assert listed(ungated, shop, "bob", k=5) == ["coffee", "tent"]


def chips_then_salsa() -> OrderHistory:
    """Ten customers buy chips, then salsa in their next order; carol's last order holds chips."""
    lines: list[Line] = []
    for c in range(10):
        lines += [(f"c{c}", "chips", 0.0), (f"c{c}", "bread", 0.0), (f"c{c}", "salsa", 7.0), (f"c{c}", "milk", 14.0)]
    lines += [("carol", "bread", 0.0), ("carol", "chips", 7.0)]
    return history_from_lines(lines)


def test_transitions_offer_what_others_bought_next() -> None:
    history = chips_then_salsa()
    lists = transition_lists(history, shrinkage=0.0, keep=5)
    carol = history.customers.index_one("carol")
    row = lists[carol]
    assert str(history.items.external(row.indices[np.argmax(row.data)])) == "salsa"
    assert row.data.max() == pytest.approx(1.0)
    cfg = NextPurchaseConfig(neighbours=0, transition_weight=0.5)
    assert "salsa" in listed(NextPurchaseModel(cfg).fit(history), history, "carol", k=3)
    assert "salsa" not in listed(
        NextPurchaseModel(cfg.model_copy(update={"transition_weight": 0.0})).fit(history), history, "carol", k=3
    )


def test_transition_lists_do_not_depend_on_the_customer_blocks(
    shop: OrderHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = transition_lists(shop, shrinkage=1.0, keep=4)
    monkeypatch.setattr(next_purchase_transitions, "TRANSITION_BLOCK", 3)
    blocked = transition_lists(shop, shrinkage=1.0, keep=4)
    assert whole.nnz > 40
    assert (whole != blocked).nnz == 0


def test_new_item_odds_tell_explorers_from_repeaters() -> None:
    lines: list[Line] = [("explorer", f"new{d}", float(d)) for d in range(6)]
    lines += [("repeater", "coffee", float(d)) for d in range(6)]
    lines += [("other", "tea", 0.0), ("other", "soap", 1.0)]
    history = history_from_lines(lines)
    odds = new_item_odds(history, prior=1.0)
    explorer, repeater = history.customers.index(["explorer", "repeater"])
    assert odds[explorer] > 1.0 > odds[repeater]


def test_transitions_and_customer_explore_survive_save_load(shop: OrderHistory, tmp_path: Path) -> None:
    cfg = NextPurchaseConfig(transition_weight=0.1, explore_by_customer=0.5)
    model = NextPurchaseModel(cfg).fit(shop)
    model.save(tmp_path / "np")
    loaded = NextPurchaseModel.load(tmp_path / "np")
    customers = np.arange(shop.n_customers)
    before, after = model.recommend(customers, 7), loaded.recommend(customers, 7)
    np.testing.assert_array_equal(before.items, after.items)
    np.testing.assert_array_equal(before.scores, after.scores)


def test_recency_in_days_gives_the_same_due_coffee(shop: OrderHistory) -> None:
    model = NextPurchaseModel(NextPurchaseConfig(recency_unit="days", recency_decay=0.98, collaborative=SMALL_ALS))
    model.fit(shop)
    assert "coffee" in listed(model, shop, "alice", k=3, now=at_day(ALICE_LAST_COFFEE + 14))


def test_orders_ago_counts_each_customers_later_orders() -> None:
    history = history_from_lines([("a", "x", 1.0), ("b", "x", 2.0), ("a", "y", 3.0), ("a", "x", 9.0), ("b", "y", 9.0)])
    table = history.orders_table()
    ago = orders_ago(history)[table["order"]]
    days = (table["ordered_at"] - START) // DAY
    who = history.customers.external(table["customer"])
    assert sorted(zip(who, days, ago, strict=True)) == [("a", 1, 2), ("a", 3, 1), ("a", 9, 0), ("b", 2, 1), ("b", 9, 0)]


def test_grouped_median_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    groups, values = rng.integers(0, 6, 50), rng.normal(size=50)
    got = grouped_median(groups, values, 8)
    for g in range(8):
        expected = np.median(values[groups == g]) if (groups == g).any() else np.nan
        np.testing.assert_allclose(got[g], expected)


@pytest.mark.parametrize(
    ("days", "text"), [(1, "day"), (3, "3 days"), (14, "2 weeks"), (7.4, "7 days"), (61, "2 months")]
)
def test_describe_interval(days: float, text: str) -> None:
    assert describe_interval(days) == text


def test_neighbours_offer_what_similar_customers_buy() -> None:
    """Two tastes: tea drinkers also buy honey, coffee drinkers also buy milk; a new tea drinker gets honey."""
    lines: list[Line] = []
    for c in range(12):
        drink, side = ("tea", "honey") if c % 2 else ("coffee", "milk")
        lines += [(f"c{c}", drink, float(d)) for d in range(0, 60, 10)]
        lines += [(f"c{c}", side, float(d)) for d in range(5, 60, 10)]
    lines += [("new", "tea", 1.0), ("new", "tea", 11.0), ("new", "bread", 11.0)]
    history = history_from_lines(lines)
    model = NextPurchaseModel(NextPurchaseConfig(neighbours=5)).fit(history)
    got = listed(model, history, "new", k=3)
    assert got[0] == "tea"
    assert "honey" in got and "milk" not in got
    assert model.reason(history.customers.index_one("new"), history.items.index_one("honey")) == (
        "customers like you buy this"
    )
    alone = NextPurchaseModel(NextPurchaseConfig(neighbours=0)).fit(history)
    assert "honey" not in listed(alone, history, "new", k=3)


def test_neighbour_explore_scale_weighs_new_items_against_own_ones() -> None:
    """The new tea drinker's honey (from the neighbours) moves up with a larger scale, and disappears at 0."""
    lines: list[Line] = []
    for c in range(12):
        drink, side = ("tea", "honey") if c % 2 else ("coffee", "milk")
        lines += [(f"c{c}", drink, float(d)) for d in range(0, 60, 10)]
        lines += [(f"c{c}", side, float(d)) for d in range(5, 60, 10)]
    lines += [("new", "tea", 1.0), ("new", "tea", 11.0), ("new", "bread", 11.0), ("new", "bread", 21.0)]
    history = history_from_lines(lines)

    def honey_rank(scale: float) -> int | None:
        cfg = NextPurchaseConfig(neighbours=5, own_weight=0.5, neighbour_explore_scale=scale)
        got = listed(NextPurchaseModel(cfg).fit(history), history, "new", k=5)
        return got.index("honey") if "honey" in got else None

    assert honey_rank(0.0) is None
    assert honey_rank(1.0) is not None and honey_rank(1.0) > 0
    assert honey_rank(20.0) == 0


def test_default_model_saves_its_neighbour_lists(shop: OrderHistory, tmp_path: Path) -> None:
    model = NextPurchaseModel().fit(shop)
    assert model.collaborative is None
    model.save(tmp_path / "np")
    with np.load(tmp_path / "np" / ARRAYS_FILE, allow_pickle=False) as npz:
        assert len(npz["nb_items"]) > 0
    loaded = NextPurchaseModel.load(tmp_path / "np")
    customers = np.arange(shop.n_customers)
    before, after = model.recommend(customers, 6), loaded.recommend(customers, 6)
    np.testing.assert_array_equal(before.items, after.items)
    np.testing.assert_array_equal(before.scores, after.scores)


def test_a_bounded_neighbour_pool_still_gives_every_customer_a_list(history: OrderHistory) -> None:
    pooled = NextPurchaseModel(NextPurchaseConfig(neighbour_pool=20)).fit(history)
    ranked = pooled.recommend(np.arange(history.n_customers), 5)
    bought = np.diff(history.customer_items("binary").indptr) > 0
    assert (ranked.items[bought, 0] >= 0).all()


def test_neighbour_lists_computed_for_the_customers_asked_equal_the_full_computation(
    shop: OrderHistory, tmp_path: Path
) -> None:
    customers = np.arange(shop.n_customers)
    eager = NextPurchaseModel(CONFIG).fit(shop)
    everyone = eager.recommend(customers, k=8)
    lazy = NextPurchaseModel(CONFIG).fit(shop)
    some = customers[::3]
    first = lazy.recommend(some, k=8)  # lists for a third of the customers only
    assert lazy._nb_done.sum() == len(some)
    np.testing.assert_array_equal(first.items, everyone.items[some])
    np.testing.assert_array_equal(lazy.recommend(customers, k=8).items, everyone.items)
    # saving computes every list first: the same files whatever was asked before
    NextPurchaseModel(CONFIG).fit(shop).save(tmp_path / "fresh")
    lazy.save(tmp_path / "lazy")
    with np.load(tmp_path / "fresh" / ARRAYS_FILE) as a, np.load(tmp_path / "lazy" / ARRAYS_FILE) as b:
        assert a.files == b.files
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_neighbour_lists_do_not_depend_on_the_query_chunks(shop: OrderHistory, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = NextPurchaseModel(CONFIG).fit(shop)
    whole.complete()
    monkeypatch.setattr(next_purchase_neighbours, "_QUERY_CHUNK", 3)
    chunked = NextPurchaseModel(CONFIG).fit(shop)
    chunked.complete()
    assert len(whole._nb_items) > 10
    for name in ("_nb_indptr", "_nb_items", "_nb_scores"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name), err_msg=name)


def test_complete_computes_every_neighbour_list_up_front(shop: OrderHistory) -> None:
    model = NextPurchaseModel(CONFIG).fit(shop)
    assert not model._nb_done.any()  # nothing asked for yet
    model.complete()
    assert model._nb_done.all() and len(model._nb_items) > 0
