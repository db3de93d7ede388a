"""People, members, roles, sessions, tokens, audit; row-level security on tenant tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = """
CREATE SCHEMA points;

-- Members name their wallet by (id, community) so a wallet can only ever be in the member's own community.
ALTER TABLE ledger.accounts ADD CONSTRAINT accounts_id_community_key UNIQUE (id, community_id);

-- Above the community: city 市 -> street 街道. A street admin reads every community under the street.
CREATE TABLE points.regions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id bigint REFERENCES points.regions (id),
    level text NOT NULL,
    name text NOT NULL,
    CONSTRAINT regions_level CHECK (level IN ('city', 'street')),
    CONSTRAINT regions_city_is_top CHECK (level = 'street' OR parent_id IS NULL),
    CONSTRAINT regions_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);

CREATE TABLE points.community_profiles (
    community_id bigint PRIMARY KEY REFERENCES ledger.communities (id),
    street_id bigint REFERENCES points.regions (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Below the community: compound 小区 -> grid 网格 -> building 楼栋, every level optional.
CREATE TABLE points.places (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    parent_id bigint,
    level text NOT NULL,
    name text NOT NULL,
    CONSTRAINT places_id_community_key UNIQUE (id, community_id),
    CONSTRAINT places_parent_fkey FOREIGN KEY (parent_id, community_id) REFERENCES points.places (id, community_id),
    CONSTRAINT places_level CHECK (level IN ('compound', 'grid', 'building')),
    CONSTRAINT places_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT places_unique_name UNIQUE (community_id, parent_id, name)
);

-- Someone who can sign in. Phone numbers are personal data: masked in public views, never logged.
CREATE TABLE points.people (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone text NOT NULL,
    password_hash text,
    is_operator boolean NOT NULL DEFAULT false,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT people_phone_key UNIQUE (phone),
    CONSTRAINT people_phone_format CHECK (phone ~ '^\\+?[0-9]{6,20}$'),
    CONSTRAINT people_failed_logins CHECK (failed_logins >= 0)
);

CREATE TABLE points.region_admins (
    person_id bigint NOT NULL REFERENCES points.people (id),
    region_id bigint NOT NULL REFERENCES points.regions (id),
    PRIMARY KEY (person_id, region_id)
);

-- A household (户): its members may not redeem for each other as clerks or award each other as organizers.
CREATE TABLE points.households (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    label text NOT NULL,
    place_id bigint,
    CONSTRAINT households_id_community_key UNIQUE (id, community_id),
    CONSTRAINT households_label_key UNIQUE (community_id, label),
    CONSTRAINT households_place_fkey FOREIGN KEY (place_id, community_id) REFERENCES points.places (id, community_id),
    CONSTRAINT households_label_length CHECK (char_length(label) BETWEEN 1 AND 100)
);

-- A member of one community. person_id is NULL for someone who never signs in (served by proxy 代办).
CREATE TABLE points.members (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    person_id bigint REFERENCES points.people (id),
    display_name text NOT NULL,
    household_id bigint,
    place_id bigint,
    status text NOT NULL DEFAULT 'active',
    wallet_account_id bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT members_id_community_key UNIQUE (id, community_id),
    CONSTRAINT members_person_once UNIQUE (community_id, person_id),
    CONSTRAINT members_wallet_key UNIQUE (wallet_account_id),
    CONSTRAINT members_household_fkey FOREIGN KEY (household_id, community_id)
        REFERENCES points.households (id, community_id),
    CONSTRAINT members_place_fkey FOREIGN KEY (place_id, community_id) REFERENCES points.places (id, community_id),
    CONSTRAINT members_wallet_fkey FOREIGN KEY (wallet_account_id, community_id)
        REFERENCES ledger.accounts (id, community_id),
    CONSTRAINT members_status CHECK (status IN ('active', 'suspended', 'left')),
    CONSTRAINT members_name_length CHECK (char_length(display_name) BETWEEN 1 AND 100)
);

CREATE TABLE points.role_grants (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL,
    member_id bigint NOT NULL,
    role text NOT NULL,
    place_id bigint,
    granted_by bigint,
    granted_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CONSTRAINT role_grants_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT role_grants_place_fkey FOREIGN KEY (place_id, community_id) REFERENCES points.places (id, community_id),
    CONSTRAINT role_grants_role CHECK (role IN ('volunteer', 'organizer', 'clerk', 'admin')),
    CONSTRAINT role_grants_scope CHECK (place_id IS NULL OR role = 'organizer')
);
CREATE UNIQUE INDEX role_grants_active ON points.role_grants (member_id, role, coalesce(place_id, 0))
    WHERE revoked_at IS NULL;

-- Litestar's server-side session store. The key is a SHA-256 of the cookie, so a copy of this
-- table does not hand out live sessions.
CREATE TABLE points.sessions (
    key_hash bytea PRIMARY KEY,
    value bytea NOT NULL,
    expires_at timestamptz
);
CREATE INDEX sessions_expiry ON points.sessions (expires_at);

CREATE TABLE points.api_tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id bigint NOT NULL REFERENCES points.people (id),
    community_id bigint REFERENCES ledger.communities (id),
    kind text NOT NULL,
    name text NOT NULL,
    secret_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    last_used_at timestamptz,
    CONSTRAINT api_tokens_secret_key UNIQUE (secret_hash),
    CONSTRAINT api_tokens_kind CHECK (kind IN ('personal', 'device')),
    CONSTRAINT api_tokens_device_in_community CHECK (kind = 'personal' OR community_id IS NOT NULL),
    CONSTRAINT api_tokens_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT api_tokens_lifetime CHECK (expires_at > created_at AND expires_at <= created_at + interval '366 days')
);

-- Privileged actions. Insert-only for the application; no one edits history.
CREATE TABLE points.audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint REFERENCES ledger.communities (id),
    actor_person_id bigint REFERENCES points.people (id),
    on_behalf_of_member_id bigint,
    action text NOT NULL,
    subject text NOT NULL DEFAULT '',
    detail jsonb NOT NULL DEFAULT '{}',
    remote_addr text,
    at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_action_format CHECK (action ~ '^[a-z_.]{3,64}$')
);
CREATE INDEX audit_log_by_community ON points.audit_log (community_id, id);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON points.audit_log
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON points.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change();
"""

# Row-level security: the application role sees and writes only the rows of the
# community set for its session (`SELECT ledger.set_community(id)`). Unset, it
# sees no tenant rows at all, so a query that forgets its community filter
# returns nothing rather than another community's data. The owner (migrations,
# `points verify`) and the SECURITY DEFINER functions are not affected.
TENANT_TABLES = (
    "ledger.units",
    "ledger.accounts",
    "ledger.account_stripes",
    "ledger.entries",
    "ledger.postings",
    "ledger.holds",
    "points.community_profiles",
    "points.places",
    "points.households",
    "points.members",
    "points.role_grants",
)

RLS = (
    """
CREATE FUNCTION ledger.current_community() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT nullif(current_setting('linli.community_id', true), '')::bigint
$$;

-- Opening a community is a platform action: it runs as the owner, and leaves the session in the new community.
CREATE FUNCTION ledger.create_community(p_slug text, p_name text, p_unit text, p_unit_name text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO ledger.communities (slug, name) VALUES (p_slug, p_name) RETURNING id INTO v_id;
    INSERT INTO ledger.units (community_id, code, name) VALUES (v_id, p_unit, p_unit_name);
    INSERT INTO points.community_profiles (community_id) VALUES (v_id);
    RETURN v_id;
END $$;
"""
    + "".join(
        f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {table} TO linli_app
    USING (community_id = ledger.current_community())
    WITH CHECK (community_id = ledger.current_community());
"""
        for table in TENANT_TABLES
    )
    + """
ALTER TABLE points.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON points.audit_log TO linli_app
    USING (community_id IS NOT DISTINCT FROM ledger.current_community())
    WITH CHECK (community_id IS NOT DISTINCT FROM ledger.current_community());
"""
)

FUNCTIONS = """
-- Joining a community opens the member's wallet: one account per member, code volunteer:<member id>,
-- lower bound 0. The member row cannot exist without it (NOT NULL foreign key).
CREATE FUNCTION points.add_member(
    p_community_id bigint, p_display_name text, p_person_id bigint, p_household_id bigint, p_place_id bigint)
RETURNS points.members
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_member_id bigint := nextval(pg_get_serial_sequence('points.members', 'id'));
    v_wallet_id bigint;
    v_member points.members;
BEGIN
    IF p_community_id IS DISTINCT FROM ledger.current_community() THEN
        RAISE EXCEPTION 'members are added in the community the session is in' USING ERRCODE = 'LE011';
    END IF;
    INSERT INTO ledger.accounts (community_id, unit, code, name, normal_side, lower_bound)
    VALUES (p_community_id, 'points', 'volunteer:' || v_member_id, p_display_name, 'credit', 0)
    RETURNING id INTO v_wallet_id;
    INSERT INTO points.members (id, community_id, person_id, display_name, household_id, place_id, wallet_account_id)
    OVERRIDING SYSTEM VALUE
    VALUES (v_member_id, p_community_id, p_person_id, p_display_name, p_household_id, p_place_id, v_wallet_id)
    RETURNING * INTO v_member;
    RETURN v_member;
END $$;

-- Every community a person belongs to, with their roles there (members are tenant-isolated,
-- so this crosses communities as the owner, for this one person only).
CREATE FUNCTION points.memberships(p_person_id bigint)
RETURNS TABLE (community_id bigint, slug text, community_name text, member_id bigint, display_name text,
               status text, roles text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT m.community_id, c.slug, c.name, m.id, m.display_name, m.status,
           coalesce((SELECT array_agg(DISTINCT g.role ORDER BY g.role) FROM points.role_grants g
                      WHERE g.member_id = m.id AND g.revoked_at IS NULL), '{}')
      FROM points.members m JOIN ledger.communities c ON c.id = m.community_id
     WHERE m.person_id = p_person_id
     ORDER BY c.slug
$$;

-- Enter a community for this session (sets the tenant for row-level security) and say who the
-- person is there: one round trip per request for both.
CREATE FUNCTION points.enter_community(p_person_id bigint, p_community_id bigint)
RETURNS TABLE (member_id bigint, status text, household_id bigint, wallet_account_id bigint, roles text[],
               street_admin boolean, is_operator boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('linli.community_id', p_community_id::text, false);
    RETURN QUERY
    SELECT m.id, m.status, m.household_id, m.wallet_account_id,
           coalesce((SELECT array_agg(DISTINCT g.role ORDER BY g.role) FROM points.role_grants g
                      WHERE g.member_id = m.id AND g.revoked_at IS NULL), '{}'),
           EXISTS (SELECT 1 FROM points.community_profiles cp
                     JOIN points.regions street ON street.id = cp.street_id
                     JOIN points.region_admins ra ON ra.region_id IN (street.id, street.parent_id)
                    WHERE cp.community_id = p_community_id AND ra.person_id = p_person_id),
           coalesce((SELECT p.is_operator FROM points.people p WHERE p.id = p_person_id), false)
      FROM (SELECT 1) one
      LEFT JOIN points.members m ON m.community_id = p_community_id AND m.person_id = p_person_id;
END $$;
"""

GRANTS = """
REVOKE INSERT ON ledger.communities FROM linli_app;
GRANT USAGE ON SCHEMA points TO linli_app;
GRANT SELECT ON ALL TABLES IN SCHEMA points TO linli_app;
GRANT INSERT ON points.regions, points.region_admins, points.places, points.households, points.role_grants,
    points.audit_log, points.api_tokens TO linli_app;
GRANT UPDATE (street_id) ON points.community_profiles TO linli_app;
GRANT UPDATE (name, parent_id) ON points.places TO linli_app;
GRANT UPDATE (label, place_id) ON points.households TO linli_app;
GRANT UPDATE (display_name, household_id, place_id, status) ON points.members TO linli_app;
GRANT UPDATE (revoked_at) ON points.role_grants TO linli_app;
GRANT INSERT (phone, password_hash) ON points.people TO linli_app;
GRANT UPDATE (password_hash, failed_logins, locked_until) ON points.people TO linli_app;
GRANT UPDATE (revoked_at, last_used_at) ON points.api_tokens TO linli_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON points.sessions TO linli_app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA points FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ledger.create_community(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.create_community(text, text, text, text),
    ledger.current_community(),
    points.add_member(bigint, text, bigint, bigint, bigint),
    points.memberships(bigint),
    points.enter_community(bigint, bigint)
TO linli_app;
"""


def upgrade() -> None:
    execute_script(SCHEMA)
    execute_script(RLS)
    execute_script(FUNCTIONS)
    execute_script(GRANTS)


def downgrade() -> None:
    ledger_tables = [t for t in TENANT_TABLES if t.startswith("ledger.")]
    execute_script(
        "DROP FUNCTION ledger.create_community(text, text, text, text);"
        + "".join(
            f"DROP POLICY tenant_isolation ON {t}; ALTER TABLE {t} DISABLE ROW LEVEL SECURITY;" for t in ledger_tables
        )
        + "DROP SCHEMA points CASCADE;"
        + "DROP FUNCTION ledger.current_community();"
        + "ALTER TABLE ledger.accounts DROP CONSTRAINT accounts_id_community_key;"
        + "GRANT INSERT (slug, name) ON ledger.communities TO linli_app;"
    )
