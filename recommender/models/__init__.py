"""The models, one file each, all on the contract of ``recommender.base``."""
