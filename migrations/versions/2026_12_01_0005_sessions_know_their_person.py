"""Sessions know their person, so that changing a password can end that person's other sessions.

A session row was only a hashed key and Litestar's serialized session dict; finding
one person's sessions meant reading every value. The store now fills ``person_id``
from the session data when it writes a row (points/auth/session_store.py), and the
index finds them. Rows written before this revision get theirs from their value,
read with a regular expression rather than a JSON cast, so that one odd value cannot
fail the migration (such a row keeps a NULL person and simply runs out).

A person is never deleted by the service; should the owner delete one, their
sessions go with them.

Grants: linli_app has SELECT, INSERT, UPDATE, DELETE on the whole table (revision
0002), which covers the new column; nothing else changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
ALTER TABLE points.sessions ADD COLUMN person_id bigint REFERENCES points.people (id) ON DELETE CASCADE;
CREATE INDEX sessions_person ON points.sessions (person_id);

UPDATE points.sessions s SET person_id = p.id
FROM points.people p
WHERE p.id = (substring(convert_from(s.value, 'UTF8') FROM '"person_id":\s*([0-9]{1,18})[,}]'))::bigint;
"""

DOWNGRADE = """
DROP INDEX points.sessions_person;
ALTER TABLE points.sessions DROP COLUMN person_id;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
