"""Run a multi-statement SQL script inside the migration's transaction.

asyncpg prepares every statement SQLAlchemy sends, and a prepared statement
holds one command; triggers and functions are far clearer as one script, so
scripts go through the driver connection's simple-query path instead. The
connection is the migration's own, so the script is part of its transaction.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op
from sqlalchemy.util import await_


def execute_script(sql: str) -> None:
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    await_(driver_connection.execute(sql))


def sql_block(script: str, start: str) -> str:
    """The statement of `script` that begins with `start`, up to the next blank-line-separated
    CREATE: lets a later revision's downgrade put back an earlier revision's definition verbatim."""
    begin = script.index(start)
    end = script.find("\nCREATE ", begin + len(start))
    return script[begin:] if end < 0 else script[begin:end]


def revision_module(filename: str) -> ModuleType:
    """Load another revision file (their names start with a date, so they cannot be imported by name)."""
    path = Path(__file__).with_name("versions") / filename
    spec = importlib.util.spec_from_file_location(f"migrations.versions.{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
