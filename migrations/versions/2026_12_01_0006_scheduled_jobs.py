"""Scheduled jobs: the PgQueuer job queue, and what the first jobs need from the ledger.

- PgQueuer's own tables (``pgqueuer``, ``pgqueuer_log``, ``pgqueuer_schedules``,
  ``pgqueuer_statistics``, in the public schema under the library's default names) are
  created by the library's installer, the way its ``pgq install`` does, at the version
  requirements.lock pins. A later PgQueuer that changes them gets a revision of its own
  calling the library's upgrade. The service's role may read and write them (it enqueues
  and runs jobs); it owns none of them.
- ``ledger.communities_with_lapsed_holds()``: the communities that have active holds past
  their timeout. The sweep must see every community, which row-level security hides from
  the service's role, so the function runs as the owner and returns only ids; each
  community's holds are then expired inside that community (``ledger.expire_holds``).
  An index on the active holds' expiry keeps the question cheap however many holds exist.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy.util import await_

from migrations.script import execute_script

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_TABLES = ("pgqueuer", "pgqueuer_log", "pgqueuer_schedules", "pgqueuer_statistics")

GRANTS = f"""
GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(JOB_TABLES)} TO linli_app;
GRANT USAGE ON SEQUENCE pgqueuer_id_seq, pgqueuer_log_id_seq, pgqueuer_schedules_id_seq, pgqueuer_statistics_id_seq
    TO linli_app;
"""

LAPSED = """
CREATE INDEX holds_active_by_expiry ON ledger.holds (expires_at) WHERE status = 'active';

CREATE FUNCTION ledger.communities_with_lapsed_holds() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT h.community_id FROM ledger.holds h WHERE h.status = 'active' AND h.expires_at <= now()
$$;
REVOKE ALL ON FUNCTION ledger.communities_with_lapsed_holds() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.communities_with_lapsed_holds() TO linli_app;
"""


def _queries() -> object:
    from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
    from pgqueuer.adapters.persistence.queries import Queries

    driver_connection = op.get_bind().connection.driver_connection
    return Queries(AsyncpgDriver(driver_connection))


def upgrade() -> None:
    queries = _queries()
    await_(queries.install())  # type: ignore[attr-defined]
    execute_script(GRANTS)
    execute_script(LAPSED)


def downgrade() -> None:
    execute_script("DROP FUNCTION ledger.communities_with_lapsed_holds(); DROP INDEX ledger.holds_active_by_expiry;")
    queries = _queries()
    await_(queries.uninstall())  # type: ignore[attr-defined]
