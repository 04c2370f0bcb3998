"""What the synthetic shop sells: the planted roles (named items, prices, matching complements) and fillers.

``ROLES`` are the categories whose items carry the planted facts (tents and sleeping bags, cameras and
memory cards, printers and ink, coffee, tea), each item with a readable id, a name, a price and, for an
anchor item, the complement it goes with. ``FILLERS`` are the background categories, from which
``recommender.synthetic.catalog`` draws filler items named ``ADJECTIVE noun``.
"""

from __future__ import annotations

from typing import NamedTuple


class _Named(NamedTuple):
    item_id: str
    name: str
    price: float
    match: str = ""  # the complement this anchor item goes with, if any


class _Role(NamedTuple):
    role: str
    category: str
    items: tuple[_Named, ...]  # most popular first


ROLES: tuple[_Role, ...] = (
    _Role(
        "tents",
        "Tents",
        (
            _Named("tent-2p-explorer", "Explorer 2-Person Tent", 179.0, "sleeping-bag-synthetic"),
            _Named("tent-4p-family", "Family 4-Person Tent", 349.0, "sleeping-bag-kids"),
            _Named("tent-1p-ultralight", "Ultralight 1-Person Tent", 249.0, "sleeping-bag-down"),
            _Named("tent-3p-summit", "Summit 3-Person Tent", 299.0, "sleeping-bag-winter"),
            _Named("tent-6p-basecamp", "Basecamp 6-Person Tent", 499.0, "sleeping-bag-summer"),
        ),
    ),
    _Role(
        "sleeping_bags",
        "Sleeping Bags",
        (
            _Named("sleeping-bag-synthetic", "Synthetic Sleeping Bag", 89.0),
            _Named("sleeping-bag-down", "Down Sleeping Bag", 189.0),
            _Named("sleeping-bag-kids", "Kids Sleeping Bag", 49.0),
            _Named("sleeping-bag-summer", "Summer Sleeping Bag", 39.0),
            _Named("sleeping-bag-winter", "Winter Sleeping Bag -20C", 229.0),
        ),
    ),
    _Role(
        "cameras",
        "Cameras",
        (
            _Named("camera-compact-s10", "Compact Camera S10", 299.0, "memory-card-sd-64gb"),
            _Named("camera-mirrorless-m50", "Mirrorless Camera M50", 749.0, "memory-card-sd-128gb"),
            _Named("camera-action-go4", "Action Camera GO4", 349.0, "memory-card-microsd-256gb"),
            _Named("camera-dslr-d750", "DSLR Camera D750", 1299.0, "memory-card-sd-256gb-pro"),
        ),
    ),
    _Role(
        "memory_cards",
        "Memory Cards",
        (
            _Named("memory-card-sd-64gb", "SD Card 64 GB", 19.0),
            _Named("memory-card-sd-128gb", "SD Card 128 GB", 29.0),
            _Named("memory-card-microsd-256gb", "microSD Card 256 GB", 39.0),
            _Named("memory-card-sd-256gb-pro", "SD Card 256 GB Pro", 69.0),
        ),
    ),
    _Role(
        "printers",
        "Printers",
        (
            _Named("printer-inkjet-home", "Home Inkjet Printer", 89.0, "ink-home-combo"),
            _Named("printer-inkjet-office", "Office Inkjet Printer", 199.0, "ink-office-xl"),
            _Named("printer-inkjet-photo", "Photo Inkjet Printer", 249.0, "ink-photo-6color"),
        ),
    ),
    _Role(
        "inks",
        "Printer Ink",
        (
            _Named("ink-home-combo", "Home Ink Combo Pack", 34.0),
            _Named("ink-office-xl", "Office XL Ink Cartridges", 49.0),
            _Named("ink-photo-6color", "Photo Ink 6-Color Pack", 59.0),
        ),
    ),
    _Role(
        "coffees",
        "Coffee",
        (
            _Named("coffee-house-blend", "House Blend Coffee 1 kg", 18.0),
            _Named("coffee-espresso-roast", "Espresso Roast 1 kg", 21.0),
            _Named("coffee-dark-roast", "Dark Roast Coffee 1 kg", 19.0),
            _Named("coffee-decaf", "Decaf Coffee 500 g", 14.0),
            _Named("coffee-ethiopia-single-origin", "Ethiopia Single Origin 500 g", 16.0),
        ),
    ),
    _Role(
        "teas",
        "Tea",
        (
            _Named("tea-earl-grey", "Earl Grey Tea 100 bags", 9.0),
            _Named("tea-green-sencha", "Green Sencha Tea 100 g", 11.0),
            _Named("tea-english-breakfast", "English Breakfast Tea 100 bags", 8.0),
            _Named("tea-chamomile", "Chamomile Tea 50 bags", 7.0),
        ),
    ),
)


class _Filler(NamedTuple):
    category: str
    slug: str
    base_price: float
    nouns: tuple[str, ...]


# Background categories, most popular first (Zipf weights by rank). Tea also holds the named teas.
FILLERS: tuple[_Filler, ...] = (
    _Filler("Snacks", "snacks", 4.0, ("Crackers", "Trail Mix", "Chocolate Bar", "Granola", "Chips", "Cookies")),
    _Filler("Books", "books", 16.0, ("Novel", "Cookbook", "Travel Guide", "Biography", "Comic", "Atlas")),
    _Filler("Kitchen", "kitchen", 25.0, ("Pan", "Knife", "Cutting Board", "Mug", "Kettle", "Grinder")),
    _Filler("Personal Care", "care", 9.0, ("Shampoo", "Soap", "Toothpaste", "Lotion", "Razor", "Sunscreen")),
    _Filler("Toys", "toys", 20.0, ("Puzzle", "Building Set", "Plush Bear", "Toy Car", "Kite", "Yo-Yo")),
    _Filler("Tea", "tea", 8.0, ("Herbal Blend", "Loose Leaf", "Matcha", "Rooibos", "Chai", "Peppermint")),
    _Filler("Stationery", "stationery", 6.0, ("Notebook", "Pen Set", "Planner", "Pencils", "Stapler", "Folder")),
    _Filler("Headphones", "headphones", 60.0, ("Earbuds", "Headset", "Over-Ear", "Sport Buds", "Case", "Cable")),
    _Filler("Outdoor Gear", "outdoor", 30.0, ("Headlamp", "Camp Stove", "Water Filter", "Compass", "Mat", "Bottle")),
    _Filler("Pet Supplies", "pets", 12.0, ("Dog Treats", "Cat Litter", "Leash", "Pet Bed", "Chew Toy", "Bowl")),
    _Filler("Board Games", "games", 35.0, ("Strategy Game", "Card Game", "Party Game", "Dice Set", "Quiz", "Chess")),
    _Filler("Garden", "garden", 15.0, ("Seeds", "Trowel", "Planter", "Hose", "Gloves", "Fertilizer")),
)
ADJECTIVES: tuple[str, ...] = (
    "Classic", "Deluxe", "Compact", "Everyday", "Premium", "Organic", "Nordic", "Urban",
    "Eco", "Pro", "Mini", "Family", "Vintage", "Smart", "Travel", "Essential",
)  # fmt: skip
OUT_OF_STOCK_NAMED: tuple[str, ...] = ("sleeping-bag-winter",)
