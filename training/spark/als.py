"""Spark MLlib's implicit ALS as the job's ``Factorizer`` (``recommender.models.collaborative``).

It receives the same weighted customer x item matrix implicit would (``confidence_matrix``: one declaration of
the weighting) and maps the config onto MLlib's:

- ``factors`` -> ``rank``, ``iterations`` -> ``maxIter``, ``seed`` -> ``seed``;
- confidence: implicit reads a weighted value w as the confidence itself; MLlib reads a rating r as
  confidence ``1 + alpha * r``. The rating is w and MLlib's alpha 1, so MLlib's confidence is w + 1: the same
  ranking of evidence, one more unit of it per observed pair;
- regularization: implicit adds ``lambda * |x|^2`` per customer and item; MLlib scales ``regParam`` by the
  number of ratings of each customer (item) it solves for. ``regParam`` is ``lambda`` divided by the mean
  number of items per customer, so an average customer is regularized as implicit would. The objectives still
  differ (MLlib's is ALS-WR's), and that is what moves Ta-Feng's for you 3-7% above the local engine's, whatever
  ``regParam`` (docs/spark.md, "Quality parity"; ``python -m benchmarks.spark_parity --als-study``).

The factors come back to the driver as arrays (the bundle holds them); customers and items MLlib did not see
get zero factors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from recommender.models.collaborative import CollaborativeConfig, Factorizer

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def mllib_reg_param(weighted: sp.csr_matrix, config: CollaborativeConfig) -> float:
    """MLlib's ``regParam`` for ``config.regularization`` (see the module docstring)."""
    per_customer = weighted.nnz / max(int((np.diff(weighted.indptr) > 0).sum()), 1)
    return config.regularization / max(per_customer, 1.0)


def spark_factorizer(session: SparkSession) -> Factorizer:
    """A ``Factorizer`` fitting MLlib's implicit ALS on ``session``."""

    def factorize(weighted: sp.csr_matrix, config: CollaborativeConfig) -> tuple[np.ndarray, np.ndarray]:
        from pyspark.ml.recommendation import ALS

        coo = weighted.tocoo()
        ratings = session.createDataFrame(
            pa.table(
                {
                    "customer": pa.array(coo.row.astype(np.int32)),
                    "item": pa.array(coo.col.astype(np.int32)),
                    "rating": pa.array(coo.data.astype(np.float32)),
                }
            )
        )
        blocks = session.sparkContext.defaultParallelism
        als = ALS(
            rank=config.factors,
            maxIter=config.iterations,
            regParam=mllib_reg_param(weighted, config),
            alpha=1.0,
            implicitPrefs=True,
            seed=config.seed,
            userCol="customer",
            itemCol="item",
            ratingCol="rating",
            numUserBlocks=blocks,
            numItemBlocks=blocks,
        )
        model = als.fit(ratings)
        n_customers, n_items = weighted.shape
        return (
            _factors(model.userFactors, n_customers, config.factors),
            _factors(model.itemFactors, n_items, config.factors),
        )

    return factorize


def _factors(frame: object, n: int, rank: int) -> np.ndarray:
    """An MLlib factor frame (``id``, ``features``) as a dense float32 array of ``n`` rows (zeros where absent)."""
    table = frame.toArrow()  # type: ignore[attr-defined]
    out = np.zeros((n, rank), dtype=np.float32)
    ids = table.column("id").to_numpy()
    if len(ids):
        features = table.column("features").combine_chunks()
        values = features.flatten().to_numpy(zero_copy_only=False).reshape(len(ids), rank)
        out[ids] = values
    return out
