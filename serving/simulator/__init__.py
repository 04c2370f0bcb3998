"""The storefront simulator behind ``recs simulate``: shoppers of a generated shop on the real HTTP API.

Simulated shoppers (known customers of the shop the service was trained on, and guests) visit concurrently,
see lists, click and buy with probabilities drawn from the generator's truth, send every event back, and the
simulator keeps its own ledger of what it was shown, clicked and bought, attributed by the service's rules:
after a run on a fresh store it equals ``GET /v1/kpis`` exactly (``docs/feedback.md``).

Modules: ``truth`` (the generated shop's truth by id: tastes, owned items, complements, durables, due
repeats), ``shoppers`` (who shops, and the probabilities of their actions), ``ledger`` (the attribution
bookkeeping, pure), ``storefront`` (the HTTP calls: list pages booked as answers, event batches booked when
accepted, problems counted), ``journey`` (one visit, page by page), ``run`` (the shoppers concurrently until
the deadline), ``report`` (JSON and a table) and ``command`` (``recs simulate``, and the progress bar ``recs
demo`` reuses).
"""
