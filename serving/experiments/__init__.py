"""Champion/challenger experiments on live traffic (``recs experiment start/status/stop``).

- ``config``: what an experiment is (``Experiment``, stored as JSON under ``recs:experiment``) and who sees
  which variant (``variant_of``: a hash of the experiment's name and the customer id, so a customer always
  sees the same variant, anonymous visitors' session ids included);
- ``stats``: the numbers of a variant from per-customer counters, intervals and the test (pure numpy);
- ``store``: the experiment's keys in Redis (start once, read, stop);
- ``report``: ``recs experiment status``'s answer;
- ``commands``: the ``recs experiment`` commands.

The request path reads only ``config`` (``serving.state`` holds the experiment and the challenger's tables);
how an answer's variant reaches the counters is in ``serving.feedback.store``.
"""
