"""Numeric helpers that speak of arrays, rows, columns and keys, never of customers or items.

- ``topk``: top-k selection (``Ranked``, dense and sparse, in bounded blocks; ties to the lower column);
- ``inner_product_topk`` / ``inner_product_kernels``: exact pruned top-k of inner products (publish's ALS lists);
- ``heap``: compiled fixed-size heaps for the kernels, and ``keep_best``, a top-k through one;
- ``sparse_rows``: the compiled step of adding a scaled sparse row into a dense accumulator;
- ``row_blocks``: rows in blocks on two threads;
- ``sparse_sum``: sums of many sparse matrices as a binary counter;
- ``pair_keys``: (row, column) pairs packed into sorted int64 keys, and their vectorized lookup.

Nothing here imports the rest of ``recommender`` (``tests/test_layers.py``). A model's own compiled kernels
live beside it in ``recommender.models``.
"""
