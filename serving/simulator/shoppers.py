"""The simulated shoppers and their behaviour: who they are, and how likely they click, add to the cart and buy.

A shopper is a known customer of the generated shop (their true tastes, favourites, what they own, the repeat
purchases due now) or a guest (a new id, a few preferred categories drawn by the shop's popularity, nothing
owned). ``Behaviour`` turns the truth into probabilities:

- interest in an item (``interest``): high for the shopper's favourites and their repeat items when due, for
  the planted complements of an anchor they own and whose complement they lack (its matching one highest),
  medium for their preferred categories, low otherwise, and next to nothing for a durable they own already;
- a click on a shown item: its interest times a position bias (lower places are seen less);
- after a click, the item goes to the cart with a probability that grows with interest (never when out of
  stock); at checkout a cart line is removed now and then, and some carts are abandoned;
- a "buy again" straight from the next-purchase list for a repeat item that is due, and organic purchases of
  a favourite without any list.

Every draw comes from the shopper's own generator (``numpy.random.Generator``), seeded from the run's seed
and the shopper's number: the same seed gives the same shoppers and the same probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from serving.simulator.truth import ShopTruth


@dataclass(frozen=True)
class Probabilities:
    """The behaviour's knobs (interest levels are click probabilities at the top position)."""

    favourite: float = 0.45
    due_repeat: float = 0.55
    matching_complement: float = 0.5
    complement: float = 0.3
    preferred: float = 0.12
    repeat_not_due: float = 0.05
    other: float = 0.02
    owned_durable: float = 0.002
    position_decay: float = 0.7  # bias(position) = 1 / (1 + position) ** decay
    cart_base: float = 0.15  # add to cart after a click: base + per_interest × interest
    cart_per_interest: float = 0.9
    remove_line: float = 0.1  # a cart line removed before checkout
    abandon: float = 0.3  # a cart abandoned (no checkout this visit)
    buy_again: float = 0.35  # a due repeat item bought from the next-purchase list itself
    organic: float = 0.1  # an organic purchase (no list) per visit
    second_unit: float = 0.12  # a purchase line of quantity 2 (else 1)
    resend: float = 0.05  # the storefront sends an order's purchase events again (a retry after a timeout)
    guest_categories: tuple[int, int] = (2, 4)  # a guest prefers this many categories (inclusive)


@dataclass
class Shopper:
    """One simulated customer; ``owned`` grows with what they buy during the run."""

    number: int
    customer_id: str
    known: bool
    categories: tuple[str, ...]
    favourites: frozenset[str]
    owned: set[str]
    due: set[str]
    cycle_items: frozenset[str]
    rng: np.random.Generator = field(repr=False)


def draw_shoppers(truth: ShopTruth, count: int, seed: int, guest_share: float, run_tag: str) -> list[Shopper]:
    """``count`` shoppers: distinct known customers, and about ``guest_share`` of them guests named
    ``guest-<run_tag>-<number>``. Deterministic per ``seed`` (``run_tag`` only names the guests)."""
    rng = np.random.default_rng(seed)
    known_ids = truth.customer_ids
    guests = int(rng.binomial(count, guest_share)) if known_ids else count
    known = min(count - guests, len(known_ids))
    chosen = [known_ids[i] for i in rng.choice(len(known_ids), size=known, replace=False)] if known else []
    is_guest = np.zeros(count, dtype=bool)
    is_guest[rng.choice(count, size=count - known, replace=False)] = True
    streams = np.random.SeedSequence(seed).spawn(count)
    categories = sorted(truth.category_weights)
    weights = np.array([truth.category_weights[c] for c in categories])
    shoppers = []
    picked = iter(chosen)
    for number in range(count):
        own = np.random.default_rng(streams[number])
        if is_guest[number]:
            low, high = Probabilities().guest_categories
            n = min(int(own.integers(low, high + 1)), len(categories))
            drawn = own.choice(len(categories), size=n, replace=False, p=weights / weights.sum()) if n else []
            shoppers.append(
                Shopper(
                    number=number,
                    customer_id=f"guest-{run_tag}-{number:05d}",
                    known=False,
                    categories=tuple(categories[i] for i in drawn),
                    favourites=frozenset(),
                    owned=set(),
                    due=set(),
                    cycle_items=frozenset(),
                    rng=own,
                )
            )
            continue
        customer = truth.customers[next(picked)]
        shoppers.append(
            Shopper(
                number=number,
                customer_id=customer.customer_id,
                known=True,
                categories=customer.categories,
                favourites=customer.favourites,
                owned=set(customer.bought),
                due=set(customer.due),
                cycle_items=customer.cycle_items,
                rng=own,
            )
        )
    return shoppers


class Behaviour:
    """The probabilities of a shopper's actions, from the shop's truth."""

    def __init__(self, truth: ShopTruth, probabilities: Probabilities | None = None) -> None:
        self.truth = truth
        self.p = probabilities or Probabilities()

    def interest(self, shopper: Shopper, item_id: str) -> float:
        """How much ``shopper`` wants ``item_id`` now (the click probability at the top position)."""
        p = self.p
        if item_id in self.truth.durables and item_id in shopper.owned:
            return p.owned_durable
        if item_id in shopper.due:
            return p.due_repeat
        levels = [p.other]
        if item_id in shopper.favourites:
            levels.append(p.favourite)
        for anchor in shopper.owned:
            complements = self.truth.complements.get(anchor)
            if complements and item_id in complements and not shopper.owned.intersection(complements):
                levels.append(p.matching_complement if complements[0] == item_id else p.complement)
        if item_id in shopper.cycle_items:
            levels.append(p.repeat_not_due)
        item = self.truth.items.get(item_id)
        if item is not None and item.category in shopper.categories:
            levels.append(p.preferred)
        return max(levels)

    def position_bias(self, position: int) -> float:
        return 1.0 / (1.0 + position) ** self.p.position_decay

    def click_probability(self, shopper: Shopper, item_id: str, position: int) -> float:
        return min(1.0, self.interest(shopper, item_id) * self.position_bias(position))

    def cart_probability(self, shopper: Shopper, item_id: str) -> float:
        """Adding a clicked item to the cart (0 when out of stock or an owned durable)."""
        item = self.truth.items.get(item_id)
        if item is None or not item.in_stock or (item_id in self.truth.durables and item_id in shopper.owned):
            return 0.0
        return min(1.0, self.p.cart_base + self.p.cart_per_interest * self.interest(shopper, item_id))

    def buy_again_probability(self, shopper: Shopper, item_id: str) -> float:
        item = self.truth.items.get(item_id)
        return self.p.buy_again if item_id in shopper.due and item is not None and item.in_stock else 0.0

    # the draws -------------------------------------------------------------------------------------------
    def clicks(self, shopper: Shopper, item_ids: list[str]) -> list[str]:
        """The shown items the shopper clicks, in list order."""
        draws = shopper.rng.random(len(item_ids))
        return [item for i, item in enumerate(item_ids) if draws[i] < self.click_probability(shopper, item, i)]

    def adds_to_cart(self, shopper: Shopper, item_id: str) -> bool:
        return bool(shopper.rng.random() < self.cart_probability(shopper, item_id))

    def buys_again(self, shopper: Shopper, item_ids: list[str]) -> list[str]:
        draws = shopper.rng.random(len(item_ids))
        return [item for i, item in enumerate(item_ids) if draws[i] < self.buy_again_probability(shopper, item)]

    def removes(self, shopper: Shopper, cart: list[str]) -> list[str]:
        draws = shopper.rng.random(len(cart))
        return [item for i, item in enumerate(cart) if draws[i] < self.p.remove_line]

    def abandons(self, shopper: Shopper) -> bool:
        return bool(shopper.rng.random() < self.p.abandon)

    def resends(self, shopper: Shopper) -> bool:
        return bool(shopper.rng.random() < self.p.resend)

    def quantity(self, shopper: Shopper) -> int:
        return 2 if shopper.rng.random() < self.p.second_unit else 1

    def organic_purchase(self, shopper: Shopper) -> str | None:
        """An item bought without any list this visit (a favourite, or a popular one of a preferred
        category), or None."""
        if shopper.rng.random() >= self.p.organic:
            return None
        pool = sorted(shopper.favourites) or [
            item for category in shopper.categories for item in self.truth.by_category.get(category, ())[:5]
        ]
        pool = [item for item in pool if self.cart_probability(shopper, item) > 0]
        return pool[int(shopper.rng.integers(len(pool)))] if pool else None

    def bought(self, shopper: Shopper, item_id: str) -> None:
        """The shopper bought ``item_id``: owned from now on, and a due repeat is no longer due."""
        shopper.owned.add(item_id)
        shopper.due.discard(item_id)

    def home_category(self, shopper: Shopper) -> str | None:
        """A category page of the shopper's tastes (popular in it), or None for the shop's front page."""
        if not shopper.categories or shopper.rng.random() < 0.5:
            return None
        return shopper.categories[int(shopper.rng.integers(len(shopper.categories)))]
