"""Column names: the known columns of orders and catalog files, how input names are matched to them, and
the internal columns the readers and the loader add.

Internal names hold a NUL character, so they cannot clash with input columns: the readers refuse a column
name that contains one.
"""

from __future__ import annotations

ORDER_COLUMNS = ("customer_id", "item_id", "ordered_at", "order_id", "quantity", "price")
ORDER_REQUIRED = ("customer_id", "item_id", "ordered_at")
CATALOG_COLUMNS = ("item_id", "name", "category", "in_stock", "price")
CATALOG_REQUIRED = ("item_id",)

# the readers': the row's line number in the file, and the fields past the header's last column
LINE = "\x00line"
EXTRA = "\x00extra"

# a validated table's (``RawTable.validated``): the row is blank
BLANK = "\x00blank"

# the loader's: the row's position, its reject reason (null: kept), and the parsed values
_POS = "\x00pos"
_REASON = "\x00reason"
_C = "\x00c"
_I = "\x00i"
_T = "\x00t"
_T_OK = "\x00t_ok"
_O = "\x00o"
_Q = "\x00q"
_P = "\x00p"
_NAME = "\x00name"
_CATEGORY = "\x00category"
_IN_STOCK = "\x00in_stock"


def normalized(name: str) -> str:
    """How a column name is matched: BOM removed, whitespace stripped, lower-cased."""
    return name.replace("\ufeff", "").strip().lower()
