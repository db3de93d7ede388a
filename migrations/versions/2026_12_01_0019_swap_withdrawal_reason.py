"""A listing withdrawn by the table's staff keeps their reason, for its member to read.

Migration 0017's staff withdrawal required a reason and wrote it to the audit trail only, which a member cannot
read: the member saw their item off the table and not why. ``points.swap_listings.withdraw_reason`` keeps it:
set once, with the withdrawal (a CHECK ties it to the status ``withdrawn``; a listing's own trigger, migration
0014, already refuses every change after withdrawn, so it is never edited). A member's own withdrawal has none.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
ALTER TABLE points.swap_listings
    ADD COLUMN withdraw_reason text,
    ADD CONSTRAINT swap_listings_withdraw_reason CHECK (
        withdraw_reason IS NULL OR (status = 'withdrawn' AND char_length(btrim(withdraw_reason)) BETWEEN 1 AND 500));
GRANT UPDATE (withdraw_reason) ON points.swap_listings TO linli_app;
"""

DOWNGRADE = """
REVOKE UPDATE (withdraw_reason) ON points.swap_listings FROM linli_app;
ALTER TABLE points.swap_listings DROP CONSTRAINT swap_listings_withdraw_reason, DROP COLUMN withdraw_reason;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
