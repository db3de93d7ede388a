"""The swap table (亲邻易物台): listings, proposals with items both ways and points either way, the hand-over.

What PostgreSQL guards here, beneath the service's own checks (SQLSTATE class LW):

- a listing's status moves only open → reserved → swapped, reserved → open, open → withdrawn / expired (LW003), and
  it is reserved exactly while an accepted proposal holds it: an item is ``active`` only while its proposal is
  accepted, and a partial unique index lets at most one active item name a listing (two accepts of proposals on
  one listing at once: one wins, the other meets the index);
- a proposal's status moves only along its own graph (LW003): open → on_hold / accepted / declined / countered /
  cancelled / superseded, on_hold → open / declined / cancelled / superseded, accepted → swapped / cancelled /
  timed_out; its items and their listings change in the same statement, by the proposals' trigger (the service
  has no write grant on items' ``active`` nor on a listing's reserved / swapped);
- a proposal's items are written in its own transaction, each names a listing of the right member that is open
  (LW005), and at commit it takes at least one listing (LW005);
- the points part and its hold agree (LW004): an accepted proposal with points names an active hold of exactly
  those points from the payer's wallet to the payee's; a swapped one's hold is posted; a cancelled or timed-out
  one's hold is no longer active; one without points has no hold;
- a hand-over is swapped only when both members or table staff confirmed it, before its deadline (LW007); a
  missed hand-over is marked only when it timed out;
- the give-away bonus is only for a free give-away (nothing asked in return), to the giver, at most the settings'
  cap per member per community month (LW006; counted under a lock per member).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = """
CREATE TABLE points.swap_settings (
    community_id bigint PRIMARY KEY REFERENCES ledger.communities (id),
    handover_days integer NOT NULL DEFAULT 7,
    bonus_points integer,
    bonus_cap_per_month integer,
    bonus_type_id bigint,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT swap_settings_type_fkey FOREIGN KEY (bonus_type_id, community_id)
        REFERENCES points.activity_types (id, community_id),
    CONSTRAINT swap_settings_days CHECK (handover_days BETWEEN 1 AND 28),
    CONSTRAINT swap_settings_bonus CHECK (
        (bonus_points IS NULL AND bonus_cap_per_month IS NULL AND bonus_type_id IS NULL)
        OR (bonus_points BETWEEN 1 AND 1000 AND bonus_cap_per_month BETWEEN 1 AND 100 AND bonus_type_id IS NOT NULL))
);

CREATE TABLE points.swap_listings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    member_id bigint NOT NULL,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    condition text NOT NULL,
    wants text NOT NULL DEFAULT '',
    free boolean NOT NULL DEFAULT false,
    photo_id bigint,
    status text NOT NULL DEFAULT 'open',
    at_table boolean NOT NULL DEFAULT false,
    intake_by_member_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT swap_listings_id_community_key UNIQUE (id, community_id),
    CONSTRAINT swap_listings_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT swap_listings_intake_fkey FOREIGN KEY (intake_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT swap_listings_photo_fkey FOREIGN KEY (photo_id, community_id) REFERENCES points.photos (id, community_id),
    CONSTRAINT swap_listings_title_length CHECK (char_length(title) BETWEEN 1 AND 100),
    CONSTRAINT swap_listings_description_length CHECK (char_length(description) <= 1000),
    CONSTRAINT swap_listings_wants_length CHECK (char_length(wants) <= 200),
    CONSTRAINT swap_listings_condition CHECK (condition IN ('new', 'like_new', 'good', 'fair', 'worn')),
    CONSTRAINT swap_listings_status CHECK (status IN ('open', 'reserved', 'swapped', 'withdrawn', 'expired')),
    CONSTRAINT swap_listings_intake CHECK (at_table = (intake_by_member_id IS NOT NULL))
);
CREATE INDEX swap_listings_by_status ON points.swap_listings (community_id, status, id);
CREATE INDEX swap_listings_by_member ON points.swap_listings (member_id, id);

CREATE TABLE points.swap_proposals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    from_member_id bigint NOT NULL,
    to_member_id bigint NOT NULL,
    points integer NOT NULL DEFAULT 0,  -- > 0: the proposer pays the other; < 0: the other pays the proposer
    note text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'open',
    counter_of_id bigint,
    hold_id bigint,
    accepted_at timestamptz,
    deadline_at timestamptz,
    confirmed_from_at timestamptz,
    confirmed_to_at timestamptz,
    confirmed_by_staff_id bigint,
    entry_id bigint,
    bonus_award_id bigint,
    missed_by_from boolean NOT NULL DEFAULT false,
    missed_by_to boolean NOT NULL DEFAULT false,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),  -- its items are written in this transaction
    resolved_at timestamptz,
    CONSTRAINT swap_proposals_id_community_key UNIQUE (id, community_id),
    CONSTRAINT swap_proposals_idempotency_key UNIQUE (community_id, idempotency_key),
    CONSTRAINT swap_proposals_counter_once UNIQUE (counter_of_id),
    CONSTRAINT swap_proposals_from_fkey FOREIGN KEY (from_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT swap_proposals_to_fkey FOREIGN KEY (to_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT swap_proposals_staff_fkey FOREIGN KEY (confirmed_by_staff_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT swap_proposals_counter_fkey FOREIGN KEY (counter_of_id, community_id)
        REFERENCES points.swap_proposals (id, community_id),
    CONSTRAINT swap_proposals_hold_fkey FOREIGN KEY (hold_id) REFERENCES ledger.holds (id),
    CONSTRAINT swap_proposals_entry_fkey FOREIGN KEY (entry_id, community_id) REFERENCES ledger.entries (id, community_id),
    CONSTRAINT swap_proposals_award_fkey FOREIGN KEY (bonus_award_id) REFERENCES points.awards (id),
    CONSTRAINT swap_proposals_two_members CHECK (from_member_id <> to_member_id),
    CONSTRAINT swap_proposals_points CHECK (points BETWEEN -100000 AND 100000),
    CONSTRAINT swap_proposals_note_length CHECK (char_length(note) <= 500),
    CONSTRAINT swap_proposals_status CHECK (status IN ('open', 'on_hold', 'accepted', 'declined', 'countered',
                                                       'cancelled', 'superseded', 'swapped', 'timed_out')),
    CONSTRAINT swap_proposals_accepted CHECK ((accepted_at IS NULL) = (deadline_at IS NULL)
                                              AND (status NOT IN ('accepted', 'swapped', 'timed_out')
                                                   OR accepted_at IS NOT NULL)
                                              AND (status NOT IN ('open', 'on_hold', 'declined', 'countered',
                                                                  'superseded') OR accepted_at IS NULL)),
    CONSTRAINT swap_proposals_missed CHECK (status = 'timed_out' OR NOT (missed_by_from OR missed_by_to))
);
CREATE INDEX swap_proposals_from ON points.swap_proposals (from_member_id, id);
CREATE INDEX swap_proposals_to ON points.swap_proposals (to_member_id, id);
CREATE INDEX swap_proposals_due ON points.swap_proposals (deadline_at) WHERE status = 'accepted';

CREATE TABLE points.swap_items (
    community_id bigint NOT NULL,
    proposal_id bigint NOT NULL,
    listing_id bigint NOT NULL,
    side text NOT NULL,  -- give: the proposer's listing; take: the other member's
    active boolean NOT NULL DEFAULT false,  -- true exactly while the proposal is accepted (the trigger sets it)
    PRIMARY KEY (proposal_id, listing_id),
    CONSTRAINT swap_items_proposal_fkey FOREIGN KEY (proposal_id, community_id)
        REFERENCES points.swap_proposals (id, community_id),
    CONSTRAINT swap_items_listing_fkey FOREIGN KEY (listing_id, community_id)
        REFERENCES points.swap_listings (id, community_id),
    CONSTRAINT swap_items_side CHECK (side IN ('give', 'take'))
);
-- A listing is reserved by at most one accepted proposal.
CREATE UNIQUE INDEX swap_items_one_reservation ON points.swap_items (listing_id) WHERE active;
CREATE INDEX swap_items_by_listing ON points.swap_items (listing_id);
"""

TENANT_TABLES = ("points.swap_settings", "points.swap_listings", "points.swap_proposals", "points.swap_items")

RLS = "".join(
    f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {table} TO linli_app
    USING (community_id = ledger.current_community())
    WITH CHECK (community_id = ledger.current_community());
"""
    for table in TENANT_TABLES
)

FUNCTIONS = """
-- A listing's status graph, and reserved exactly while an accepted proposal's item holds it.
CREATE FUNCTION points.swap_listing_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'open' THEN
            RAISE EXCEPTION 'a listing starts open' USING ERRCODE = 'LW003';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.community_id, NEW.member_id, NEW.at_table, NEW.intake_by_member_id, NEW.created_at)
       IS DISTINCT FROM (OLD.id, OLD.community_id, OLD.member_id, OLD.at_table, OLD.intake_by_member_id,
                         OLD.created_at) THEN
        RAISE EXCEPTION 'a listing keeps its member and its intake' USING ERRCODE = 'LW003';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'open' AND NEW.status IN ('reserved', 'withdrawn', 'expired'))
        OR (OLD.status = 'reserved' AND NEW.status IN ('open', 'swapped'))) THEN
        RAISE EXCEPTION 'listing % is %, it cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'LW003',
                  DETAIL = json_build_object('listing_id', OLD.id, 'status', OLD.status, 'to', NEW.status)::text;
    END IF;
    IF OLD.status IN ('swapped', 'withdrawn', 'expired') THEN
        RAISE EXCEPTION 'listing % is % and stays as it is', OLD.id, OLD.status USING ERRCODE = 'LW003',
            DETAIL = json_build_object('listing_id', OLD.id, 'status', OLD.status)::text;
    END IF;
    IF NEW.status = 'reserved' AND NOT EXISTS (SELECT 1 FROM points.swap_items WHERE listing_id = NEW.id AND active)
    THEN
        RAISE EXCEPTION 'listing % is reserved only by an accepted proposal', NEW.id USING ERRCODE = 'LW003';
    END IF;
    IF NEW.status = 'open' AND EXISTS (SELECT 1 FROM points.swap_items WHERE listing_id = NEW.id AND active) THEN
        RAISE EXCEPTION 'listing % is held by an accepted proposal', NEW.id USING ERRCODE = 'LW003';
    END IF;
    IF NEW.status = 'swapped' AND NOT EXISTS (
        SELECT 1 FROM points.swap_items i JOIN points.swap_proposals p ON p.id = i.proposal_id
         WHERE i.listing_id = NEW.id AND p.status = 'swapped') THEN
        RAISE EXCEPTION 'listing % is swapped only by a swapped proposal', NEW.id USING ERRCODE = 'LW003';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER swap_listings_change BEFORE INSERT OR UPDATE ON points.swap_listings
    FOR EACH ROW EXECUTE FUNCTION points.swap_listing_changes();
CREATE TRIGGER swap_listings_not_deleted BEFORE DELETE ON points.swap_listings
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- An item is written with its proposal, names a listing of the right member, open at the time.
CREATE FUNCTION points.swap_item_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_proposal points.swap_proposals;
    v_listing points.swap_listings;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.community_id, NEW.proposal_id, NEW.listing_id, NEW.side)
           IS DISTINCT FROM (OLD.community_id, OLD.proposal_id, OLD.listing_id, OLD.side)
           OR current_setting('linli.swap_items', true) IS DISTINCT FROM 'proposal_trigger' THEN
            RAISE EXCEPTION 'a proposal''s items change only with its status' USING ERRCODE = 'LW003';
        END IF;
        RETURN NEW;
    END IF;
    SELECT * INTO v_proposal FROM points.swap_proposals WHERE id = NEW.proposal_id;
    SELECT * INTO v_listing FROM points.swap_listings WHERE id = NEW.listing_id;
    IF v_proposal.created_xid <> pg_current_xact_id() OR v_proposal.status <> 'open' OR NEW.active THEN
        RAISE EXCEPTION 'a proposal''s items are written with the proposal' USING ERRCODE = 'LW005';
    END IF;
    IF v_listing.member_id <> (CASE NEW.side WHEN 'give' THEN v_proposal.from_member_id
                                             ELSE v_proposal.to_member_id END) THEN
        RAISE EXCEPTION 'listing % is not the member''s to %', NEW.listing_id, NEW.side USING ERRCODE = 'LW005',
            DETAIL = json_build_object('listing_id', NEW.listing_id)::text;
    END IF;
    IF v_listing.status <> 'open' THEN
        RAISE EXCEPTION 'listing % is %', NEW.listing_id, v_listing.status USING ERRCODE = 'LW001',
            DETAIL = json_build_object('listing_id', NEW.listing_id, 'title', v_listing.title,
                                       'status', v_listing.status)::text;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER swap_items_checked BEFORE INSERT OR UPDATE ON points.swap_items
    FOR EACH ROW EXECUTE FUNCTION points.swap_item_checks();
CREATE TRIGGER swap_items_not_deleted BEFORE DELETE ON points.swap_items
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- At commit: a proposal takes at least one listing of the other member.
CREATE FUNCTION points.swap_proposal_whole() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM points.swap_items WHERE proposal_id = NEW.id AND side = 'take') THEN
        RAISE EXCEPTION 'proposal % takes no listing', NEW.id USING ERRCODE = 'LW005';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER swap_proposals_whole AFTER INSERT ON points.swap_proposals DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION points.swap_proposal_whole();

-- The proposal's status graph and what must agree with it (its hold, its confirmations, its bonus).
CREATE FUNCTION points.swap_proposal_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_hold ledger.holds;
    v_payer bigint;
    v_payee bigint;
    v_settings points.swap_settings;
    v_given integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.created_xid := pg_current_xact_id();
        IF NEW.status <> 'open' OR NEW.hold_id IS NOT NULL OR NEW.accepted_at IS NOT NULL
           OR NEW.entry_id IS NOT NULL OR NEW.bonus_award_id IS NOT NULL THEN
            RAISE EXCEPTION 'a proposal starts open, with nothing held' USING ERRCODE = 'LW003';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.community_id, NEW.from_member_id, NEW.to_member_id, NEW.points, NEW.note, NEW.counter_of_id,
        NEW.idempotency_key, NEW.request_hash, NEW.created_at, NEW.created_xid)
       IS DISTINCT FROM (OLD.id, OLD.community_id, OLD.from_member_id, OLD.to_member_id, OLD.points, OLD.note,
                         OLD.counter_of_id, OLD.idempotency_key, OLD.request_hash, OLD.created_at, OLD.created_xid)
    THEN
        RAISE EXCEPTION 'a proposal is not rewritten: counter it instead' USING ERRCODE = 'LW003';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'open' AND NEW.status IN ('on_hold', 'accepted', 'declined', 'countered', 'cancelled',
                                                  'superseded'))
        OR (OLD.status = 'on_hold' AND NEW.status IN ('open', 'declined', 'cancelled', 'superseded'))
        OR (OLD.status = 'accepted' AND NEW.status IN ('swapped', 'cancelled', 'timed_out'))) THEN
        RAISE EXCEPTION 'proposal % is %, it cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'LW003',
                  DETAIL = json_build_object('proposal_id', OLD.id, 'status', OLD.status, 'to', NEW.status)::text;
    END IF;
    IF OLD.status NOT IN ('open', 'on_hold', 'accepted') AND ROW(NEW.*) IS DISTINCT FROM ROW(OLD.*) THEN
        RAISE EXCEPTION 'proposal % is % and stays as it is', OLD.id, OLD.status USING ERRCODE = 'LW003',
            DETAIL = json_build_object('proposal_id', OLD.id, 'status', OLD.status)::text;
    END IF;
    IF NEW.status NOT IN ('accepted', 'swapped', 'cancelled', 'timed_out') AND NEW.hold_id IS NOT NULL THEN
        RAISE EXCEPTION 'only an accepted proposal holds points' USING ERRCODE = 'LW004';
    END IF;
    IF NEW.hold_id IS DISTINCT FROM OLD.hold_id AND OLD.hold_id IS NOT NULL THEN
        RAISE EXCEPTION 'a proposal keeps its hold' USING ERRCODE = 'LW004';
    END IF;
    -- The hold and the points agree: the payer's wallet holds exactly the points towards the payee's.
    IF NEW.status IN ('accepted', 'swapped', 'cancelled', 'timed_out') AND NEW.accepted_at IS NOT NULL THEN
        IF NEW.points = 0 THEN
            IF NEW.hold_id IS NOT NULL THEN
                RAISE EXCEPTION 'a proposal without points holds nothing' USING ERRCODE = 'LW004';
            END IF;
        ELSE
            SELECT wallet_account_id INTO v_payer FROM points.members
             WHERE id = CASE WHEN NEW.points > 0 THEN NEW.from_member_id ELSE NEW.to_member_id END;
            SELECT wallet_account_id INTO v_payee FROM points.members
             WHERE id = CASE WHEN NEW.points > 0 THEN NEW.to_member_id ELSE NEW.from_member_id END;
            SELECT * INTO v_hold FROM ledger.holds WHERE id = NEW.hold_id;
            IF v_hold.id IS NULL OR v_hold.community_id <> NEW.community_id OR v_hold.account_id <> v_payer
               OR v_hold.counter_account_id <> v_payee OR v_hold.amount <> abs(NEW.points)
               OR v_hold.kind <> 'swap' THEN
                RAISE EXCEPTION 'proposal % and its hold disagree', NEW.id USING ERRCODE = 'LW004';
            END IF;
            IF (NEW.status = 'accepted' AND (v_hold.status <> 'active' OR v_hold.expires_at < NEW.deadline_at))
               OR (NEW.status = 'swapped' AND (v_hold.status <> 'posted' OR v_hold.posted_amount <> abs(NEW.points)
                                               OR NEW.entry_id IS DISTINCT FROM v_hold.entry_id))
               OR (NEW.status IN ('cancelled', 'timed_out') AND v_hold.status = 'active') THEN
                RAISE EXCEPTION 'proposal % is % but its hold is %', NEW.id, NEW.status, v_hold.status
                    USING ERRCODE = 'LW004';
            END IF;
        END IF;
    END IF;
    IF NEW.status = 'swapped' AND OLD.status <> 'swapped' THEN
        IF NEW.confirmed_by_staff_id IS NULL AND (NEW.confirmed_from_at IS NULL OR NEW.confirmed_to_at IS NULL) THEN
            RAISE EXCEPTION 'proposal % is handed over only when both members or table staff confirm it', NEW.id
                USING ERRCODE = 'LW007';
        END IF;
        IF now() > NEW.deadline_at THEN
            RAISE EXCEPTION 'the hand-over of proposal % was due by %', NEW.id, NEW.deadline_at
                USING ERRCODE = 'LW007';
        END IF;
    END IF;
    IF NEW.confirmed_by_staff_id IN (NEW.from_member_id, NEW.to_member_id) THEN
        RAISE EXCEPTION 'table staff confirm other members'' hand-overs' USING ERRCODE = 'LW007';
    END IF;
    IF NEW.status = 'timed_out' AND OLD.status <> 'timed_out' AND now() < NEW.deadline_at THEN
        RAISE EXCEPTION 'proposal % is not due until %', NEW.id, NEW.deadline_at USING ERRCODE = 'LW007';
    END IF;
    IF NEW.bonus_award_id IS NOT NULL AND OLD.bonus_award_id IS NULL THEN
        -- A free give-away: nothing offered, no points, only free listings taken; paid to the giver.
        IF NEW.points <> 0 OR NEW.status <> 'swapped'
           OR EXISTS (SELECT 1 FROM points.swap_items i JOIN points.swap_listings l ON l.id = i.listing_id
                       WHERE i.proposal_id = NEW.id AND (i.side = 'give' OR NOT l.free))
           OR NOT EXISTS (SELECT 1 FROM points.award_lines a WHERE a.award_id = NEW.bonus_award_id
                            AND a.member_id = NEW.to_member_id) THEN
            RAISE EXCEPTION 'a give-away bonus is only for a free give-away, to the giver' USING ERRCODE = 'LW006';
        END IF;
        SELECT * INTO v_settings FROM points.swap_settings WHERE community_id = NEW.community_id;
        PERFORM pg_advisory_xact_lock(hashtext('points.swap_bonus'), NEW.to_member_id::integer);
        SELECT count(*) INTO v_given FROM points.swap_proposals
         WHERE to_member_id = NEW.to_member_id AND bonus_award_id IS NOT NULL AND id <> NEW.id
           AND date_trunc('month', resolved_at AT TIME ZONE 'Asia/Shanghai')
             = date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai');
        IF v_settings.bonus_points IS NULL OR v_given >= v_settings.bonus_cap_per_month THEN
            RAISE EXCEPTION 'member % has had the give-away bonus % times this month', NEW.to_member_id, v_given
                USING ERRCODE = 'LW006';
        END IF;
    END IF;
    IF (NEW.missed_by_from OR NEW.missed_by_to) AND OLD.status <> 'accepted' THEN
        RAISE EXCEPTION 'a missed hand-over is counted when it times out' USING ERRCODE = 'LW003';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER swap_proposals_checked BEFORE INSERT OR UPDATE ON points.swap_proposals
    FOR EACH ROW EXECUTE FUNCTION points.swap_proposal_checks();
CREATE TRIGGER swap_proposals_not_deleted BEFORE DELETE ON points.swap_proposals
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- What a status change does to the listings and to the competing proposals, in the same statement.
CREATE FUNCTION points.swap_proposal_moved() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('linli.swap_items', 'proposal_trigger', true);
    IF NEW.status = 'accepted' THEN
        -- the unique index swap_items_one_reservation refuses a listing another accepted proposal holds
        UPDATE points.swap_items SET active = true WHERE proposal_id = NEW.id;
        UPDATE points.swap_listings SET status = 'reserved', updated_at = now()
         WHERE id IN (SELECT listing_id FROM points.swap_items WHERE proposal_id = NEW.id);
        UPDATE points.swap_proposals SET status = 'on_hold'
         WHERE status = 'open' AND id <> NEW.id
           AND id IN (SELECT i.proposal_id FROM points.swap_items i
                       WHERE i.listing_id IN (SELECT listing_id FROM points.swap_items WHERE proposal_id = NEW.id));
    ELSIF OLD.status = 'accepted' THEN
        UPDATE points.swap_items SET active = false WHERE proposal_id = NEW.id;
        UPDATE points.swap_listings SET status = CASE NEW.status WHEN 'swapped' THEN 'swapped' ELSE 'open' END,
               updated_at = now()
         WHERE id IN (SELECT listing_id FROM points.swap_items WHERE proposal_id = NEW.id);
        IF NEW.status = 'swapped' THEN
            UPDATE points.swap_proposals SET status = 'superseded', resolved_at = now()
             WHERE status IN ('open', 'on_hold') AND id <> NEW.id
               AND id IN (SELECT i.proposal_id FROM points.swap_items i
                           WHERE i.listing_id IN (SELECT listing_id FROM points.swap_items WHERE proposal_id = NEW.id));
        ELSE
            -- released: an on-hold proposal whose listings are all open again is open again
            UPDATE points.swap_proposals p SET status = 'open'
             WHERE p.status = 'on_hold'
               AND p.id IN (SELECT i.proposal_id FROM points.swap_items i
                             WHERE i.listing_id IN (SELECT listing_id FROM points.swap_items WHERE proposal_id = NEW.id))
               AND NOT EXISTS (SELECT 1 FROM points.swap_items i JOIN points.swap_listings l ON l.id = i.listing_id
                                WHERE i.proposal_id = p.id AND l.status <> 'open');
        END IF;
    END IF;
    PERFORM set_config('linli.swap_items', '', true);
    RETURN NULL;
END $$;

CREATE TRIGGER swap_proposals_moved AFTER UPDATE OF status ON points.swap_proposals
    FOR EACH ROW EXECUTE FUNCTION points.swap_proposal_moved();

-- A withdrawn or expired listing ends the open proposals that name it.
CREATE FUNCTION points.swap_listing_ended() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE points.swap_proposals SET status = 'superseded', resolved_at = now()
     WHERE status IN ('open', 'on_hold')
       AND id IN (SELECT proposal_id FROM points.swap_items WHERE listing_id = NEW.id);
    RETURN NULL;
END $$;

CREATE TRIGGER swap_listings_ended AFTER UPDATE OF status ON points.swap_listings
    FOR EACH ROW WHEN (NEW.status IN ('withdrawn', 'expired') AND OLD.status <> NEW.status)
    EXECUTE FUNCTION points.swap_listing_ended();

-- The communities with accepted proposals past their hand-over deadline: the timeout job must see every
-- community, which row-level security hides from the service's role; it answers ids only.
CREATE FUNCTION points.communities_with_lapsed_swaps() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT p.community_id FROM points.swap_proposals p WHERE p.status = 'accepted' AND p.deadline_at <= now()
$$;
"""

GRANTS = """
GRANT SELECT ON points.swap_settings, points.swap_listings, points.swap_proposals, points.swap_items TO linli_app;
GRANT INSERT, UPDATE ON points.swap_settings TO linli_app;
GRANT INSERT (community_id, member_id, title, description, condition, wants, free, photo_id, at_table,
              intake_by_member_id) ON points.swap_listings TO linli_app;
GRANT UPDATE (status, updated_at) ON points.swap_listings TO linli_app;
GRANT INSERT (community_id, from_member_id, to_member_id, points, note, counter_of_id, idempotency_key,
              request_hash) ON points.swap_proposals TO linli_app;
GRANT UPDATE (status, hold_id, accepted_at, deadline_at, confirmed_from_at, confirmed_to_at, confirmed_by_staff_id,
              entry_id, bonus_award_id, missed_by_from, missed_by_to, resolved_at) ON points.swap_proposals TO linli_app;
GRANT INSERT (community_id, proposal_id, listing_id, side) ON points.swap_items TO linli_app;
REVOKE ALL ON FUNCTION points.communities_with_lapsed_swaps() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION points.communities_with_lapsed_swaps() TO linli_app;
"""

DOWNGRADE = """
DROP TABLE points.swap_items, points.swap_proposals, points.swap_listings, points.swap_settings;
DROP FUNCTION points.communities_with_lapsed_swaps();
DROP FUNCTION points.swap_listing_ended();
DROP FUNCTION points.swap_proposal_moved();
DROP FUNCTION points.swap_proposal_checks();
DROP FUNCTION points.swap_proposal_whole();
DROP FUNCTION points.swap_item_checks();
DROP FUNCTION points.swap_listing_changes();
"""


def upgrade() -> None:
    execute_script(TABLES)
    execute_script(RLS)
    execute_script(FUNCTIONS)
    execute_script(GRANTS)


def downgrade() -> None:
    execute_script(DOWNGRADE)
