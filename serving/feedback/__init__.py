"""The loop with the storefront: what answers showed, the events sent back, attribution and journey KPIs.

- ``revenue``: an order line's revenue in integer cents (the KPIs and ``recs simulate``'s ledger both sum it);
- ``export``, ``export_command``: ``recs events export``, the event log to Parquet exactly once.

The rules are in ``docs/feedback.md``.
"""
