"""Scheduled work on PostgreSQL: the PgQueuer job queue, its jobs, and the worker that runs them.

Timed work (holds that lapse, sessions that expire, later a 公示 window that ends or points that expire) runs as
jobs in a queue kept in the service's own database: no second server. A schedule enqueues each periodic job;
the queue hands every job to exactly one worker (``FOR UPDATE SKIP LOCKED``), retries a failed one with backoff,
and keeps what happened (``pgqueuer_log``, with the traceback of a failure) for ``points jobs`` to show.

``points serve`` runs a worker inside the web process by default; ``points worker`` runs one alone, for
deployments with several web processes (``points serve --no-worker``).
"""
