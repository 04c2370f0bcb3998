"""The synthetic shop behind ``recs generate``: a realistic order history and catalog with planted facts.

Deterministic per seed (one ``np.random.default_rng(seed)`` passed down), vectorized (no loop per order
line or per customer: 100k customers / ~2M lines take seconds). What the generated shop contains:

- **Catalog**: 19 categories (Tents, Sleeping Bags, Cameras, Memory Cards, Printers, Printer Ink, Coffee,
  Tea, Snacks, Books, Kitchen, Toys, Board Games, Headphones, Outdoor Gear, Stationery, Personal Care,
  Pet Supplies, Garden) with names and prices; readable ids for the planted items (``tent-2p-explorer``,
  ``sleeping-bag-down``, ``coffee-house-blend``...) and filler ids such as ``books-novel-017``. About 3% of
  the filler items, and ``sleeping-bag-winter``, are out of stock (they still appear in past orders).
- **Popularity skew**: Zipf-like popularity of categories and of items within each category.
- **Tastes**: every customer prefers 2-4 categories and has a favourite item in each; the ``noise`` share
  of their background lines ignores tastes and follows global popularity instead.
- **Directional complements** (category level, with item-level variation: each anchor item has a matching
  complement, bought 60% of the time, else a popular one of the kind):
  - tent -> sleeping bag: ~72% of tent buyers buy a sleeping bag 1-10 days after the tent; sleeping bags
    are never bought before a tent (a few customers, ~1.5%, buy a sleeping bag alone);
  - camera -> memory card: ~70% of camera buyers buy a memory card 1-7 days later (~2% buy one alone);
  - printer -> ink: ~85% of printer buyers buy the printer's ink 1-7 days later, then again every 4-6
    weeks (each customer their own 28-42 day cycle, +-2 days jitter); ~2% of customers buy ink on such a
    cycle without a printer in the history (they own one from before).
  Tents, cameras and printers are durables: bought at most once per customer, never as noise.
- **Repeat cycles**: ~30% of customers buy coffee every 10-18 days (their own cycle, +-1 day jitter,
  their favourite coffee ~90% of the time, a skipped cycle now and then); ~12% buy tea every 21-35 days.
- **Background / noise**: every customer places 1 + Poisson(activity) background orders of filler items
  (activity is heavy-tailed, ~1.4 orders a month on average), baskets of 1 + Poisson(0.7) lines; ~20% of
  planted orders get one or two add-on lines too. Quantities are mostly 1.

``Shop.planted`` names the item ids per role, the complement rules with their day windows, the
durables, the out-of-stock items, every customer's repeat cycle (``cycles``; ``coffee_cycles``) and tastes
(``tastes``: the preferred categories and the favourite item in each).

Modules: ``products`` (what the shop sells: planted roles with names, prices and matching complements;
filler categories), ``rules`` (the planted complement and cycle rules, the generator's probabilities),
``shop`` (``ShopConfig``, ``Shop``, ``Planted``, the frames' columns), ``catalog`` (the catalog drawn as
arrays), ``customers`` (tastes, favourites, activity), ``orders`` (the order simulation), ``generator``
(``generate_shop``: the shop as frames) and ``files`` (``write_shop`` and ``generate``, ``recs generate``'s
entry). Underscored names are internal to the package; its modules share them.
"""

from recommender.synthetic.files import CATALOG_FILE, ORDERS_FILE, generate, write_shop
from recommender.synthetic.generator import generate_shop
from recommender.synthetic.rules import ComplementRule, CycleRule
from recommender.synthetic.shop import DEMO_CUSTOMERS, DEMO_SEED, ISO_FORMAT, Planted, Shop, ShopConfig

__all__ = [
    "CATALOG_FILE",
    "DEMO_CUSTOMERS",
    "DEMO_SEED",
    "ISO_FORMAT",
    "ORDERS_FILE",
    "ComplementRule",
    "CycleRule",
    "Planted",
    "Shop",
    "ShopConfig",
    "generate",
    "generate_shop",
    "write_shop",
]
