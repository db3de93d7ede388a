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
    Date,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from ledger.tables import Xid8
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


# --- earning points (migration 0008) ---------------------------------------------------------------------------


def _community(table: str) -> Column[int]:
    return Column(
        "community_id",
        BigInteger,
        ForeignKey("ledger.communities.id", name=f"{table}_community_id_fkey"),
        nullable=False,
    )


def _pair(column: str, target: str, name: str) -> ForeignKeyConstraint:
    """A reference that stays inside the community: (column, community_id) -> target (id, community_id)."""
    return ForeignKeyConstraint([column, "community_id"], [f"{target}.id", f"{target}.community_id"], name=name)


_MEMBERS = "points.members"

earning_settings = Table(
    "earning_settings",
    metadata,
    Column(
        "community_id",
        BigInteger,
        ForeignKey("ledger.communities.id", name="earning_settings_community_id_fkey"),
        primary_key=True,
    ),
    Column("approval_threshold", Integer),
    Column("updated_at", TS, nullable=False, server_default=text("now()")),
)

activity_types = Table(
    "activity_types",
    metadata,
    _id(),
    _community("activity_types"),
    Column("code", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("default_points", Integer, nullable=False),
    Column("points_per_hour", Integer),
    Column("cap_per_day", Integer),
    Column("cap_per_month", Integer),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    UniqueConstraint("id", "community_id", name="activity_types_id_community_key"),
    UniqueConstraint("community_id", "code", name="activity_types_code_key"),
)

budgets = Table(
    "budgets",
    metadata,
    _id(),
    _community("budgets"),
    Column("period", Text, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    UniqueConstraint("id", "community_id", name="budgets_id_community_key"),
    UniqueConstraint("community_id", "period", name="budgets_period_key"),
    UniqueConstraint("account_id", name="budgets_account_key"),
    _pair("account_id", "ledger.accounts", "budgets_account_fkey"),
)

activities = Table(
    "activities",
    metadata,
    _id(),
    _community("activities"),
    Column("type_id", BigInteger, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''::text")),
    Column("place_id", BigInteger),
    Column("starts_at", TS, nullable=False),
    Column("ends_at", TS, nullable=False),
    Column("capacity", Integer),
    Column("reward_points", Integer, nullable=False),
    Column("per_hour", Boolean, nullable=False, server_default=text("false")),
    Column("organizer_member_id", BigInteger, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'draft'::text")),
    Column("checkin_secret", LargeBinary, nullable=False),
    Column("attendance_confirmed_at", TS),
    Column("confirmed_by_member_id", BigInteger),
    Column("cancel_reason", Text),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    UniqueConstraint("id", "community_id", name="activities_id_community_key"),
    _pair("type_id", "points.activity_types", "activities_type_fkey"),
    _pair("place_id", "points.places", "activities_place_fkey"),
    _pair("organizer_member_id", _MEMBERS, "activities_organizer_fkey"),
    Index("activities_by_start", "community_id", "starts_at"),
)

signups = Table(
    "signups",
    metadata,
    Column("community_id", BigInteger, nullable=False),
    Column("activity_id", BigInteger, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("signed_up_at", TS, nullable=False, server_default=text("now()")),
    Column("cancelled_at", TS),
    PrimaryKeyConstraint("activity_id", "member_id", name="signups_pkey"),
    _pair("activity_id", "points.activities", "signups_activity_fkey"),
    _pair("member_id", _MEMBERS, "signups_member_fkey"),
)

attendance = Table(
    "attendance",
    metadata,
    Column("community_id", BigInteger, nullable=False),
    Column("activity_id", BigInteger, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("checked_in_at", TS, nullable=False),
    Column("checked_out_at", TS),
    Column("method", Text, nullable=False),
    Column("recorded_by_member_id", BigInteger, nullable=False),
    Column("note", Text, nullable=False, server_default=text("''::text")),
    Column("confirmed", Boolean, nullable=False, server_default=text("false")),
    Column("minutes", Integer),
    Column("checkout_missing", Boolean, nullable=False, server_default=text("false")),
    PrimaryKeyConstraint("activity_id", "member_id", name="attendance_pkey"),
    _pair("activity_id", "points.activities", "attendance_activity_fkey"),
    _pair("member_id", _MEMBERS, "attendance_member_fkey"),
    _pair("recorded_by_member_id", _MEMBERS, "attendance_recorder_fkey"),
)

photos = Table(
    "photos",
    metadata,
    _id(),
    _community("photos"),
    Column("uploaded_by_member_id", BigInteger, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    UniqueConstraint("id", "community_id", name="photos_id_community_key"),
    _pair("uploaded_by_member_id", _MEMBERS, "photos_uploader_fkey"),
)

reports = Table(
    "reports",
    metadata,
    _id(),
    _community("reports"),
    Column("reporter_member_id", BigInteger, nullable=False),
    Column("type_id", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("place_id", BigInteger),
    Column("photo_id", BigInteger),
    Column("state", Text, nullable=False, server_default=text("'submitted'::text")),
    Column("decided_by_member_id", BigInteger),
    Column("decided_at", TS),
    Column("decision_reason", Text),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    UniqueConstraint("id", "community_id", name="reports_id_community_key"),
    _pair("reporter_member_id", _MEMBERS, "reports_reporter_fkey"),
    _pair("type_id", "points.activity_types", "reports_type_fkey"),
    _pair("place_id", "points.places", "reports_place_fkey"),
    _pair("photo_id", "points.photos", "reports_photo_fkey"),
    Index("reports_by_state", "community_id", "state", "id"),
)

awards = Table(
    "awards",
    metadata,
    _id(),
    _community("awards"),
    Column("kind", Text, nullable=False),
    Column("activity_id", BigInteger),
    Column("report_id", BigInteger),
    Column("type_id", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, server_default=text("''::text")),
    Column("award_on", Date, nullable=False),
    Column("budget_id", BigInteger, nullable=False),
    Column("made_by_member_id", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Column("approved_by_member_id", BigInteger),
    Column("decided_at", TS),
    Column("decision_reason", Text),
    Column("entry_id", BigInteger),
    Column("total_points", Integer, nullable=False),
    Column("total_minutes", Integer, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("published_at", TS),  # the 公示 window it was published with (migration 0016)
    Column("window_days", Integer),
    Column("window_ends_at", TS),
    UniqueConstraint("id", "community_id", name="awards_id_community_key"),
    UniqueConstraint("community_id", "idempotency_key", name="awards_idempotency_key"),
    _pair("activity_id", "points.activities", "awards_activity_fkey"),
    _pair("report_id", "points.reports", "awards_report_fkey"),
    _pair("type_id", "points.activity_types", "awards_type_fkey"),
    _pair("budget_id", "points.budgets", "awards_budget_fkey"),
    _pair("made_by_member_id", _MEMBERS, "awards_maker_fkey"),
    _pair("approved_by_member_id", _MEMBERS, "awards_approver_fkey"),
    _pair("entry_id", "ledger.entries", "awards_entry_fkey"),
    Index("awards_one_per_activity", "activity_id", unique=True, postgresql_where=text("state <> 'rejected'::text")),
    Index("awards_one_per_report", "report_id", unique=True, postgresql_where=text("state <> 'rejected'::text")),
    Index("awards_by_state", "community_id", "state", "id"),
    Index("awards_by_entry", "entry_id", postgresql_where=text("entry_id IS NOT NULL")),  # migration 0010
    Index("awards_published_by_end", "window_ends_at", postgresql_where=text("state = 'published'::text")),
)

award_lines = Table(
    "award_lines",
    metadata,
    Column("community_id", BigInteger, nullable=False),
    Column("award_id", BigInteger, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("requested_points", Integer, nullable=False),
    Column("points", Integer, nullable=False),
    Column("minutes", Integer, nullable=False),
    PrimaryKeyConstraint("award_id", "member_id", name="award_lines_pkey"),
    _pair("award_id", "points.awards", "award_lines_award_fkey"),
    _pair("member_id", _MEMBERS, "award_lines_member_fkey"),
    Index("award_lines_by_member", "member_id"),
)

award_corrections = Table(
    "award_corrections",
    metadata,
    Column("award_id", BigInteger, primary_key=True),
    Column("community_id", BigInteger, nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("corrected_by_member_id", BigInteger, nullable=False),
    Column("corrected_at", TS, nullable=False, server_default=text("now()")),
    _pair("entry_id", "ledger.entries", "award_corrections_entry_fkey"),
    _pair("award_id", "points.awards", "award_corrections_award_fkey"),
    _pair("corrected_by_member_id", _MEMBERS, "award_corrections_by_fkey"),
)

cap_usage = Table(
    "cap_usage",
    metadata,
    Column("community_id", BigInteger, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("type_id", BigInteger, nullable=False),
    Column("period", Text, nullable=False),
    Column("points", Integer, nullable=False),
    PrimaryKeyConstraint("member_id", "type_id", "period", name="cap_usage_pkey"),
)

# ---- the points supermarket (catalog/, migration 0011) ------------------------------------------------------------

goods = Table(
    "goods",
    metadata,
    _id(),
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id", name="goods_community_id_fkey"),
           nullable=False),
    Column("name", Text, nullable=False),
    Column("category", Text, nullable=False, server_default=text("''::text")),
    Column("price", Integer, nullable=False),
    Column("unit", Text, nullable=False, server_default=text("'件'::text")),
    Column("barcode", Text),
    Column("photo_id", BigInteger),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("stock", Integer, nullable=False, server_default=text("0")),
    Column("low_stock_at", Integer, nullable=False, server_default=text("5")),
    Column("limit_per_member", Integer),
    Column("limit_per_household", Integer),
    Column("limit_period", Text),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("updated_at", TS, nullable=False, server_default=text("now()")),
    UniqueConstraint("id", "community_id", name="goods_id_community_key"),
    UniqueConstraint("community_id", "barcode", name="goods_barcode_key"),
    _pair("photo_id", "points.photos", "goods_photo_fkey"),
)  # fmt: skip

payment_codes = Table(
    "payment_codes",
    metadata,
    _id(),
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id", name="payment_codes_community_id_fkey"),
           nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("code_hash", LargeBinary, nullable=False),
    Column("issued_at", TS, nullable=False, server_default=text("now()")),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS),
    Column("replaced_at", TS),
    UniqueConstraint("id", "community_id", name="payment_codes_id_community_key"),
    UniqueConstraint("code_hash", name="payment_codes_hash_key"),
    _pair("member_id", _MEMBERS, "payment_codes_member_fkey"),
    Index("payment_codes_by_member", "member_id", "id"),
)  # fmt: skip

member_cards = Table(
    "member_cards",
    metadata,
    Column("member_id", BigInteger, primary_key=True),
    Column("community_id", BigInteger, nullable=False),
    Column("card_number", Text, nullable=False),
    Column("pin_hash", Text, nullable=False),
    Column("failed_attempts", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", TS),
    Column("issued_at", TS, nullable=False, server_default=text("now()")),
    UniqueConstraint("community_id", "card_number", name="member_cards_number_key"),
    _pair("member_id", _MEMBERS, "member_cards_member_fkey"),
)

receipts = Table(
    "receipts",
    metadata,
    _id(),
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id", name="receipts_community_id_fkey"),
           nullable=False),
    Column("number", Integer, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("household_id", BigInteger),
    Column("clerk_member_id", BigInteger, nullable=False),
    Column("counter", Text, nullable=False, server_default=text("''::text")),
    Column("method", Text, nullable=False),
    Column("payment_code_id", BigInteger),
    Column("proxy_member_id", BigInteger),
    Column("entry_id", BigInteger, nullable=False),
    Column("total_points", Integer, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("created_xid", Xid8, nullable=False, server_default=text("pg_current_xact_id()")),
    UniqueConstraint("id", "community_id", name="receipts_id_community_key"),
    UniqueConstraint("community_id", "number", name="receipts_number_key"),
    UniqueConstraint("community_id", "idempotency_key", name="receipts_idempotency_key"),
    UniqueConstraint("payment_code_id", name="receipts_payment_code_key"),
    _pair("member_id", _MEMBERS, "receipts_member_fkey"),
    _pair("clerk_member_id", _MEMBERS, "receipts_clerk_fkey"),
    _pair("proxy_member_id", _MEMBERS, "receipts_proxy_fkey"),
    _pair("payment_code_id", "points.payment_codes", "receipts_code_fkey"),
    _pair("entry_id", "ledger.entries", "receipts_entry_fkey"),
    Index("receipts_by_member", "member_id", "id"),
    Index("receipts_by_day", "community_id", "created_at"),
)  # fmt: skip

receipt_lines = Table(
    "receipt_lines",
    metadata,
    Column("community_id", BigInteger, nullable=False),
    Column("receipt_id", BigInteger, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("good_id", BigInteger, nullable=False),
    Column("name", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Integer, nullable=False),
    Column("amount", Integer, nullable=False),
    Column("returned", Integer, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("receipt_id", "line_no", name="receipt_lines_pkey"),
    _pair("receipt_id", "points.receipts", "receipt_lines_receipt_fkey"),
    _pair("good_id", "points.goods", "receipt_lines_good_fkey"),
    Index("receipt_lines_by_good", "good_id"),
)

returns = Table(
    "returns",
    metadata,
    _id(),
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id", name="returns_community_id_fkey"),
           nullable=False),
    Column("receipt_id", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("clerk_member_id", BigInteger, nullable=False),
    Column("counter", Text, nullable=False, server_default=text("''::text")),
    Column("entry_id", BigInteger, nullable=False),
    Column("total_points", Integer, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("created_xid", Xid8, nullable=False, server_default=text("pg_current_xact_id()")),
    UniqueConstraint("id", "community_id", name="returns_id_community_key"),
    UniqueConstraint("community_id", "idempotency_key", name="returns_idempotency_key"),
    _pair("receipt_id", "points.receipts", "returns_receipt_fkey"),
    _pair("clerk_member_id", _MEMBERS, "returns_clerk_fkey"),
    _pair("entry_id", "ledger.entries", "returns_entry_fkey"),
    Index("returns_by_receipt", "receipt_id"),
)  # fmt: skip

return_lines = Table(
    "return_lines",
    metadata,
    Column("community_id", BigInteger, nullable=False),
    Column("return_id", BigInteger, nullable=False),
    Column("receipt_id", BigInteger, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    PrimaryKeyConstraint("return_id", "line_no", name="return_lines_pkey"),
    _pair("return_id", "points.returns", "return_lines_return_fkey"),
    ForeignKeyConstraint(
        ["receipt_id", "line_no"],
        ["points.receipt_lines.receipt_id", "points.receipt_lines.line_no"],
        name="return_lines_line_fkey",
    ),
)

stock_movements = Table(
    "stock_movements",
    metadata,
    _id(),
    Column("community_id", BigInteger, nullable=False),
    Column("good_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("stock_after", Integer, nullable=False),
    Column("reason", Text, nullable=False, server_default=text("''::text")),
    Column("member_id", BigInteger, nullable=False),
    Column("receipt_id", BigInteger),
    Column("return_id", BigInteger),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    _pair("good_id", "points.goods", "stock_movements_good_fkey"),
    _pair("member_id", _MEMBERS, "stock_movements_member_fkey"),
    _pair("receipt_id", "points.receipts", "stock_movements_receipt_fkey"),
    _pair("return_id", "points.returns", "stock_movements_return_fkey"),
    Index("stock_movements_by_good", "good_id", "id"),
    Index("stock_movements_by_receipt", "receipt_id"),
)

redemption_usage = Table(
    "redemption_usage",
    metadata,
    Column("community_id", BigInteger, nullable=False),
    Column("good_id", BigInteger, nullable=False),
    Column("subject", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    PrimaryKeyConstraint("good_id", "subject", "period", name="redemption_usage_pkey"),
)

# ---- points expiry (migration 0015) -----------------------------------------------------------------------------

expiry_settings = Table(
    "expiry_settings",
    metadata,
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id", name="expiry_settings_community_id_fkey"),
           primary_key=True),
    Column("mode", Text, nullable=False, server_default=text("'off'::text")),
    Column("months", Integer),
    Column("reset_month", Integer),
    Column("reset_day", Integer),
    Column("since", TS, nullable=False, server_default=text("now()")),
    Column("updated_at", TS, nullable=False, server_default=text("now()")),
)  # fmt: skip

expiries = Table(
    "expiries",
    metadata,
    Column("entry_id", BigInteger, primary_key=True),
    Column("community_id", BigInteger, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("wallet_account_id", BigInteger, nullable=False),
    Column("expired_account_id", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("due_at", TS, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    _pair("entry_id", "ledger.entries", "expiries_entry_fkey"),
    _pair("member_id", _MEMBERS, "expiries_member_fkey"),
    Index("expiries_by_member", "member_id", "created_at"),
)

# ---- the 公示 window (points/publication/, migration 0016) ---------------------------------------------------------

publication_settings = Table(
    "publication_settings",
    metadata,
    Column("community_id", BigInteger,
           ForeignKey("ledger.communities.id", name="publication_settings_community_id_fkey"), primary_key=True),
    Column("window_days", Integer),
    Column("updated_at", TS, nullable=False, server_default=text("now()")),
)  # fmt: skip

award_holds = Table(
    "award_holds",
    metadata,
    Column("hold_id", BigInteger, ForeignKey("ledger.holds.id", name="award_holds_hold_id_fkey"), primary_key=True),
    Column("community_id", BigInteger, nullable=False),
    Column("award_id", BigInteger, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    _pair("award_id", "points.awards", "award_holds_award_fkey"),
    ForeignKeyConstraint(["award_id", "member_id"], ["points.award_lines.award_id", "points.award_lines.member_id"],
                         name="award_holds_line_fkey"),
    Index("award_holds_by_award", "award_id"),
)  # fmt: skip

objections = Table(
    "objections",
    metadata,
    _id(),
    Column("community_id", BigInteger, nullable=False),
    Column("award_id", BigInteger, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'open'::text")),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("decided_by_member_id", BigInteger),
    Column("decided_at", TS),
    Column("decision_reason", Text),
    UniqueConstraint("award_id", "member_id", name="objections_once"),
    _pair("award_id", "points.awards", "objections_award_fkey"),
    _pair("member_id", _MEMBERS, "objections_member_fkey"),
    _pair("decided_by_member_id", _MEMBERS, "objections_decider_fkey"),
    Index("objections_open", "community_id", "id", postgresql_where=text("state = 'open'::text")),
    Index("objections_by_award", "award_id"),
)

# ---- the swap table (catalog/swap*.py, migration 0014) ------------------------------------------------------------

swap_settings = Table(
    "swap_settings",
    metadata,
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id", name="swap_settings_community_id_fkey"),
           primary_key=True),
    Column("handover_days", Integer, nullable=False, server_default=text("7")),
    Column("bonus_points", Integer),
    Column("bonus_cap_per_month", Integer),
    Column("bonus_type_id", BigInteger),
    Column("updated_at", TS, nullable=False, server_default=text("now()")),
    Column("listing_days", Integer, nullable=False, server_default=text("60")),  # migration 0016
    _pair("bonus_type_id", "points.activity_types", "swap_settings_type_fkey"),
)  # fmt: skip

swap_listings = Table(
    "swap_listings",
    metadata,
    _id(),
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id", name="swap_listings_community_id_fkey"),
           nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''::text")),
    Column("condition", Text, nullable=False),
    Column("wants", Text, nullable=False, server_default=text("''::text")),
    Column("free", Boolean, nullable=False, server_default=text("false")),
    Column("photo_id", BigInteger),
    Column("status", Text, nullable=False, server_default=text("'open'::text")),
    Column("at_table", Boolean, nullable=False, server_default=text("false")),
    Column("intake_by_member_id", BigInteger),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("updated_at", TS, nullable=False, server_default=text("now()")),
    Column("relist_of_id", BigInteger),  # migration 0017: the expired listing this one lists again
    Column("withdraw_reason", Text),  # migration 0019: why the table's staff withdrew it
    UniqueConstraint("id", "community_id", name="swap_listings_id_community_key"),
    UniqueConstraint("relist_of_id", name="swap_listings_relist_once"),
    _pair("member_id", _MEMBERS, "swap_listings_member_fkey"),
    _pair("intake_by_member_id", _MEMBERS, "swap_listings_intake_fkey"),
    _pair("photo_id", "points.photos", "swap_listings_photo_fkey"),
    _pair("relist_of_id", "points.swap_listings", "swap_listings_relist_fkey"),
    Index("swap_listings_by_status", "community_id", "status", "id"),
    Index("swap_listings_by_member", "member_id", "id"),
    Index("swap_listings_open_since", "created_at", postgresql_where=text("status = 'open'::text")),
)  # fmt: skip

swap_proposals = Table(
    "swap_proposals",
    metadata,
    _id(),
    Column("community_id", BigInteger, ForeignKey("ledger.communities.id", name="swap_proposals_community_id_fkey"),
           nullable=False),
    Column("from_member_id", BigInteger, nullable=False),
    Column("to_member_id", BigInteger, nullable=False),
    Column("points", Integer, nullable=False, server_default=text("0")),
    Column("note", Text, nullable=False, server_default=text("''::text")),
    Column("status", Text, nullable=False, server_default=text("'open'::text")),
    Column("counter_of_id", BigInteger),
    Column("hold_id", BigInteger, ForeignKey("ledger.holds.id", name="swap_proposals_hold_fkey")),
    Column("accepted_at", TS),
    Column("deadline_at", TS),
    Column("confirmed_from_at", TS),
    Column("confirmed_to_at", TS),
    Column("confirmed_by_staff_id", BigInteger),
    Column("entry_id", BigInteger),
    Column("bonus_award_id", BigInteger, ForeignKey("points.awards.id", name="swap_proposals_award_fkey")),
    Column("missed_by_from", Boolean, nullable=False, server_default=text("false")),
    Column("missed_by_to", Boolean, nullable=False, server_default=text("false")),
    Column("idempotency_key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("created_xid", Xid8, nullable=False, server_default=text("pg_current_xact_id()")),
    Column("resolved_at", TS),
    UniqueConstraint("id", "community_id", name="swap_proposals_id_community_key"),
    UniqueConstraint("community_id", "idempotency_key", name="swap_proposals_idempotency_key"),
    UniqueConstraint("counter_of_id", name="swap_proposals_counter_once"),
    _pair("from_member_id", _MEMBERS, "swap_proposals_from_fkey"),
    _pair("to_member_id", _MEMBERS, "swap_proposals_to_fkey"),
    _pair("confirmed_by_staff_id", _MEMBERS, "swap_proposals_staff_fkey"),
    _pair("counter_of_id", "points.swap_proposals", "swap_proposals_counter_fkey"),
    _pair("entry_id", "ledger.entries", "swap_proposals_entry_fkey"),
    Index("swap_proposals_from", "from_member_id", "id"),
    Index("swap_proposals_to", "to_member_id", "id"),
    Index("swap_proposals_due", "deadline_at", postgresql_where=text("status = 'accepted'::text")),
)  # fmt: skip

swap_items = Table(
    "swap_items",
    metadata,
    Column("community_id", BigInteger, nullable=False),
    Column("proposal_id", BigInteger, nullable=False),
    Column("listing_id", BigInteger, nullable=False),
    Column("side", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("false")),
    PrimaryKeyConstraint("proposal_id", "listing_id", name="swap_items_pkey"),
    _pair("proposal_id", "points.swap_proposals", "swap_items_proposal_fkey"),
    _pair("listing_id", "points.swap_listings", "swap_items_listing_fkey"),
    Index("swap_items_one_reservation", "listing_id", unique=True, postgresql_where=text("active")),
    Index("swap_items_by_listing", "listing_id"),
)

# ---- service orders (points/orders/, migration 0020) ------------------------------------------------------------

order_settings = Table(
    "order_settings",
    metadata,
    Column("community_id", BigInteger,
           ForeignKey("ledger.communities.id", name="order_settings_community_id_fkey"), primary_key=True),
    Column("accept_hours", Integer, nullable=False, server_default=text("48")),
    Column("confirm_hours", Integer, nullable=False, server_default=text("72")),
    Column("updated_at", TS, nullable=False, server_default=text("now()")),
)  # fmt: skip

service_units = Table(
    "service_units",
    metadata,
    _id(),
    _community("service_units"),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("contact", Text, nullable=False, server_default=text("''::text")),
    Column("type_ids", ARRAY(BigInteger), nullable=False, server_default=text("'{}'::bigint[]")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    UniqueConstraint("id", "community_id", name="service_units_id_community_key"),
    UniqueConstraint("community_id", "name", name="service_units_unique_name"),
)

service_unit_members = Table(
    "service_unit_members",
    metadata,
    Column("unit_id", BigInteger, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("community_id", BigInteger, nullable=False),
    Column("added_at", TS, nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("unit_id", "member_id", name="service_unit_members_pkey"),
    _pair("unit_id", "points.service_units", "service_unit_members_unit_fkey"),
    _pair("member_id", _MEMBERS, "service_unit_members_member_fkey"),
    Index("service_unit_members_by_member", "member_id"),
)

service_orders = Table(
    "service_orders",
    metadata,
    _id(),
    _community("service_orders"),
    Column("type_id", BigInteger, nullable=False),
    Column("description", Text, nullable=False),
    Column("place_id", BigInteger),
    Column("photo_id", BigInteger),
    Column("wished_at", TS),
    Column("ordered_by_member_id", BigInteger, nullable=False),
    Column("for_member_id", BigInteger, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'ordered'::text")),
    Column("created_at", TS, nullable=False, server_default=text("now()")),
    Column("dispatch_round", Integer, nullable=False, server_default=text("0")),
    Column("dispatched_by_member_id", BigInteger),
    Column("dispatched_at", TS),
    Column("due_at", TS),
    Column("unit_id", BigInteger),
    Column("points", Integer),
    Column("accepted_by_member_id", BigInteger),
    Column("accepted_at", TS),
    Column("done_by_member_id", BigInteger),
    Column("done_at", TS),
    Column("done_note", Text),
    Column("confirmed_at", TS),
    Column("actor_member_id", BigInteger),
    Column("change_note", Text),
    # migration 0021
    Column("idempotency_key", Text),
    Column("photos_public", Boolean, nullable=False, server_default=text("false")),
    Column("ordered_for_unit_id", BigInteger),
    Column("done_photo_ids", ARRAY(BigInteger), nullable=False, server_default=text("'{}'::bigint[]")),
    UniqueConstraint("id", "community_id", name="service_orders_id_community_key"),
    UniqueConstraint("community_id", "ordered_by_member_id", "idempotency_key", name="service_orders_idempotency_key"),
    _pair("type_id", "points.activity_types", "service_orders_type_fkey"),
    _pair("place_id", "points.places", "service_orders_place_fkey"),
    _pair("photo_id", "points.photos", "service_orders_photo_fkey"),
    _pair("ordered_by_member_id", _MEMBERS, "service_orders_orderer_fkey"),
    _pair("for_member_id", _MEMBERS, "service_orders_for_fkey"),
    _pair("dispatched_by_member_id", _MEMBERS, "service_orders_dispatcher_fkey"),
    _pair("unit_id", "points.service_units", "service_orders_unit_fkey"),
    _pair("accepted_by_member_id", _MEMBERS, "service_orders_accepter_fkey"),
    _pair("done_by_member_id", _MEMBERS, "service_orders_doer_fkey"),
    _pair("actor_member_id", _MEMBERS, "service_orders_actor_fkey"),
    _pair("ordered_for_unit_id", "points.service_units", "service_orders_ordering_unit_fkey"),
    Index("service_orders_by_state", "community_id", "state", "id"),
    Index("service_orders_by_for", "for_member_id"),
    Index("service_orders_waiting", "dispatched_at", postgresql_where=text("state = 'dispatched'::text")),
    Index("service_orders_done", "done_at", postgresql_where=text("state = 'done'::text")),
    Index("service_orders_shown", "community_id", "done_at", postgresql_where=text("state = 'confirmed'::text")),
)

service_order_assignees = Table(
    "service_order_assignees",
    metadata,
    Column("order_id", BigInteger, nullable=False),
    Column("round", Integer, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("community_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("order_id", "round", "member_id", name="service_order_assignees_pkey"),
    _pair("order_id", "points.service_orders", "service_order_assignees_order_fkey"),
    _pair("member_id", _MEMBERS, "service_order_assignees_member_fkey"),
    Index("service_order_assignees_by_member", "member_id"),
)

service_order_workers = Table(
    "service_order_workers",
    metadata,
    Column("order_id", BigInteger, nullable=False),
    Column("round", Integer, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("community_id", BigInteger, nullable=False),
    Column("award_id", BigInteger),
    Column("award_refusal", Text),
    PrimaryKeyConstraint("order_id", "round", "member_id", name="service_order_workers_pkey"),
    _pair("order_id", "points.service_orders", "service_order_workers_order_fkey"),
    _pair("member_id", _MEMBERS, "service_order_workers_member_fkey"),
    _pair("award_id", "points.awards", "service_order_workers_award_fkey"),
)

service_order_events = Table(
    "service_order_events",
    metadata,
    _id(),
    Column("community_id", BigInteger, nullable=False),
    Column("order_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("from_state", Text),
    Column("to_state", Text, nullable=False),
    Column("member_id", BigInteger),
    Column("unit_id", BigInteger),
    Column("round", Integer, nullable=False),
    Column("note", Text),
    Column("at", TS, nullable=False, server_default=text("now()")),
    _pair("order_id", "points.service_orders", "service_order_events_order_fkey"),
    Index("service_order_events_by_order", "order_id", "id"),
    Index("service_order_events_by_unit", "unit_id", postgresql_where=text("unit_id IS NOT NULL")),
)
