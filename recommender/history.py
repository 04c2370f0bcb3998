"""The in-memory order history every model learns from, and the optional catalog.

``OrderHistory`` holds one row per kept order line as parallel numpy arrays of indices (see
``recommender.ids``): who bought what, in which order, when. Derived views (customer x item
matrices, per-order tables) are computed here once so models do not each re-derive them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from recommender.ids import IdMap

DAY = 86_400  # seconds


@dataclass(frozen=True)
class Catalog:
    """Item facts, aligned with the history's item index (row ``i`` describes item ``i``).

    ``category`` is an index into ``categories`` or -1 when unknown; ``name`` is "" when unknown;
    ``price`` is NaN when unknown; ``in_stock`` defaults to True.
    """

    categories: IdMap
    category: np.ndarray  # int32, per item
    name: np.ndarray  # str, per item
    in_stock: np.ndarray  # bool, per item
    price: np.ndarray  # float32, per item

    @classmethod
    def empty(cls, n_items: int) -> Catalog:
        return cls(
            categories=IdMap([]),
            category=np.full(n_items, -1, dtype=np.int32),
            name=np.full(n_items, "", dtype=object).astype(str),
            in_stock=np.ones(n_items, dtype=bool),
            price=np.full(n_items, np.nan, dtype=np.float32),
        )

    @property
    def has_categories(self) -> bool:
        return len(self.categories) > 0 and bool(np.any(self.category >= 0))

    def category_name(self, item: int) -> str | None:
        c = int(self.category[item])
        return str(self.categories.external([c])[0]) if c >= 0 else None

    def item_label(self, item: int, items: IdMap) -> str:
        """A human name for an item: its catalog name, else its external id."""
        name = str(self.name[item])
        return name if name else str(items.external([item])[0])


@dataclass(frozen=True)
class Signals:
    """Browsing signals (the storefront's ``view`` and ``add_to_cart`` events), in the history's indices.

    One row per event and item: who, what, how much it counts (the event type's weight from
    ``EventWeights``, set when the events were loaded) and when (Unix seconds). They are not purchases:
    only the collaborative "for you" models read them (``OrderHistory.interactions``); next purchase's repeat
    statistics, complements' pair counts, popularity and the baselines read the order lines alone.
    """

    customer: np.ndarray  # int32 per signal
    item: np.ndarray  # int32 per signal
    weight: np.ndarray  # float32 per signal
    at: np.ndarray  # int64 per signal, Unix seconds

    @classmethod
    def empty(cls) -> Signals:
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.customer)

    def select(self, mask: np.ndarray) -> Signals:
        return Signals(self.customer[mask], self.item[mask], self.weight[mask], self.at[mask])


@dataclass(frozen=True)
class OrderHistory:
    """Kept order lines as parallel arrays, sorted by (ordered_at, order).

    ``order`` is a dense order index: lines of one order share it, and every order belongs to one
    customer and one timestamp. ``ordered_at`` is Unix seconds (int64). ``signals``: browsing events
    (``Signals``; empty unless ``recs train --events``); a customer may have signals and no order line.
    """

    customers: IdMap
    items: IdMap
    customer: np.ndarray  # int32 per line
    item: np.ndarray  # int32 per line
    order: np.ndarray  # int32 per line
    ordered_at: np.ndarray  # int64 per line, Unix seconds
    quantity: np.ndarray  # float32 per line
    price: np.ndarray  # float32 per line, NaN when unknown
    catalog: Catalog = field(default=None)  # type: ignore[assignment]  # filled in __post_init__
    signals: Signals = field(default_factory=Signals.empty)

    def __post_init__(self) -> None:
        n = len(self.customer)
        for name in ("item", "order", "ordered_at", "quantity", "price"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"OrderHistory.{name} has {len(getattr(self, name))} rows, expected {n}")
        if self.catalog is None:
            object.__setattr__(self, "catalog", Catalog.empty(len(self.items)))
        elif len(self.catalog.category) != len(self.items):
            raise ValueError("catalog is not aligned with the item id map")

    # sizes -----------------------------------------------------------------------------------------
    @property
    def n_lines(self) -> int:
        return len(self.customer)

    @property
    def n_customers(self) -> int:
        return len(self.customers)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_orders(self) -> int:
        return int(self.order.max()) + 1 if self.n_lines else 0

    @property
    def start_time(self) -> int:
        return int(self.ordered_at.min()) if self.n_lines else 0

    @property
    def end_time(self) -> int:
        return int(self.ordered_at.max()) if self.n_lines else 0

    # derived views ---------------------------------------------------------------------------------
    def customer_items(self, weight: str = "count") -> sp.csr_matrix:
        """Customers x items matrix (float32). ``weight``: "count" (lines), "quantity" or "binary"."""
        if weight == "count":
            data = np.ones(self.n_lines, dtype=np.float32)
        elif weight == "quantity":
            data = self.quantity.astype(np.float32)
        elif weight == "binary":
            data = np.ones(self.n_lines, dtype=np.float32)
        else:
            raise ValueError(f"unknown weight {weight!r}; use count, quantity or binary")
        m = sp.csr_matrix((data, (self.customer, self.item)), shape=(self.n_customers, self.n_items), dtype=np.float32)
        m.sum_duplicates()
        if weight == "binary":
            m.data[:] = 1.0
        return m

    def interactions(self, weight: str = "count") -> sp.csr_matrix:
        """``customer_items(weight)`` with the browsing signals added: what the collaborative models learn from.

        "count" (ALS): purchase lines plus the summed signal weights of each (customer, item); "binary" (EASE):
        1 for a bought item, else the summed signal weights capped at 1. Without signals: ``customer_items``.
        """
        bought = self.customer_items(weight)
        if not len(self.signals):
            return bought
        shape = (self.n_customers, self.n_items)
        s = self.signals
        browsed = sp.csr_matrix((s.weight.astype(np.float32), (s.customer, s.item)), shape=shape, dtype=np.float32)
        browsed.sum_duplicates()
        if weight == "binary":
            browsed.data = np.minimum(browsed.data, np.float32(1.0))
            out = bought.maximum(browsed)
        else:
            out = bought + browsed
        out = sp.csr_matrix(out, dtype=np.float32)
        out.eliminate_zeros()
        return out

    def signals_before(self, cutoff: np.ndarray | int, customers: np.ndarray | None = None) -> OrderHistory:
        """The history with the signals at or after ``cutoff`` dropped: one cutoff for everyone, or (with
        ``customers``) one per listed customer, whose other signals stay (a split's targets must not leak)."""
        if not len(self.signals):
            return self
        s = self.signals
        if customers is None:
            keep = s.at < np.int64(cutoff)
        else:
            limit = np.full(self.n_customers, np.iinfo(np.int64).max, dtype=np.int64)
            limit[np.asarray(customers)] = np.asarray(cutoff, dtype=np.int64)
            keep = s.at < limit[s.customer]
        return replace(self, signals=s.select(keep))

    def orders_table(self) -> dict[str, np.ndarray]:
        """One row per order: ``order`` (index), ``customer``, ``ordered_at``; sorted by order index."""
        order_ids, first = np.unique(self.order, return_index=True)
        return {
            "order": order_ids.astype(np.int32),
            "customer": self.customer[first],
            "ordered_at": self.ordered_at[first],
        }

    def order_items(self) -> sp.csr_matrix:
        """Orders x items binary matrix (row = dense order index)."""
        m = sp.csr_matrix(
            (np.ones(self.n_lines, dtype=np.float32), (self.order, self.item)),
            shape=(self.n_orders, self.n_items),
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def select(self, mask: np.ndarray) -> OrderHistory:
        """The lines where ``mask`` holds, with the same id maps and catalog (indices stay valid).

        Order indices are kept as they are (they may then have gaps); use ``n_orders`` as an upper bound.
        """
        return replace(
            self,
            customer=self.customer[mask],
            item=self.item[mask],
            order=self.order[mask],
            ordered_at=self.ordered_at[mask],
            quantity=self.quantity[mask],
            price=self.price[mask],
        )

    @classmethod
    def from_arrays(
        cls,
        customer_ids: np.ndarray,
        item_ids: np.ndarray,
        ordered_at: np.ndarray,
        order_ids: np.ndarray | None = None,
        quantity: np.ndarray | None = None,
        price: np.ndarray | None = None,
        catalog: Catalog | None = None,
        items: IdMap | None = None,
    ) -> OrderHistory:
        """Build a history from clean external-id arrays (tests, synthetic data, benchmarks).

        Without ``order_ids`` a customer's lines at the same ``ordered_at`` form one order. ``items``
        lets a caller fix the item id map (for example one that also covers catalog-only items).
        """
        customers, cust_idx = IdMap.from_values(customer_ids)
        if items is None:
            items, item_idx = IdMap.from_values(item_ids)
        else:
            item_idx = items.index(np.asarray(item_ids, dtype=str))
            if np.any(item_idx < 0):
                raise ValueError("item_ids contains ids missing from the given item map")
        ts = np.asarray(ordered_at, dtype=np.int64)
        n = len(cust_idx)
        if order_ids is None:
            key = np.stack([cust_idx.astype(np.int64), ts])
            _, order_idx = np.unique(key, axis=1, return_inverse=True)
        else:
            _, order_idx = np.unique(np.asarray(order_ids, dtype=str), return_inverse=True)
        qty = np.ones(n, dtype=np.float32) if quantity is None else np.asarray(quantity, dtype=np.float32)
        prc = np.full(n, np.nan, dtype=np.float32) if price is None else np.asarray(price, dtype=np.float32)
        return cls.build(customers, items, cust_idx, item_idx, order_idx.ravel(), ts, qty, prc, catalog)

    @classmethod
    def build(
        cls,
        customers: IdMap,
        items: IdMap,
        customer: np.ndarray,
        item: np.ndarray,
        order_key: np.ndarray,
        ordered_at: np.ndarray,
        quantity: np.ndarray,
        price: np.ndarray,
        catalog: Catalog | None = None,
        signals: Signals | None = None,
    ) -> OrderHistory:
        """Sort lines by time and renumber orders densely in time order (the one canonical form)."""
        ts = np.asarray(ordered_at, dtype=np.int64)
        order_key = np.asarray(order_key)
        # order time = earliest line time of the order, so all lines of an order sort together
        _, key_idx = np.unique(order_key, return_inverse=True)
        key_idx = key_idx.ravel()
        order_time = np.full(key_idx.max() + 1 if len(key_idx) else 0, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(order_time, key_idx, ts)
        line_order_time = order_time[key_idx]
        perm = np.lexsort((np.asarray(item), key_idx, line_order_time))
        key_sorted = key_idx[perm]
        new_order = np.zeros(len(perm), dtype=np.int32)
        if len(perm):
            new_order[1:] = np.cumsum(key_sorted[1:] != key_sorted[:-1])
        return cls(
            customers=customers,
            items=items,
            customer=np.asarray(customer, dtype=np.int32)[perm],
            item=np.asarray(item, dtype=np.int32)[perm],
            order=new_order,
            ordered_at=line_order_time[perm],
            quantity=np.asarray(quantity, dtype=np.float32)[perm],
            price=np.asarray(price, dtype=np.float32)[perm],
            catalog=catalog,
            signals=signals if signals is not None else Signals.empty(),
        )
