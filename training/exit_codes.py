"""Exit codes of the training commands (``recs train``, ``recs tune``); ``recs publish`` has its own."""

EXIT_BAD_DATA = 2  # bad input: orders that fail their checks, a model config that cannot be read
EXIT_NO_ENGINE = 6  # recs train --engine spark where pyspark or Java is missing
