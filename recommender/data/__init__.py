"""Loading order lines (and an optional catalog) from CSV or Parquet, with validation and rejects.

``load_orders`` reads every column as a string (``readers``: CSV or Parquet, each row with
its line number), validates each row with vectorized polars expressions, and builds the ``OrderHistory``
the models learn from. A row that cannot be used is
never dropped silently: it goes to ``LoadResult.rejects`` with its 1-based line number in the
file, one reason, and its original values, and the counts land in ``LoadResult.summary``.

``write_rejects``, ``check_reject_ratio`` and ``check_usable`` are the small pieces a job uses
to write the rejects file, stop when too much is bad, and stop when nothing is left.

Conventions: column names are matched after stripping whitespace, case-insensitively; extra
columns are ignored. Datetimes without an offset are taken as UTC. Rows where every field is empty
(blank lines) are not data: they are counted in ``blank_lines`` and are not rows in.

Modules: ``load`` (``load_orders``: reading, blank lines, id mapping, order keys, the catalog), ``validation``
(the reject reasons, their limits and the row checks), ``timestamps`` (``parse_timestamps``), ``rejects``
(the rejects frame, ``write_rejects``), ``results`` (``LoadResult``, ``LoadSummary`` and the checks on them),
``readers`` (``read_table``), ``csv_reader``, ``parquet_reader``, ``columns`` (known and internal column
names) and ``fingerprint`` (counts, date range and a content hash of a history). Underscored names are
internal to the package; its modules share them.
"""

from recommender.data.columns import CATALOG_COLUMNS, ORDER_COLUMNS
from recommender.data.fingerprint import fingerprint
from recommender.data.load import load_orders
from recommender.data.readers import AmbiguousColumnsError
from recommender.data.rejects import write_rejects
from recommender.data.results import LoadResult, LoadSummary, check_reject_ratio, check_usable
from recommender.data.timestamps import parse_timestamps
from recommender.data.validation import CATALOG_REASONS, ORDER_REASONS

__all__ = [
    "CATALOG_COLUMNS",
    "CATALOG_REASONS",
    "ORDER_COLUMNS",
    "ORDER_REASONS",
    "AmbiguousColumnsError",
    "LoadResult",
    "LoadSummary",
    "check_reject_ratio",
    "check_usable",
    "fingerprint",
    "load_orders",
    "parse_timestamps",
    "write_rejects",
]
