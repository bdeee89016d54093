"""RQ job functions and the ``rq cron`` table.

Jobs are thin and never need Flask: they open a session (``boxes.db``) and call the same service
functions the views call. ``jobs.runtime`` runs the worker and the cron process; ``jobs.cron`` is
the cron table.
"""
