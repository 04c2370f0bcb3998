"""Exit codes of the training commands (``recs train``, ``recs tune``); ``recs publish`` has its own."""

EXIT_BAD_DATA = 2  # bad input: orders that fail their checks, a model config that cannot be read
