"""SQLAlchemy descriptions of the ledger tables, kept equal to the migrations.

The migrations are the source of truth (they hold the triggers, functions and
CHECKs); these tables exist so that Alembic can compare the two
(tests/test_migrations.py fails when they drift) and so that reports can
query the ledger with SQLAlchemy Core. No code writes through them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import UserDefinedType


class Xid8(UserDefinedType[int]):
    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "XID8"


metadata = MetaData(schema="ledger")
TS = DateTime(timezone=True)

communities = Table(
    "communities",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("slug", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    UniqueConstraint("slug", name="communities_slug_key"),
)

units = Table(
    "units",
    metadata,
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id"), nullable=False),
    Column("code", Text, nullable=False),
    Column("name", Text, nullable=False),
    PrimaryKeyConstraint("community_id", "code", name="units_pkey"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("community_id", BigInteger, nullable=False),
    Column("unit", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("name", Text, nullable=False, server_default=text("''")),
    Column("normal_side", Text, nullable=False),
    Column("lower_bound", BigInteger),
    Column("upper_bound", BigInteger),
    Column("balance", BigInteger, nullable=False, server_default=text("0")),
    Column("held", BigInteger, nullable=False, server_default=text("0")),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    UniqueConstraint("community_id", "code", name="accounts_community_code_key"),
    UniqueConstraint("id", "community_id", "unit", name="accounts_id_community_unit_key"),
    UniqueConstraint("id", "community_id", name="accounts_id_community_key"),  # migration 0002, for members' wallets
    ForeignKeyConstraint(
        ["community_id", "unit"], ["ledger.units.community_id", "ledger.units.code"], name="accounts_unit_fkey"
    ),
)

account_stripes = Table(
    "account_stripes",
    metadata,
    Column("account_id", BigInteger, ForeignKey("ledger.accounts.id"), nullable=False),
    Column("stripe", SmallInteger, nullable=False),
    Column("community_id", BigInteger, nullable=False),
    Column("balance", BigInteger, nullable=False),
    # Makes each row bigger than a fillfactor-10 page may take in inserts: one stripe per page (migration 0003).
    Column("page_spacer", Text, nullable=False, server_default=text("repeat(' '::text, 820)")),
    PrimaryKeyConstraint("account_id", "stripe", name="account_stripes_pkey"),
)

entries = Table(
    "entries",
    metadata,
    # The key every reference uses, so none can leave its community (migration 0003); id alone is an identity.
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("community_id", BigInteger, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("memo", Text, nullable=False, server_default=text("''")),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("actor", Text),
    Column("effective_at", TS, nullable=False),
    Column("posted_at", TS, nullable=False, server_default=text("now()")),
    Column("idempotency_key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("reverses_entry_id", BigInteger),
    Column("reversal_reason", Text),
    Column("posting_count", Integer, nullable=False),
    Column("created_xid", Xid8, nullable=False, server_default=text("pg_current_xact_id()")),
    UniqueConstraint("community_id", "idempotency_key", name="entries_idempotency_key"),
    Index(
        "entries_reversed_once",
        "reverses_entry_id",
        unique=True,
        postgresql_where=text("reverses_entry_id IS NOT NULL"),
    ),
    ForeignKeyConstraint(
        ["reverses_entry_id", "community_id"],
        ["ledger.entries.id", "ledger.entries.community_id"],
        name="entries_reverses_fkey",
    ),
)

postings = Table(
    "postings",
    metadata,
    # Orders an account's history; not indexed on its own (nothing looks a posting up by id alone).
    Column("id", BigInteger, Identity(always=True), nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("community_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("unit", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger),
    Column("posted_at", TS, nullable=False, server_default=text("clock_timestamp()")),
    # No foreign keys: a statement trigger checks each posting's entry and account (migration 0003).
    PrimaryKeyConstraint("entry_id", "account_id", name="postings_pkey"),
    Index("postings_account_history", "account_id", "id"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("community_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("counter_account_id", BigInteger, nullable=False),
    Column("unit", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("memo", Text, nullable=False, server_default=text("''")),
    Column("actor", Text),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    Column("posted_amount", BigInteger),
    Column("entry_id", BigInteger),
    Column("idempotency_key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("expires_at", TS, nullable=False),
    Column("resolved_at", TS),
    UniqueConstraint("community_id", "idempotency_key", name="holds_idempotency_key"),
    ForeignKeyConstraint(
        ["account_id", "community_id", "unit"],
        ["ledger.accounts.id", "ledger.accounts.community_id", "ledger.accounts.unit"],
        name="holds_account_fkey",
    ),
    ForeignKeyConstraint(
        ["counter_account_id", "community_id", "unit"],
        ["ledger.accounts.id", "ledger.accounts.community_id", "ledger.accounts.unit"],
        name="holds_counter_account_fkey",
    ),
    ForeignKeyConstraint(
        ["entry_id", "community_id"], ["ledger.entries.id", "ledger.entries.community_id"], name="holds_entry_fkey"
    ),
    Index("holds_active_by_account", "account_id", postgresql_where=text("status = 'active'")),
    Index("holds_active_by_expiry", "expires_at", postgresql_where=text("status = 'active'")),  # the sweep (0006)
)
