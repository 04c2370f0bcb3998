"""The models, all on the contract of ``recommender.base``: one module each, or a small package when one
module would do several jobs (``next_purchase``). A model's own compiled kernels sit beside it
(``complements_kernels``, ``similar_kernels``, ``next_purchase.kernels``)."""
