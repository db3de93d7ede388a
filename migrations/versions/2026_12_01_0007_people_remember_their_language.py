"""People remember their language: the pages' language switch, when signed in, is kept on the person and comes
back at the next sign-in on another phone or computer (the ``lang`` cookie alone stayed with one browser).

NULL is "not chosen" (the pages' default, zh-CN). The service may set only this column of it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
ALTER TABLE points.people ADD COLUMN locale text;
ALTER TABLE points.people ADD CONSTRAINT people_locale CHECK (locale IN ('zh_CN', 'en'));
GRANT UPDATE (locale) ON points.people TO linli_app;
"""

DOWNGRADE = """
REVOKE UPDATE (locale) ON points.people FROM linli_app;
ALTER TABLE points.people DROP COLUMN locale;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
