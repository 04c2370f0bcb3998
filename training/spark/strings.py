"""A file read by Spark as rows of strings: the Spark DataFrame, its columns' real names, and collecting it.

Spark's columns have positional names (``line``, ``f0``, ``f1``..., ``extra``): the reader's internal names
(``LINE``, ``EXTRA``) hold a NUL character, which Spark and Arrow do not keep, and the file's names may be
anything. ``names`` are the real names in the same order; ``raw_names`` the header as the file spells it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from recommender.data.columns import EXTRA, LINE

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType


# the polars type of each Spark type the modules here use
POLARS_TYPES = {"long": pl.Int64, "integer": pl.Int32, "double": pl.Float64, "string": pl.String, "boolean": pl.Boolean}


def spark_names(n: int) -> list[str]:
    """Spark's names of a read table with ``n`` input columns."""
    return ["line", *(f"f{i}" for i in range(n)), "extra"]


def string_fields(n: int) -> list[tuple[str, str]]:
    """The (name, Spark type) of a read table's columns with ``n`` input columns."""
    return [(name, "long" if name == "line" else "string") for name in spark_names(n)]


def schemas(fields: Sequence[tuple[str, str]]) -> tuple[StructType, pa.Schema]:
    """The Spark schema of ``fields`` (name, type: a key of ``POLARS_TYPES``) and the Arrow schema its
    batches have (what a ``mapInArrow`` function must yield)."""
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import (
        BooleanType,
        DoubleType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    kinds = {
        "long": LongType(),
        "integer": IntegerType(),
        "double": DoubleType(),
        "string": StringType(),
        "boolean": BooleanType(),
    }
    schema = StructType([StructField(name, kinds[kind]) for name, kind in fields])
    return schema, to_arrow_schema(schema)


def arrow_batches(frame: pl.DataFrame, names: Sequence[str], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """``frame``'s columns (in order) under Spark's ``names``, as batches of ``schema``."""
    renamed = frame.rename(dict(zip(frame.columns, names, strict=True)))
    yield from renamed.to_arrow().cast(schema).to_batches()


@dataclass(frozen=True)
class StringRows:
    """A file's rows as strings on Spark: ``frame``'s columns are ``spark_names(len(raw_names))``."""

    frame: DataFrame
    names: list[str]  # LINE, the input columns (unique names), EXTRA: the real names of frame's columns
    raw_names: list[str]  # the input columns as the file names them

    def header(self) -> pl.DataFrame:
        """An empty frame with the real names (for ``matched_table``, before any work)."""
        return pl.DataFrame(schema={name: pl.Int64 if name == LINE else pl.String for name in self.names})

    def collect(self) -> pl.DataFrame:
        """Every row, in file order, on the driver, under the real names."""
        table = pl.from_arrow(self.frame.orderBy("line").toArrow())
        assert isinstance(table, pl.DataFrame)
        return table.rename(dict(zip(self.frame.columns, self.names, strict=True)))


def real_names(columns: list[str]) -> list[str]:
    """The real names of a read table whose input columns are ``columns``."""
    return [LINE, *columns, EXTRA]
