"""The migrations are the schema's source of truth; ledger/tables.py must describe the same tables,
and every migration must come back down as cleanly as it went up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import BigInteger, Column, MetaData
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ledger.tables import Xid8
from points.migrate import downgrade, upgrade
from points.settings import app_url, asyncpg_url
from points.tables import metadata as points_metadata
from tests.conftest import plain_url

# Every schema of ours is described (ledger/tables.py, points/tables.py). The default schema (public) holds only
# alembic_version and PgQueuer's tables, which its own installer creates and upgrades (migration 0006): they are
# the library's, not described here.
DESCRIBED_SCHEMAS = {"ledger", "points"}


def _our_schemas(name: str | None, type_: str, parent_names: Any) -> bool:
    return type_ != "schema" or name in DESCRIBED_SCHEMAS


async def differences(database_url: str, target: MetaData) -> list[Any]:
    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn, opts={"include_schemas": True, "compare_type": True, "include_name": _our_schemas}
        )
        return list(compare_metadata(context, target))

    engine = create_async_engine(asyncpg_url(database_url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


@pytest.fixture
def reflect_xid8(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLAlchemy does not know PostgreSQL's xid8; teach reflection the type the tables declare, so the
    column is compared (instead of reflected as NullType with a warning)."""
    monkeypatch.setitem(PGDialect.ischema_names, "xid8", Xid8)


@pytest.mark.usefixtures("reflect_xid8")
async def test_tables_match_the_migrated_database(database_url: str) -> None:
    found = await differences(database_url, points_metadata)
    assert found == [], "ledger/tables.py or points/tables.py and the migrations disagree:\n" + "\n".join(
        map(str, found)
    )


@pytest.mark.usefixtures("reflect_xid8")
async def test_comparison_sees_a_drifted_table(database_url: str) -> None:
    """The comparison above looks at the ledger schema at all: a column the migrations lack is reported."""
    drifted = MetaData(schema="points")
    for table in points_metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["ledger.accounts"].append_column(Column("nickname", BigInteger))
    drifted.tables["ledger.postings"].c.amount.type = Xid8()
    drifted.tables["points.members"].append_column(Column("nickname", BigInteger))
    found = await differences(database_url, drifted)
    kinds = {(d[0] if isinstance(d, tuple) else d[0][0]) for d in found}
    assert "add_column" in kinds
    assert "modify_type" in kinds
    assert len(found) == 3, found  # two in the ledger, one in points


# ---- downgrade and upgrade again, in a database of its own ----------------------------------------

_SNAPSHOT = {
    "tables": "SELECT relname FROM pg_class WHERE relnamespace = 'ledger'::regnamespace ORDER BY 1",
    "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity
                    FROM information_schema.columns WHERE table_schema = 'ledger' ORDER BY 1, 2""",
    "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                        FROM pg_constraint WHERE connamespace = 'ledger'::regnamespace ORDER BY 1, 2""",
    "triggers": """SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
                     WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE 'ledger.%' ORDER BY 1, 2""",
    "functions": """SELECT p.oid::regprocedure::text, md5(pg_get_functiondef(p.oid)), p.prosecdef
                      FROM pg_proc p WHERE p.pronamespace = 'ledger'::regnamespace ORDER BY 1""",
    "grants": """SELECT table_name, privilege_type FROM information_schema.role_table_grants
                  WHERE table_schema = 'ledger' AND grantee = 'linli_app' ORDER BY 1, 2""",
    "column grants": """SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges
                         WHERE table_schema = 'ledger' AND grantee = 'linli_app' ORDER BY 1, 2, 3""",
}


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [tuple(r) for r in await conn.fetch(query)] for name, query in _SNAPSHOT.items()}


@pytest.fixture
async def scratch_database(database_url: str) -> AsyncIterator[str]:
    """An empty database on the test server (embedded or DATABASE_URL's), dropped afterwards."""
    name = f"linli_migrations_{uuid.uuid4().hex[:10]}"
    owner = await asyncpg.connect(plain_url(database_url))
    try:
        await owner.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(asyncpg_url(database_url)).set(database=name).render_as_string(hide_password=False)
        finally:
            await owner.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await owner.close()


async def in_thread(fn: Callable[..., None], *args: str) -> None:
    """Alembic's env.py runs its own event loop (asyncio.run), so it cannot run on this one."""
    await asyncio.to_thread(fn, *args)


async def test_downgrade_to_base_and_upgrade_again(scratch_database: str) -> None:
    conn = await asyncpg.connect(plain_url(scratch_database))
    try:
        await in_thread(upgrade, scratch_database)
        migrated = await snapshot(conn)
        assert migrated["tables"], "the upgrade created no ledger tables"
        assert migrated["triggers"]
        assert migrated["functions"]
        head = await conn.fetchval("SELECT version_num FROM public.alembic_version")

        await in_thread(downgrade, scratch_database, "base")
        assert await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = 'ledger'") == 0
        assert await conn.fetch("SELECT version_num FROM public.alembic_version") == []

        await in_thread(upgrade, scratch_database)
        assert await conn.fetchval("SELECT version_num FROM public.alembic_version") == head
        again = await snapshot(conn)
        for part in _SNAPSHOT:
            assert again[part] == migrated[part], f"{part} differ after downgrade and upgrade"
    finally:
        await conn.close()

    # the re-created schema works: the service's role can open a community and post in it
    app = await asyncpg.connect(plain_url(app_url(scratch_database)))
    try:
        community_id = await app.fetchval("SELECT ledger.create_community('m1', 'M', 'points', 'P')")
        await app.execute("SELECT set_config('linli.community_id', $1, false)", str(community_id))
        ids = [
            await app.fetchval(
                "INSERT INTO ledger.accounts (community_id, unit, code, normal_side, lower_bound) "
                "VALUES ($1, 'points', $2, 'credit', $3) RETURNING id",
                community_id,
                code,
                bound,
            )
            for code, bound in (("issuance", None), ("volunteer:1", 0))
        ]
        await app.fetch(
            "SELECT * FROM ledger.post_entry($1, 'award', '', '{}', NULL, NULL, 'k1', $2::bigint[], $3::bigint[])",
            community_id,
            ids,
            [-7, 7],
        )
        assert await app.fetchval("SELECT balance FROM ledger.accounts WHERE id = $1", ids[1]) == 7
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("UPDATE ledger.accounts SET balance = 100 WHERE id = $1", ids[1])
    finally:
        await app.close()
