"""Complements on a small hand-built camping shop: tent -> sleeping bag within days, never back, counts exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.errors import NotFittedError
from recommender.history import DAY, Catalog, OrderHistory
from recommender.ids import IdMap
from recommender.models import complements as complements_module
from recommender.models.complements import AnchorEvents, ComplementsConfig, ComplementsModel, UnknownPairError

T0 = 1_700_000_000
ITEMS = ["lantern", "milk", "sleeping_bag", "stove", "tent", "tent_xl"]
CATEGORY_OF = {
    "lantern": "Lights",
    "milk": "Food",
    "sleeping_bag": "Sleeping",
    "stove": "Cooking",
    "tent": "Tents",
    "tent_xl": "Tents",
}


def camping_lines(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer, item, day) lines of a shop where most tent buyers buy a sleeping bag days later.

    - 200 customers buy milk every 4 days (an item everyone buys, in every window);
    - customers 0..59 buy a tent; 45 of them a sleeping bag 1..10 days later, 20 a lantern 30..40
      days later (outside a 14-day window), 15 the other tent (same category) 2 days later;
    - customers 60..89 buy a sleeping bag alone; 90..94 buy a sleeping bag, then a tent 3 days later;
    - customers 95..99 buy a stove 5 days after a tent-free milk order.
    """
    rng = np.random.default_rng(seed)
    cust: list[np.ndarray] = []
    item: list[np.ndarray] = []
    day: list[np.ndarray] = []

    def add(c: np.ndarray, name: str, d: np.ndarray) -> None:
        cust.append(np.asarray(c))
        item.append(np.full(len(c), name))
        day.append(np.asarray(d, dtype=np.float64))

    milk_days = np.arange(0, 160, 4)
    add(np.repeat(np.arange(200), len(milk_days)), "milk", np.tile(milk_days, 200) + 0.5)
    buyers = np.arange(60)
    tent_day = rng.integers(0, 100, 60) + 0.3
    add(buyers, "tent", tent_day)
    add(buyers[:45], "sleeping_bag", tent_day[:45] + rng.integers(1, 11, 45))
    add(buyers[10:30], "lantern", tent_day[10:30] + rng.integers(30, 41, 20))
    add(buyers[40:55], "tent_xl", tent_day[40:55] + 2)
    add(np.arange(60, 90), "sleeping_bag", rng.integers(0, 150, 30) + 0.7)
    reversed_day = rng.integers(0, 100, 5) + 0.2
    add(np.arange(90, 95), "sleeping_bag", reversed_day)
    add(np.arange(90, 95), "tent", reversed_day + 3)
    add(np.arange(95, 100), "stove", np.full(5, 20.5) + 5)
    return np.concatenate(cust), np.concatenate(item), np.concatenate(day)


def make_history(lines: tuple[np.ndarray, np.ndarray, np.ndarray], with_catalog: bool) -> OrderHistory:
    cust, item, day = lines
    items = IdMap(np.asarray(ITEMS))
    catalog = None
    if with_catalog:
        names = sorted(set(CATEGORY_OF.values()))
        categories = IdMap(np.asarray(names))
        catalog = Catalog(
            categories=categories,
            category=categories.index([CATEGORY_OF[i] for i in ITEMS]),
            name=np.asarray([i.replace("_", " ").title() for i in ITEMS]),
            in_stock=np.ones(len(ITEMS), dtype=bool),
            price=np.full(len(ITEMS), np.nan, dtype=np.float32),
        )
    return OrderHistory.from_arrays(
        np.char.add("c", cust.astype(str)), item, T0 + (day * DAY).astype(np.int64), catalog=catalog, items=items
    )


def anchor_followups(history: OrderHistory, anchor: int, window_days: int) -> list[set[int]]:
    """Per anchor event of ``anchor`` (a distinct purchase whose window ends inside the history): the other
    items its customer bought in (t, t + window] (slow, obvious)."""
    window = window_days * DAY
    lines = zip(history.customer, history.item, history.ordered_at, strict=True)
    events = sorted({(int(c), int(t)) for c, i, t in lines if i == anchor})
    out = []
    for c, t in events:
        if t + window > history.end_time:
            continue
        later = (history.customer == c) & (history.ordered_at > t) & (history.ordered_at <= t + window)
        out.append({int(i) for i in history.item[later]} - {anchor})
    return out


def brute_force_counts(history: OrderHistory, anchor: int, cand: int, window_days: int = 14) -> tuple[int, int]:
    """(anchor events followed by ``cand``, anchor events)."""
    followups = anchor_followups(history, anchor, window_days)
    return sum(cand in f for f in followups), len(followups)


@pytest.fixture(scope="module")
def shop() -> OrderHistory:
    return make_history(camping_lines(), with_catalog=True)


@pytest.fixture(scope="module")
def model(shop: OrderHistory) -> ComplementsModel:
    return ComplementsModel().fit(shop)


def idx(history: OrderHistory, name: str) -> int:
    return history.items.index_one(name)


def offered(model: ComplementsModel, history: OrderHistory, anchor: str, k: int = 10) -> list[str]:
    items, _ = model.recommend(np.array([idx(history, anchor)]), k).row(0)
    return [str(x) for x in history.items.external(items)]


def test_tent_offers_sleeping_bag_in_top_3(model: ComplementsModel, shop: OrderHistory) -> None:
    assert "sleeping_bag" in offered(model, shop, "tent", k=3)


def test_sleeping_bag_never_offers_the_tent_it_follows(model: ComplementsModel, shop: OrderHistory) -> None:
    # five customers did buy a tent right after a sleeping bag: enough support, but the pair goes the other way
    bag, tent = idx(shop, "sleeping_bag"), idx(shop, "tent")
    assert brute_force_counts(shop, bag, tent)[0] == 5
    assert brute_force_counts(shop, tent, bag)[0] == 45
    assert "tent" not in offered(model, shop, "sleeping_bag", k=10)
    undirected = ComplementsModel(ComplementsConfig(min_direction=0.0)).fit(shop)
    assert "tent" in offered(undirected, shop, "sleeping_bag", k=10)


def test_purchase_outside_the_window_does_not_count(shop: OrderHistory) -> None:
    narrow = ComplementsModel(ComplementsConfig(pad_with_popular=False)).fit(shop)
    assert "lantern" not in offered(narrow, shop, "tent")
    with pytest.raises(UnknownPairError):
        narrow.pair_stats(idx(shop, "tent"), idx(shop, "lantern"))
    wide = ComplementsModel(ComplementsConfig(window_days=45, pad_with_popular=False)).fit(shop)
    assert "lantern" in offered(wide, shop, "tent")


def test_same_category_rules(shop: OrderHistory) -> None:
    # 15 of the 65 tent buyers bought the other tent two days later: here tents are not a one-off kind
    always = ComplementsModel(ComplementsConfig(exclude_same_category="always")).fit(shop)
    assert "tent_xl" not in offered(always, shop, "tent")
    for mode in ("one_off", "never"):
        kept = ComplementsModel(ComplementsConfig(exclude_same_category=mode)).fit(shop)  # type: ignore[arg-type]
        assert "tent_xl" in offered(kept, shop, "tent")
    no_catalog = make_history(camping_lines(), with_catalog=False)
    assert "tent_xl" in offered(ComplementsModel(ComplementsConfig(exclude_same_category="always")).fit(no_catalog),
                                no_catalog, "tent")  # fmt: skip


def test_one_off_kinds_offer_no_second_item_of_their_kind() -> None:
    # nobody buys a second tent here (Tents is a one-off kind); the big tent follows milk for other customers
    cust, item, day = camping_lines()
    keep = item != "tent_xl"
    extra = np.arange(200, 260)
    lines = (
        np.concatenate([cust[keep], extra, extra]),
        np.concatenate([item[keep], np.full(60, "milk"), np.full(60, "tent_xl")]),
        np.concatenate([day[keep], np.linspace(0, 100, 60), np.linspace(0, 100, 60) + 2]),
    )
    one_off = make_history(lines, with_catalog=True)
    assert "tent_xl" not in offered(ComplementsModel().fit(one_off), one_off, "tent")
    never = ComplementsModel(ComplementsConfig(exclude_same_category="never")).fit(one_off)
    assert "tent_xl" in offered(never, one_off, "tent")


def test_anchor_itself_is_never_offered(model: ComplementsModel, shop: OrderHistory) -> None:
    # milk is re-bought every 4 days by everyone, yet milk never complements milk
    assert "milk" not in offered(model, shop, "milk")


def test_the_default_ranks_by_the_chance_of_a_purchase(shop: OrderHistory) -> None:
    tent, milk, bag = idx(shop, "tent"), idx(shop, "milk"), idx(shop, "sleeping_bag")
    # every tent buyer buys milk within 14 days, three in four a sleeping bag
    assert brute_force_counts(shop, tent, milk)[0] > brute_force_counts(shop, tent, bag)[0]
    plain = offered(ComplementsModel(ComplementsConfig(shrinkage=1.0)).fit(shop), shop, "tent")
    assert plain.index("milk") < plain.index("sleeping_bag")


@pytest.mark.parametrize("exponent", [0.0, 0.5])
@pytest.mark.parametrize("with_catalog", [True, False])
def test_scores_follow_the_formula(exponent: float, with_catalog: bool) -> None:
    # no recency (plain counts), the lift's exponent as given; with a catalog, the prior is the category's
    history = make_history(camping_lines(), with_catalog=with_catalog)
    s, s2 = 7.0, 3.0
    cfg = ComplementsConfig(
        half_life_days=1e9, shrinkage=s, category_shrinkage=s2, min_direction=0.0, popularity_exponent=exponent
    )
    fitted = ComplementsModel(cfg).fit(history)
    followed = {i: [f for f in anchor_followups(history, i, 14) if f] for i in range(history.n_items)}
    everything = [f for events in followed.values() for f in events]
    base = np.array([sum(b in f for f in everything) for b in range(history.n_items)]) / len(everything)
    category = history.catalog.category if with_catalog else np.full(history.n_items, -1)
    for a in range(history.n_items):
        if category[a] >= 0:
            group = [f for i in np.flatnonzero(category == category[a]) for f in followed[int(i)]]
            counts = np.array([sum(b in f for f in group) for b in range(len(base))])
            parent = (counts + s2 * base) / (len(group) + s2)
        else:
            parent = base
        items, scores = fitted.recommend(np.array([a]), history.n_items).row(0)
        assert len(items) > 0
        for b, score in zip(items, scores, strict=True):
            own = sum(b in f for f in followed[a])
            expected = (own + s * parent[b]) / (len(followed[a]) + s) * base[b] ** -exponent
            assert score == pytest.approx(expected, rel=1e-5)


def test_recent_purchases_count_more() -> None:
    # two follow-ups of the same anchor, equally frequent: "old" in the first months, "new" in the last ones
    cust, item, day = [], [], []
    for c in range(40):
        start = 10.0 if c < 20 else 150.0
        cust += [c, c]
        item += ["anchor", "old" if c < 20 else "new"]
        day += [start, start + 2]
    cust.append(99), item.append("anchor"), day.append(200.0)  # the history ends after every window
    history = OrderHistory.from_arrays(np.char.add("c", np.asarray(cust).astype(str)), np.asarray(item),
                                       T0 + (np.asarray(day) * DAY).astype(np.int64))  # fmt: skip
    anchor = history.items.index_one("anchor")
    top = ComplementsModel(ComplementsConfig(half_life_days=30)).fit(history).recommend(np.array([anchor]), 2)
    assert [str(x) for x in history.items.external(top.row(0)[0])] == ["new", "old"]


def test_reason_numbers_match_the_counts(model: ComplementsModel, shop: OrderHistory) -> None:
    tent, bag = idx(shop, "tent"), idx(shop, "sleeping_bag")
    n_ab, n_a = model.pair_stats(tent, bag)
    assert (n_ab, n_a) == brute_force_counts(shop, tent, bag) == (45, 65)
    assert model.reason(tent, bag, "Tent") == f"bought by {round(100 * n_ab / n_a)}% of Tent buyers within 14 days"


def test_shares_of_every_kept_pair_match_pair_stats(model: ComplementsModel, shop: OrderHistory) -> None:
    anchors = np.repeat(np.arange(shop.n_items), shop.n_items)
    items = np.tile(np.arange(shop.n_items), shop.n_items)
    shares = model.shares(anchors, items)
    assert shares.dtype == np.float32
    kept = np.asarray(model.matrix[anchors, items]).ravel() > 0
    assert kept.sum() > 0 and (~kept).sum() > 0
    for a, i, share in zip(anchors[kept], items[kept], shares[kept], strict=True):
        try:
            n_ab, n_a = model.pair_stats(int(a), int(i))
        except UnknownPairError:  # offered for its base rate, without evidence: no share claimed
            assert share == -1
            continue
        assert share == pytest.approx(n_ab / n_a, rel=1e-6)
    assert (shares[~kept] == -1).all()
    tent, bag = idx(shop, "tent"), idx(shop, "sleeping_bag")
    assert 0 < model.shares(np.array([tent, -1, tent]), np.array([bag, bag, shop.n_items]))[0] <= 1
    assert (model.shares(np.array([-1, tent]), np.array([bag, shop.n_items])) == -1).all()


def test_every_pair_with_evidence_has_exact_counts() -> None:
    rng = np.random.default_rng(7)
    n = 600
    lines = (rng.integers(0, 40, n), rng.choice(np.asarray(ITEMS), n), rng.integers(0, 60, n).astype(np.float64))
    history = make_history(lines, with_catalog=False)
    fitted = ComplementsModel(ComplementsConfig(min_direction=0.0, min_support=2)).fit(history)
    m = fitted.matrix.tocoo()
    checked = 0
    for a, b in zip(m.row, m.col, strict=True):
        n_ab, n_a = brute_force_counts(history, int(a), int(b))
        if n_ab >= 2:
            assert fitted.pair_stats(int(a), int(b)) == (n_ab, n_a)
            checked += 1
        else:
            with pytest.raises(UnknownPairError):
                fitted.pair_stats(int(a), int(b))
    assert checked > 5


def test_windows_start_after_the_purchase_and_end_inside_the_history() -> None:
    # a: orders on days 0, 0 (a second order at the same moment), 5, 19 (exactly 14 days after 5); b: day 3
    cust = np.array(["a", "a", "a", "a", "b", "b"])
    item = np.array(["milk", "bread", "eggs", "tea", "milk", "tea"])
    day = np.array([0.0, 0.0, 5.0, 19.0, 3.0, 30.0])
    history = OrderHistory.from_arrays(cust, item, T0 + (day * DAY).astype(np.int64))
    events = AnchorEvents(history, 14, 30.0)
    name = {i: str(history.items.external(np.array([i]))[0]) for i in range(history.n_items)}
    anchors = sorted(name[int(events.item[e])] for e in events.event)  # windows ending by day 30
    assert anchors == ["bread", "eggs", "milk", "milk"]
    followed = {name[int(events.item[e])]: sorted(name[int(events.item[j])] for j in range(events.lo[e], events.hi[e]))
                for e in events.event if name[int(events.item[e])] in ("bread", "eggs")}  # fmt: skip
    assert followed == {"bread": ["eggs"], "eggs": ["tea"]}


def test_reverse_counts_are_the_pair_the_other_way_round(shop: OrderHistory) -> None:
    events = AnchorEvents(shop, 14, 30.0)
    anchor = np.repeat(np.arange(shop.n_items), shop.n_items)
    cand = np.tile(np.arange(shop.n_items), shop.n_items)
    distinct = anchor != cand
    got = events.reverse_counts(anchor[distinct], cand[distinct])
    pairs = zip(anchor[distinct], cand[distinct], strict=True)
    expected = [brute_force_counts(shop, int(b), int(a))[0] for a, b in pairs]
    np.testing.assert_array_equal(got, expected)


def test_blocks_of_rows_give_the_same_model(
    shop: OrderHistory, model: ComplementsModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(complements_module, "ROWS_PER_BLOCK", 1)
    blocked = ComplementsModel().fit(shop)
    queries = np.arange(shop.n_items)
    a, b = model.recommend(queries, 5), blocked.recommend(queries, 5)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_an_anchor_without_history_gets_what_follows_any_purchase() -> None:
    # "new" is bought only in the last days, so none of its windows ends inside the history: it anchors
    # nothing, yet its list is full of what follows any purchase, with no share claimed
    cust = np.repeat(np.arange(30), 6)  # milk, bread, eggs on three days in a row, twice
    item = np.tile(["milk", "bread", "eggs"], 60)
    day = np.repeat(np.arange(30) * 2.0, 6) + np.tile([0.0, 1.0, 2.0, 5.0, 6.0, 7.0], 30)
    cust, item, day = np.append(cust, 99), np.append(item, "new"), np.append(day, 60.0)
    history = OrderHistory.from_arrays(np.char.add("c", cust.astype(str)), item, T0 + (day * DAY).astype(np.int64))
    fitted = ComplementsModel().fit(history)
    new = history.items.index_one("new")
    items, _ = fitted.recommend(np.array([new]), 3).row(0)
    assert sorted(history.items.external(items)) == ["bread", "eggs", "milk"]
    assert (fitted.shares(np.full(3, new), items) == -1).all()


def test_for_basket_excludes_basket_items_and_blocked_categories(shop: OrderHistory) -> None:
    model = ComplementsModel(ComplementsConfig(exclude_same_category="always")).fit(shop)
    basket = np.array([idx(shop, "tent"), idx(shop, "milk")])
    items, scores = model.for_basket(basket, k=5)
    names = set(shop.items.external(items))
    assert "sleeping_bag" in names
    assert names.isdisjoint({"tent", "milk", "tent_xl"})
    assert np.all(np.diff(scores) <= 0)
    empty_items, _ = model.for_basket(np.array([-1, 99]), k=5)
    assert len(empty_items) == 0


def test_save_load_round_trip(model: ComplementsModel, shop: OrderHistory, tmp_path: Path) -> None:
    model.save(tmp_path / "m")
    loaded = ComplementsModel.load(tmp_path / "m")
    queries = np.arange(shop.n_items)
    a, b = model.recommend(queries, 4), loaded.recommend(queries, 4)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_array_equal(a.scores, b.scores)
    tent, bag = idx(shop, "tent"), idx(shop, "sleeping_bag")
    assert loaded.reason(tent, bag, "Tent") == model.reason(tent, bag, "Tent")
    basket = np.array([tent])
    np.testing.assert_array_equal(loaded.for_basket(basket, 3)[0], model.for_basket(basket, 3)[0])


def test_unfitted_model_refuses_to_answer() -> None:
    with pytest.raises(NotFittedError):
        ComplementsModel().for_basket(np.array([0]), 3)
