"""Ledger writes stay in the community their connection is entered in.

The ledger's writing functions (post_entry, reverse_entry, place_hold, post_hold,
void_hold, expire_holds) run as the owner, so row-level security does not look
at what they write: a caller entered in community 1 (whose access the guard
checked) could post into community 4 by naming it. Two row triggers close that,
whoever writes: an entry or a hold whose community is not the connection's tenant
is refused (SQLSTATE LE013) when a tenant is set. With no tenant set (migrations,
`points verify`, the benchmark's pgbench script) nothing changes.

The WHEN clause is evaluated without calling a PL/pgSQL function, so the check
costs a setting lookup per entry, not a function call (bench/ledger.py: no
measurable change in single transfers).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE FUNCTION ledger.reject_other_community() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'this connection works in community %, not %', ledger.current_community(), NEW.community_id
        USING ERRCODE = 'LE013',
              DETAIL = json_build_object('entered_community_id', ledger.current_community(),
                                         'community_id', NEW.community_id)::text;
END $$;

CREATE TRIGGER entries_in_entered_community BEFORE INSERT ON ledger.entries
    FOR EACH ROW WHEN (NEW.community_id IS DISTINCT FROM coalesce(ledger.current_community(), NEW.community_id))
    EXECUTE FUNCTION ledger.reject_other_community();
CREATE TRIGGER holds_in_entered_community BEFORE INSERT OR UPDATE ON ledger.holds
    FOR EACH ROW WHEN (NEW.community_id IS DISTINCT FROM coalesce(ledger.current_community(), NEW.community_id))
    EXECUTE FUNCTION ledger.reject_other_community();
"""

DOWNGRADE = """
DROP TRIGGER holds_in_entered_community ON ledger.holds;
DROP TRIGGER entries_in_entered_community ON ledger.entries;
DROP FUNCTION ledger.reject_other_community();
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
