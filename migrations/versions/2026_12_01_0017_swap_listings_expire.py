"""Swap table listings expire, and an expired listing is listed again as a new one (issue 13's gaps).

What PostgreSQL guards here, beneath catalog/swap_listings.py (SQLSTATE class LW, as migration 0014):

- the community's listing lifetime is 1 to 365 days (``swap_settings.listing_days``, 60 by default: a CHECK);
- a listing becomes ``expired`` only once it has been on the table for its community's lifetime
  (``created_at`` + ``listing_days`` ≤ now) (LW003). 0014's graph already lets only an ``open`` listing expire
  (never a reserved one) and its ``swap_listings_ended`` trigger ends the listing's open and on-hold proposals
  (superseded) in the same statement, exactly as a withdrawal does;
- a listing listed again names the expired listing it copies (``relist_of_id``): that one is expired and the same
  member's, and it is listed again at most once (a UNIQUE constraint), so a double tap relists once (LW003).

``points.communities_with_stale_listings()`` (security definer, ids only) tells the scheduled job which
communities have listings due; row-level security hides other communities from the service's role.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = """
ALTER TABLE points.swap_settings
    ADD COLUMN listing_days integer NOT NULL DEFAULT 60,
    ADD CONSTRAINT swap_settings_listing_days CHECK (listing_days BETWEEN 1 AND 365);

ALTER TABLE points.swap_listings
    ADD COLUMN relist_of_id bigint,
    ADD CONSTRAINT swap_listings_relist_once UNIQUE (relist_of_id),
    ADD CONSTRAINT swap_listings_relist_fkey FOREIGN KEY (relist_of_id, community_id)
        REFERENCES points.swap_listings (id, community_id);

-- The job's scan: open listings by age (the shortest lifetime is a day).
CREATE INDEX swap_listings_open_since ON points.swap_listings (created_at) WHERE status = 'open';
"""

FUNCTIONS = """
CREATE FUNCTION points.swap_listing_days(p_community bigint) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT listing_days FROM points.swap_settings WHERE community_id = p_community), 60)
$$;

CREATE FUNCTION points.swap_listing_lifetime_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old points.swap_listings;
    v_days integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.relist_of_id IS NOT NULL THEN
            SELECT * INTO v_old FROM points.swap_listings WHERE id = NEW.relist_of_id;
            IF v_old.status IS DISTINCT FROM 'expired' OR v_old.member_id <> NEW.member_id THEN
                RAISE EXCEPTION 'listing % is %: only an expired listing of the same member is listed again',
                    NEW.relist_of_id, coalesce(v_old.status, 'missing') USING ERRCODE = 'LW003',
                    DETAIL = json_build_object('listing_id', NEW.relist_of_id, 'status', v_old.status)::text;
            END IF;
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.relist_of_id IS DISTINCT FROM OLD.relist_of_id THEN
        RAISE EXCEPTION 'a listing keeps what it was listed again from' USING ERRCODE = 'LW003';
    END IF;
    IF NEW.status = 'expired' AND OLD.status IS DISTINCT FROM 'expired' THEN
        v_days := points.swap_listing_days(NEW.community_id);
        IF OLD.created_at + make_interval(days => v_days) > now() THEN
            RAISE EXCEPTION 'listing % is on the table until % (% days)', OLD.id,
                OLD.created_at + make_interval(days => v_days), v_days USING ERRCODE = 'LW003',
                DETAIL = json_build_object('listing_id', OLD.id, 'status', OLD.status)::text;
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER swap_listings_lifetime BEFORE INSERT OR UPDATE ON points.swap_listings
    FOR EACH ROW EXECUTE FUNCTION points.swap_listing_lifetime_checks();

-- The communities with open listings past their lifetime (ids only): the expiry job must see every community.
CREATE FUNCTION points.communities_with_stale_listings() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT l.community_id FROM points.swap_listings l
     WHERE l.status = 'open' AND l.created_at <= now() - interval '1 day'
       AND l.created_at <= now() - make_interval(days => points.swap_listing_days(l.community_id))
$$;
"""

GRANTS = """
GRANT INSERT (relist_of_id) ON points.swap_listings TO linli_app;
REVOKE ALL ON FUNCTION points.communities_with_stale_listings() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION points.communities_with_stale_listings() TO linli_app;
"""

DOWNGRADE = """
DROP TRIGGER swap_listings_lifetime ON points.swap_listings;
DROP FUNCTION points.communities_with_stale_listings();
DROP FUNCTION points.swap_listing_lifetime_checks();
DROP FUNCTION points.swap_listing_days(bigint);
DROP INDEX points.swap_listings_open_since;
ALTER TABLE points.swap_listings DROP COLUMN relist_of_id;
ALTER TABLE points.swap_settings DROP COLUMN listing_days;
"""


def upgrade() -> None:
    execute_script(TABLES)
    execute_script(FUNCTIONS)
    execute_script(GRANTS)


def downgrade() -> None:
    execute_script(DOWNGRADE)
