"""Run a multi-statement SQL script inside the migration's transaction.

asyncpg prepares every statement SQLAlchemy sends, and a prepared statement
holds one command; triggers and functions are far clearer as one script, so
scripts go through the driver connection's simple-query path instead. The
connection is the migration's own, so the script is part of its transaction.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_


def execute_script(sql: str) -> None:
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    await_(driver_connection.execute(sql))
