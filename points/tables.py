"""SQLAlchemy descriptions of the service's own tables (schema ``points``), kept equal to the migrations.

As for the ledger (ledger/tables.py), the migrations are the source of truth; these descriptions let Alembic
compare the two (tests/test_migrations.py fails when they drift), and a new CRUD-shaped table of a domain may be
written through SQLAlchemy Core or the ORM inside the same transaction as its ledger call.

``metadata`` describes the whole database: a copy of the ledger's tables (the ledger knows nothing of this
package) and the service's own, so foreign keys into the ledger resolve.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from ledger.tables import metadata as ledger_metadata

metadata = MetaData(schema="points")
for _table in ledger_metadata.sorted_tables:
    _table.to_metadata(metadata)
TS = DateTime(timezone=True)


def _id() -> Column[int]:
    return Column("id", BigInteger, Identity(always=True), primary_key=True)


regions = Table(
    "regions",
    metadata,
    _id(),
    Column("parent_id", BigInteger, ForeignKey("points.regions.id", name="regions_parent_id_fkey")),
    Column("level", Text, nullable=False),
    Column("name", Text, nullable=False),
    CheckConstraint("level IN ('city', 'street')", name="regions_level"),
    CheckConstraint("level = 'street' OR parent_id IS NULL", name="regions_city_is_top"),
)

community_profiles = Table(
    "community_profiles",
    metadata,
    Column(
        "community_id",
        BigInteger,
        ForeignKey("ledger.communities.id", name="community_profiles_community_id_fkey"),
        primary_key=True,
    ),
    Column("street_id", BigInteger, ForeignKey("points.regions.id", name="community_profiles_street_id_fkey")),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
)

places = Table(
    "places",
    metadata,
    _id(),
    Column(
        "community_id",
        BigInteger,
        ForeignKey("ledger.communities.id", name="places_community_id_fkey"),
        nullable=False,
    ),
    Column("parent_id", BigInteger),
    Column("level", Text, nullable=False),
    Column("name", Text, nullable=False),
    UniqueConstraint("id", "community_id", name="places_id_community_key"),
    UniqueConstraint("community_id", "parent_id", "name", name="places_unique_name"),
    ForeignKeyConstraint(
        ["parent_id", "community_id"], ["points.places.id", "points.places.community_id"], name="places_parent_fkey"
    ),
)

people = Table(
    "people",
    metadata,
    _id(),
    Column("phone", Text, nullable=False),
    Column("password_hash", Text),
    Column("is_operator", Boolean, nullable=False, server_default=text("false")),
    Column("failed_logins", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", TS),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("locale", Text),  # migration 0007: the pages' language, once chosen
    UniqueConstraint("phone", name="people_phone_key"),
)

region_admins = Table(
    "region_admins",
    metadata,
    Column(
        "person_id", BigInteger, ForeignKey("points.people.id", name="region_admins_person_id_fkey"), nullable=False
    ),
    Column(
        "region_id", BigInteger, ForeignKey("points.regions.id", name="region_admins_region_id_fkey"), nullable=False
    ),
    PrimaryKeyConstraint("person_id", "region_id", name="region_admins_pkey"),
)

households = Table(
    "households",
    metadata,
    _id(),
    Column(
        "community_id",
        BigInteger,
        ForeignKey("ledger.communities.id", name="households_community_id_fkey"),
        nullable=False,
    ),
    Column("label", Text, nullable=False),
    Column("place_id", BigInteger),
    UniqueConstraint("id", "community_id", name="households_id_community_key"),
    UniqueConstraint("community_id", "label", name="households_label_key"),
    ForeignKeyConstraint(
        ["place_id", "community_id"], ["points.places.id", "points.places.community_id"], name="households_place_fkey"
    ),
)

members = Table(
    "members",
    metadata,
    _id(),
    Column(
        "community_id",
        BigInteger,
        ForeignKey("ledger.communities.id", name="members_community_id_fkey"),
        nullable=False,
    ),
    Column("person_id", BigInteger, ForeignKey("points.people.id", name="members_person_id_fkey")),
    Column("display_name", Text, nullable=False),
    Column("household_id", BigInteger),
    Column("place_id", BigInteger),
    Column("status", Text, nullable=False, server_default=text("'active'::text")),
    Column("wallet_account_id", BigInteger, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    UniqueConstraint("id", "community_id", name="members_id_community_key"),
    UniqueConstraint("community_id", "person_id", name="members_person_once"),
    UniqueConstraint("wallet_account_id", name="members_wallet_key"),
    ForeignKeyConstraint(
        ["household_id", "community_id"],
        ["points.households.id", "points.households.community_id"],
        name="members_household_fkey",
    ),
    ForeignKeyConstraint(
        ["place_id", "community_id"], ["points.places.id", "points.places.community_id"], name="members_place_fkey"
    ),
    ForeignKeyConstraint(
        ["wallet_account_id", "community_id"],
        ["ledger.accounts.id", "ledger.accounts.community_id"],
        name="members_wallet_fkey",
    ),
)

role_grants = Table(
    "role_grants",
    metadata,
    _id(),
    Column("community_id", BigInteger, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("role", Text, nullable=False),
    Column("place_id", BigInteger),
    Column("granted_by", BigInteger),
    Column("granted_at", TS, nullable=False, server_default=text("now()")),
    Column("revoked_at", TS),
    ForeignKeyConstraint(
        ["member_id", "community_id"],
        ["points.members.id", "points.members.community_id"],
        name="role_grants_member_fkey",
    ),
    ForeignKeyConstraint(
        ["place_id", "community_id"], ["points.places.id", "points.places.community_id"], name="role_grants_place_fkey"
    ),
    Index(
        "role_grants_active",
        "member_id",
        "role",
        text("coalesce(place_id, 0::bigint)"),
        unique=True,
        postgresql_where=text("revoked_at IS NULL"),
    ),
)

sessions = Table(
    "sessions",
    metadata,
    Column("key_hash", LargeBinary, primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("expires_at", TS),
    Column(
        "person_id",
        BigInteger,
        ForeignKey("points.people.id", name="sessions_person_id_fkey", ondelete="CASCADE"),
    ),  # migration 0005
    Index("sessions_expiry", "expires_at"),
    Index("sessions_person", "person_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("person_id", BigInteger, ForeignKey("points.people.id", name="api_tokens_person_id_fkey"), nullable=False),
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id", name="api_tokens_community_id_fkey")),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("expires_at", TS, nullable=False),
    Column("revoked_at", TS),
    Column("last_used_at", TS),
    UniqueConstraint("secret_hash", name="api_tokens_secret_key"),
)

audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id", name="audit_log_community_id_fkey")),
    Column("actor_person_id", BigInteger, ForeignKey("points.people.id", name="audit_log_actor_person_id_fkey")),
    Column("on_behalf_of_member_id", BigInteger),
    Column("action", Text, nullable=False),
    Column("subject", Text, nullable=False, server_default=text("''::text")),
    Column("detail", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("remote_addr", Text),
    Column("at", TS, nullable=False, server_default=text("now()")),
    Index("audit_log_by_community", "community_id", "id"),
)
