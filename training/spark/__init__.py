"""``recs train --engine spark``: the training job's reading and ALS fits on Apache Spark.

pyspark is imported only in this package, and only when a function here is called: the local engine never
needs it (it is the ``spark`` extra). ``session`` starts or joins a SparkSession (``SparkUnavailableError``
when pyspark or Java is missing), ``reader`` reads order and catalog files from any path Spark reads (and
validates and indexes an orders file on the executors: ``validation``, ``ids``), ``als`` fits Spark MLlib's
implicit ALS, ``neighbours`` computes next purchase's neighbour lists in blocks on the executors, ``pairs`` runs
the pair counts' blocks (complements, similar items) there, ``history_parts`` the per-customer and per-order
passes (time split, repeat statistics, popularity). ``spark_engine`` wires them into a
``training.engine.Engine``. What runs where, and why, is in docs/spark.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.engine import Engine
from training.spark.session import SparkUnavailableError, spark_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkUnavailableError", "spark_engine", "spark_session"]


def spark_engine(session: SparkSession) -> Engine:
    """The engine whose reader, ALS, neighbour lists, pair counts and history parts run on ``session``."""
    from training.spark.als import spark_factorizer
    from training.spark.history_parts import spark_history_parts
    from training.spark.neighbours import spark_neighbour_lists
    from training.spark.pairs import spark_pair_lists
    from training.spark.reader import spark_reader

    return Engine(
        "spark",
        reader=spark_reader(session),
        factorizer=spark_factorizer(session),
        neighbour_lists=spark_neighbour_lists(session),
        pair_lists=spark_pair_lists(session),
        history_parts=spark_history_parts(session),
    )
