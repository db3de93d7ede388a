"""Service orders (点单-派单-接单-晒单, issue 14): co-building units, orders and their append-only history.

- ``points.service_units``: a community's co-building units (共建单位: a property company, a school ...), what they
  offer (activity types; none listed: anything), and ``points.service_unit_members``, the members who act for one.
- ``points.service_orders``: a resident's need (or an organizer's for someone without a phone: 代办). States:
  ordered → dispatched → accepted → done → confirmed; dispatched → ordered again when declined or not accepted in
  time (back to the dispatcher); done → disputed → dispatched again; ordered / dispatched / accepted / disputed →
  cancelled. Each dispatch is a round (``dispatch_round``): to a unit, or to named volunteers
  (``points.service_order_assignees`` of that round). ``points.service_order_workers``: who did it (named when it
  is marked done), each with the award their points came by, or why none came.
- ``points.service_order_events``: every state change with who (NULL: the scheduled jobs) and when, written by
  the orders' own trigger from ``actor_member_id`` and ``change_note`` — so no change goes unrecorded — and never
  changed afterwards.

What PostgreSQL refuses (SQLSTATE class LO):
- LO001 a change outside the state graph;
- LO002 an order rewritten (its need, its orderer, a same-state update) or its history touched;
- LO003 a change by someone not entitled to it: dispatch by a non-organizer, acceptance or decline by someone not
  of the unit nor dispatched, done by someone else than the taker's side, confirm / dispute by someone else than
  the resident or who ordered for them, 代办 by a non-organizer;
- LO004 a change before its time: an order returned as not accepted before the community's accept timeout, a
  completion counted as confirmed before the auto-confirm time, a due time that has passed;
- LO005 a wrong reference: an inactive unit or one not offering the category, a worker or assignee not eligible,
  a photo of someone else's, a category no longer used, points outside 1..100000.

Row-level security as the other tenant tables (0015/0016); the service's role has only the grants it needs.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = """
CREATE TABLE points.order_settings (
    community_id bigint PRIMARY KEY REFERENCES ledger.communities (id),
    accept_hours integer NOT NULL DEFAULT 48,
    confirm_hours integer NOT NULL DEFAULT 72,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_settings_accept_hours CHECK (accept_hours BETWEEN 1 AND 720),
    CONSTRAINT order_settings_confirm_hours CHECK (confirm_hours BETWEEN 1 AND 720)
);

CREATE TABLE points.service_units (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    name text NOT NULL,
    kind text NOT NULL,
    contact text NOT NULL DEFAULT '',
    type_ids bigint[] NOT NULL DEFAULT '{}',  -- the categories offered (activity types); empty: any
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT service_units_id_community_key UNIQUE (id, community_id),
    CONSTRAINT service_units_unique_name UNIQUE (community_id, name),
    CONSTRAINT service_units_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT service_units_kind CHECK (kind IN ('property', 'school', 'hospital', 'company', 'organisation',
                                                  'other')),
    CONSTRAINT service_units_contact_length CHECK (char_length(contact) <= 200),
    CONSTRAINT service_units_types CHECK (cardinality(type_ids) <= 50 AND array_position(type_ids, NULL) IS NULL)
);

CREATE TABLE points.service_unit_members (
    unit_id bigint NOT NULL,
    member_id bigint NOT NULL,
    community_id bigint NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit_id, member_id),
    CONSTRAINT service_unit_members_unit_fkey FOREIGN KEY (unit_id, community_id)
        REFERENCES points.service_units (id, community_id),
    CONSTRAINT service_unit_members_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id)
);
CREATE INDEX service_unit_members_by_member ON points.service_unit_members (member_id);

CREATE TABLE points.service_orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    type_id bigint NOT NULL,
    description text NOT NULL,
    place_id bigint,
    photo_id bigint,
    wished_at timestamptz,
    ordered_by_member_id bigint NOT NULL,
    for_member_id bigint NOT NULL,  -- the resident; another than the orderer: 代办
    state text NOT NULL DEFAULT 'ordered',
    created_at timestamptz NOT NULL DEFAULT now(),
    dispatch_round integer NOT NULL DEFAULT 0,
    dispatched_by_member_id bigint,
    dispatched_at timestamptz,
    due_at timestamptz,
    unit_id bigint,  -- dispatched to a unit; NULL with assignees: to volunteers
    points integer,  -- per worker, paid on confirmation
    accepted_by_member_id bigint,
    accepted_at timestamptz,
    done_by_member_id bigint,
    done_at timestamptz,
    done_note text,
    done_photo_id bigint,
    confirmed_at timestamptz,
    actor_member_id bigint,  -- who made the latest change (NULL: the scheduled jobs)
    change_note text,  -- its reason or note
    CONSTRAINT service_orders_id_community_key UNIQUE (id, community_id),
    CONSTRAINT service_orders_type_fkey FOREIGN KEY (type_id, community_id)
        REFERENCES points.activity_types (id, community_id),
    CONSTRAINT service_orders_place_fkey FOREIGN KEY (place_id, community_id)
        REFERENCES points.places (id, community_id),
    CONSTRAINT service_orders_photo_fkey FOREIGN KEY (photo_id, community_id)
        REFERENCES points.photos (id, community_id),
    CONSTRAINT service_orders_done_photo_fkey FOREIGN KEY (done_photo_id, community_id)
        REFERENCES points.photos (id, community_id),
    CONSTRAINT service_orders_orderer_fkey FOREIGN KEY (ordered_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT service_orders_for_fkey FOREIGN KEY (for_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT service_orders_dispatcher_fkey FOREIGN KEY (dispatched_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT service_orders_unit_fkey FOREIGN KEY (unit_id, community_id)
        REFERENCES points.service_units (id, community_id),
    CONSTRAINT service_orders_accepter_fkey FOREIGN KEY (accepted_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT service_orders_doer_fkey FOREIGN KEY (done_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT service_orders_actor_fkey FOREIGN KEY (actor_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT service_orders_state CHECK (state IN ('ordered', 'dispatched', 'accepted', 'done', 'confirmed',
                                                     'disputed', 'cancelled')),
    CONSTRAINT service_orders_description_length CHECK (char_length(description) BETWEEN 1 AND 2000),
    CONSTRAINT service_orders_change_note_length CHECK (char_length(change_note) <= 500),
    CONSTRAINT service_orders_done_note_length CHECK (char_length(done_note) BETWEEN 1 AND 1000),
    CONSTRAINT service_orders_points CHECK (points BETWEEN 1 AND 100000),
    -- What each state carries (the trigger checks who and when).
    CONSTRAINT service_orders_shape CHECK (
        (state NOT IN ('ordered', 'dispatched') OR (accepted_at IS NULL AND done_at IS NULL))
        AND (state <> 'ordered' OR (unit_id IS NULL AND due_at IS NULL))
        AND (state NOT IN ('dispatched', 'accepted', 'done', 'confirmed', 'disputed')
             OR (dispatched_by_member_id IS NOT NULL AND dispatched_at IS NOT NULL AND due_at IS NOT NULL
                 AND points IS NOT NULL AND dispatch_round >= 1))
        AND (state NOT IN ('accepted', 'done', 'confirmed', 'disputed')
             OR (accepted_by_member_id IS NOT NULL AND accepted_at IS NOT NULL))
        AND (state NOT IN ('done', 'confirmed', 'disputed')
             OR (done_by_member_id IS NOT NULL AND done_at IS NOT NULL AND done_note IS NOT NULL))
        AND ((state = 'confirmed') = (confirmed_at IS NOT NULL)))
);
CREATE INDEX service_orders_by_state ON points.service_orders (community_id, state, id);
CREATE INDEX service_orders_by_for ON points.service_orders (for_member_id);
CREATE INDEX service_orders_waiting ON points.service_orders (dispatched_at) WHERE state = 'dispatched';
CREATE INDEX service_orders_done ON points.service_orders (done_at) WHERE state = 'done';

CREATE TABLE points.service_order_assignees (
    order_id bigint NOT NULL,
    round integer NOT NULL,
    member_id bigint NOT NULL,
    community_id bigint NOT NULL,
    PRIMARY KEY (order_id, round, member_id),
    CONSTRAINT service_order_assignees_order_fkey FOREIGN KEY (order_id, community_id)
        REFERENCES points.service_orders (id, community_id),
    CONSTRAINT service_order_assignees_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id)
);
CREATE INDEX service_order_assignees_by_member ON points.service_order_assignees (member_id);

CREATE TABLE points.service_order_workers (
    order_id bigint NOT NULL,
    round integer NOT NULL,
    member_id bigint NOT NULL,
    community_id bigint NOT NULL,
    award_id bigint,  -- the award their points came by (set once, on confirmation)
    award_refusal text,  -- or why none came (no budget, their own household ...), for the dispatcher
    PRIMARY KEY (order_id, round, member_id),
    CONSTRAINT service_order_workers_order_fkey FOREIGN KEY (order_id, community_id)
        REFERENCES points.service_orders (id, community_id),
    CONSTRAINT service_order_workers_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT service_order_workers_award_fkey FOREIGN KEY (award_id, community_id)
        REFERENCES points.awards (id, community_id),
    CONSTRAINT service_order_workers_refusal CHECK (award_refusal IS NULL
                                                    OR (char_length(award_refusal) BETWEEN 1 AND 100
                                                        AND award_id IS NULL))
);

CREATE TABLE points.service_order_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL,
    order_id bigint NOT NULL,
    kind text NOT NULL,
    from_state text,
    to_state text NOT NULL,
    member_id bigint,  -- who (NULL: the scheduled jobs)
    unit_id bigint,  -- the unit it concerned, if any
    round integer NOT NULL,
    note text,
    at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT service_order_events_order_fkey FOREIGN KEY (order_id, community_id)
        REFERENCES points.service_orders (id, community_id),
    CONSTRAINT service_order_events_kind CHECK (kind IN ('ordered', 'dispatched', 'accepted', 'declined', 'expired',
        'done', 'confirmed', 'auto_confirmed', 'disputed', 'cancelled'))
);
CREATE INDEX service_order_events_by_order ON points.service_order_events (order_id, id);
CREATE INDEX service_order_events_by_unit ON points.service_order_events (unit_id) WHERE unit_id IS NOT NULL;
"""

TENANT_TABLES = (
    "points.order_settings",
    "points.service_units",
    "points.service_unit_members",
    "points.service_orders",
    "points.service_order_assignees",
    "points.service_order_workers",
    "points.service_order_events",
)

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
-- The community's timeouts in hours (the defaults without a row).
CREATE FUNCTION points.order_hours(p_community bigint, OUT accept_hours integer, OUT confirm_hours integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT s.accept_hours FROM points.order_settings s WHERE s.community_id = p_community), 48),
           coalesce((SELECT s.confirm_hours FROM points.order_settings s WHERE s.community_id = p_community), 72)
$$;

CREATE FUNCTION points.member_is_staff(p_member bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM points.role_grants g JOIN points.members m ON m.id = g.member_id
                    WHERE g.member_id = p_member AND g.revoked_at IS NULL AND g.role IN ('organizer', 'admin')
                      AND m.status = 'active')
$$;

-- Does the member act for the order's taker: of its unit, or dispatched to it by name in its current round?
CREATE FUNCTION points.member_takes_order(p_order points.service_orders, p_member bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_order.unit_id IS NOT NULL THEN EXISTS (
                    SELECT 1 FROM points.service_unit_members um
                     WHERE um.unit_id = p_order.unit_id AND um.member_id = p_member)
                ELSE EXISTS (
                    SELECT 1 FROM points.service_order_assignees a
                     WHERE a.order_id = p_order.id AND a.round = p_order.dispatch_round AND a.member_id = p_member)
           END
$$;

CREATE FUNCTION points.service_unit_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(NEW.type_ids) t(id)
                WHERE NOT EXISTS (SELECT 1 FROM points.activity_types a
                                   WHERE a.id = t.id AND a.community_id = NEW.community_id)) THEN
        RAISE EXCEPTION 'a unit offers activity types of its own community' USING ERRCODE = 'LO005';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER service_units_checked BEFORE INSERT OR UPDATE ON points.service_units
    FOR EACH ROW EXECUTE FUNCTION points.service_unit_checks();

CREATE FUNCTION points.service_order_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_hours record;
    v_actor bigint := NEW.actor_member_id;
    v_resident boolean := coalesce(NEW.actor_member_id IN (NEW.for_member_id, NEW.ordered_by_member_id), false);
    v_unit points.service_units;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'ordered' OR NEW.dispatch_round <> 0 OR NEW.dispatched_by_member_id IS NOT NULL
           OR NEW.accepted_by_member_id IS NOT NULL OR NEW.done_by_member_id IS NOT NULL
           OR NEW.done_photo_id IS NOT NULL OR NEW.points IS NOT NULL THEN
            RAISE EXCEPTION 'an order starts as ordered, nothing more' USING ERRCODE = 'LO001';
        END IF;
        IF v_actor IS DISTINCT FROM NEW.ordered_by_member_id THEN
            RAISE EXCEPTION 'an order is recorded as placed by its orderer' USING ERRCODE = 'LO003';
        END IF;
        IF NEW.for_member_id <> NEW.ordered_by_member_id AND NOT points.member_is_staff(NEW.ordered_by_member_id) THEN
            RAISE EXCEPTION 'only an organizer orders for someone else (代办)' USING ERRCODE = 'LO003';
        END IF;
        IF NEW.photo_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM points.photos p WHERE p.id = NEW.photo_id AND p.uploaded_by_member_id = NEW.ordered_by_member_id)
        THEN
            RAISE EXCEPTION 'an order carries a photo its orderer uploaded' USING ERRCODE = 'LO005';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM points.activity_types t WHERE t.id = NEW.type_id AND t.active) THEN
            RAISE EXCEPTION 'the category is no longer used' USING ERRCODE = 'LO005';
        END IF;
        RETURN NEW;
    END IF;

    IF (OLD.community_id, OLD.type_id, OLD.description, OLD.place_id, OLD.photo_id, OLD.wished_at,
        OLD.ordered_by_member_id, OLD.for_member_id, OLD.created_at)
       IS DISTINCT FROM
       (NEW.community_id, NEW.type_id, NEW.description, NEW.place_id, NEW.photo_id, NEW.wished_at,
        NEW.ordered_by_member_id, NEW.for_member_id, NEW.created_at) THEN
        RAISE EXCEPTION 'an order''s need is not rewritten' USING ERRCODE = 'LO002';
    END IF;
    IF OLD.state = NEW.state THEN
        RAISE EXCEPTION 'an order changes by moving on in its states, and every change is recorded'
            USING ERRCODE = 'LO002';
    END IF;
    IF NOT ((OLD.state = 'ordered' AND NEW.state IN ('dispatched', 'cancelled'))
         OR (OLD.state = 'dispatched' AND NEW.state IN ('accepted', 'ordered', 'cancelled'))
         OR (OLD.state = 'accepted' AND NEW.state IN ('done', 'cancelled'))
         OR (OLD.state = 'done' AND NEW.state IN ('confirmed', 'disputed'))
         OR (OLD.state = 'disputed' AND NEW.state IN ('dispatched', 'cancelled'))) THEN
        RAISE EXCEPTION 'an order that is % cannot become %', OLD.state, NEW.state USING ERRCODE = 'LO001';
    END IF;
    v_hours := points.order_hours(NEW.community_id);

    IF NEW.state = 'dispatched' THEN
        IF v_actor IS NULL OR NOT points.member_is_staff(v_actor) OR NEW.dispatched_by_member_id <> v_actor THEN
            RAISE EXCEPTION 'an organizer or admin dispatches an order' USING ERRCODE = 'LO003';
        END IF;
        IF NEW.dispatch_round <> OLD.dispatch_round + 1 OR NEW.dispatched_at <> now()
           OR NEW.accepted_by_member_id IS NOT NULL OR NEW.done_by_member_id IS NOT NULL OR NEW.done_at IS NOT NULL
           OR NEW.confirmed_at IS NOT NULL THEN
            RAISE EXCEPTION 'a dispatch is a new round, from now' USING ERRCODE = 'LO001';
        END IF;
        IF NEW.due_at <= now() THEN
            RAISE EXCEPTION 'the due time % has passed', NEW.due_at USING ERRCODE = 'LO004';
        END IF;
        IF NEW.unit_id IS NOT NULL THEN
            SELECT * INTO v_unit FROM points.service_units u WHERE u.id = NEW.unit_id;
            IF NOT v_unit.active OR (cardinality(v_unit.type_ids) > 0 AND NOT NEW.type_id = ANY (v_unit.type_ids)) THEN
                RAISE EXCEPTION 'unit % does not take orders of this category', NEW.unit_id USING ERRCODE = 'LO005';
            END IF;
        END IF;
    ELSIF NEW.state = 'accepted' THEN
        IF v_actor IS NULL OR NEW.accepted_by_member_id <> v_actor OR NOT points.member_takes_order(OLD, v_actor) THEN
            RAISE EXCEPTION 'an order is accepted by its unit or the volunteers dispatched' USING ERRCODE = 'LO003';
        END IF;
        IF NEW.accepted_at <> now() THEN
            RAISE EXCEPTION 'an order is accepted now' USING ERRCODE = 'LO001';
        END IF;
        IF (NEW.unit_id, NEW.due_at, NEW.dispatch_round, NEW.points) IS DISTINCT FROM
           (OLD.unit_id, OLD.due_at, OLD.dispatch_round, OLD.points) THEN
            RAISE EXCEPTION 'an acceptance takes the dispatch as it is' USING ERRCODE = 'LO002';
        END IF;
    ELSIF NEW.state = 'ordered' THEN  -- back to the dispatcher: declined, or not accepted in time
        IF v_actor IS NULL THEN
            IF OLD.dispatched_at + make_interval(hours => v_hours.accept_hours) > now() THEN
                RAISE EXCEPTION 'order % has until % to be accepted', OLD.id,
                    OLD.dispatched_at + make_interval(hours => v_hours.accept_hours) USING ERRCODE = 'LO004';
            END IF;
        ELSIF NOT points.member_takes_order(OLD, v_actor) OR coalesce(btrim(NEW.change_note), '') = '' THEN
            RAISE EXCEPTION 'an order is declined by its unit or the volunteers dispatched, with a reason'
                USING ERRCODE = 'LO003';
        END IF;
        IF NEW.dispatch_round <> OLD.dispatch_round THEN
            RAISE EXCEPTION 'a returned order keeps its round' USING ERRCODE = 'LO002';
        END IF;
    ELSIF NEW.state = 'done' THEN
        IF v_actor IS NULL OR NEW.done_by_member_id <> v_actor
           OR NOT (v_actor = OLD.accepted_by_member_id OR points.member_takes_order(OLD, v_actor)) THEN
            RAISE EXCEPTION 'an order is marked done by whoever took it' USING ERRCODE = 'LO003';
        END IF;
        IF NEW.done_at <> now() OR (NEW.accepted_by_member_id, NEW.unit_id, NEW.dispatch_round, NEW.points)
                                   IS DISTINCT FROM
                                   (OLD.accepted_by_member_id, OLD.unit_id, OLD.dispatch_round, OLD.points) THEN
            RAISE EXCEPTION 'an order is marked done now, as it was taken' USING ERRCODE = 'LO002';
        END IF;
        IF NEW.done_photo_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM points.photos p WHERE p.id = NEW.done_photo_id AND p.uploaded_by_member_id = v_actor) THEN
            RAISE EXCEPTION 'a completion carries a photo its taker uploaded' USING ERRCODE = 'LO005';
        END IF;
    ELSIF NEW.state = 'confirmed' THEN
        IF v_actor IS NULL THEN
            IF OLD.done_at + make_interval(hours => v_hours.confirm_hours) > now() THEN
                RAISE EXCEPTION 'order % counts as confirmed only from %', OLD.id,
                    OLD.done_at + make_interval(hours => v_hours.confirm_hours) USING ERRCODE = 'LO004';
            END IF;
        ELSIF NOT v_resident THEN
            RAISE EXCEPTION 'the resident confirms an order (or who ordered it for them)' USING ERRCODE = 'LO003';
        END IF;
        IF NEW.confirmed_at <> now() OR (NEW.done_at, NEW.done_by_member_id, NEW.done_note, NEW.dispatch_round)
                                        IS DISTINCT FROM
                                        (OLD.done_at, OLD.done_by_member_id, OLD.done_note, OLD.dispatch_round) THEN
            RAISE EXCEPTION 'a confirmation takes the completion as it is' USING ERRCODE = 'LO002';
        END IF;
    ELSIF NEW.state = 'disputed' THEN
        IF v_actor IS NULL OR NOT v_resident OR coalesce(btrim(NEW.change_note), '') = '' THEN
            RAISE EXCEPTION 'the resident disputes a completion, with a reason' USING ERRCODE = 'LO003';
        END IF;
    ELSIF NEW.state = 'cancelled' THEN
        IF v_actor IS NULL OR coalesce(btrim(NEW.change_note), '') = ''
           OR NOT (points.member_is_staff(v_actor) OR (v_resident AND OLD.state IN ('ordered', 'dispatched'))) THEN
            RAISE EXCEPTION 'an order is cancelled, with a reason, by its resident before it is taken or by an organizer'
                USING ERRCODE = 'LO003';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER service_orders_checked BEFORE INSERT OR UPDATE ON points.service_orders
    FOR EACH ROW EXECUTE FUNCTION points.service_order_checks();

-- Every change recorded, by the row's own trigger: the service cannot forget one, nor write one of its own.
CREATE FUNCTION points.service_order_recorded() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        v_kind := 'ordered';
    ELSIF NEW.state = 'ordered' THEN
        v_kind := CASE WHEN NEW.actor_member_id IS NULL THEN 'expired' ELSE 'declined' END;
    ELSIF NEW.state = 'confirmed' THEN
        v_kind := CASE WHEN NEW.actor_member_id IS NULL THEN 'auto_confirmed' ELSE 'confirmed' END;
    ELSE
        v_kind := NEW.state;
    END IF;
    INSERT INTO points.service_order_events (community_id, order_id, kind, from_state, to_state, member_id, unit_id,
                                             round, note)
    VALUES (NEW.community_id, NEW.id, v_kind, CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END, NEW.state,
            NEW.actor_member_id, coalesce(NEW.unit_id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.unit_id END),
            NEW.dispatch_round, NEW.change_note);
    RETURN NULL;
END $$;

CREATE TRIGGER service_orders_recorded AFTER INSERT OR UPDATE ON points.service_orders
    FOR EACH ROW EXECUTE FUNCTION points.service_order_recorded();

CREATE TRIGGER service_order_events_append_only BEFORE UPDATE OR DELETE ON points.service_order_events
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- Assignees: named in the transaction of their dispatch (an order to volunteers, not to a unit), active members.
CREATE FUNCTION points.service_order_assignee_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_order points.service_orders;
BEGIN
    SELECT * INTO v_order FROM points.service_orders o WHERE o.id = NEW.order_id;
    IF v_order.state <> 'dispatched' OR v_order.unit_id IS NOT NULL OR v_order.dispatch_round <> NEW.round
       OR v_order.dispatched_at <> now() THEN
        RAISE EXCEPTION 'volunteers are named when the order is dispatched to them' USING ERRCODE = 'LO005';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM points.members m WHERE m.id = NEW.member_id AND m.status = 'active') THEN
        RAISE EXCEPTION 'member % is not active', NEW.member_id USING ERRCODE = 'LO005';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER service_order_assignees_checked BEFORE INSERT ON points.service_order_assignees
    FOR EACH ROW EXECUTE FUNCTION points.service_order_assignee_checks();
CREATE TRIGGER service_order_assignees_append_only BEFORE UPDATE OR DELETE ON points.service_order_assignees
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- Workers: named in the transaction that marks the order done, active members; for an order dispatched to
-- volunteers, only those dispatched. Their award (or why none) is written once, after the confirmation.
CREATE FUNCTION points.service_order_worker_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_order points.service_orders;
BEGIN
    SELECT * INTO v_order FROM points.service_orders o WHERE o.id = NEW.order_id;
    IF TG_OP = 'UPDATE' THEN
        IF (OLD.order_id, OLD.round, OLD.member_id, OLD.community_id) IS DISTINCT FROM
           (NEW.order_id, NEW.round, NEW.member_id, NEW.community_id)
           OR OLD.award_id IS NOT NULL OR OLD.award_refusal IS NOT NULL OR v_order.state <> 'confirmed' THEN
            RAISE EXCEPTION 'a worker''s award is recorded once, when the order is confirmed' USING ERRCODE = 'LO002';
        END IF;
        IF NEW.award_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM points.award_lines l WHERE l.award_id = NEW.award_id AND l.member_id = NEW.member_id) THEN
            RAISE EXCEPTION 'a worker''s award pays that worker' USING ERRCODE = 'LO005';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.award_id IS NOT NULL OR NEW.award_refusal IS NOT NULL OR v_order.state <> 'done'
       OR v_order.done_at <> now() OR v_order.dispatch_round <> NEW.round THEN
        RAISE EXCEPTION 'who did it is named when the order is marked done' USING ERRCODE = 'LO005';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM points.members m WHERE m.id = NEW.member_id AND m.status = 'active')
       OR (v_order.unit_id IS NULL AND NOT points.member_takes_order(v_order, NEW.member_id)) THEN
        RAISE EXCEPTION 'member % did not take order %', NEW.member_id, NEW.order_id USING ERRCODE = 'LO005';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER service_order_workers_checked BEFORE INSERT OR UPDATE ON points.service_order_workers
    FOR EACH ROW EXECUTE FUNCTION points.service_order_worker_checks();
CREATE TRIGGER service_order_workers_kept BEFORE DELETE ON points.service_order_workers
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- The communities with orders due for the jobs: not accepted in time, or done and not confirmed in time.
CREATE FUNCTION points.communities_with_due_orders() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT o.community_id FROM points.service_orders o, points.order_hours(o.community_id) h
     WHERE (o.state = 'dispatched' AND o.dispatched_at + make_interval(hours => h.accept_hours) <= now())
        OR (o.state = 'done' AND o.done_at + make_interval(hours => h.confirm_hours) <= now())
     ORDER BY 1
$$;
"""

GRANTS = """
GRANT SELECT ON points.order_settings, points.service_units, points.service_unit_members, points.service_orders,
    points.service_order_assignees, points.service_order_workers, points.service_order_events TO linli_app;
GRANT INSERT (community_id, accept_hours, confirm_hours) ON points.order_settings TO linli_app;
GRANT UPDATE (accept_hours, confirm_hours, updated_at) ON points.order_settings TO linli_app;
GRANT INSERT (community_id, name, kind, contact, type_ids) ON points.service_units TO linli_app;
GRANT UPDATE (name, kind, contact, type_ids, active) ON points.service_units TO linli_app;
GRANT INSERT (unit_id, member_id, community_id), DELETE ON points.service_unit_members TO linli_app;
GRANT INSERT (community_id, type_id, description, place_id, photo_id, wished_at, ordered_by_member_id,
              for_member_id, actor_member_id) ON points.service_orders TO linli_app;
GRANT UPDATE (state, dispatch_round, dispatched_by_member_id, dispatched_at, due_at, unit_id, points,
              accepted_by_member_id, accepted_at, done_by_member_id, done_at, done_note, done_photo_id, confirmed_at,
              actor_member_id, change_note) ON points.service_orders TO linli_app;
GRANT INSERT ON points.service_order_assignees TO linli_app;
GRANT INSERT (order_id, round, member_id, community_id) ON points.service_order_workers TO linli_app;
GRANT UPDATE (award_id, award_refusal) ON points.service_order_workers TO linli_app;
REVOKE ALL ON FUNCTION points.order_hours(bigint), points.member_is_staff(bigint),
    points.member_takes_order(points.service_orders, bigint), points.communities_with_due_orders() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION points.order_hours(bigint), points.communities_with_due_orders() TO linli_app;
"""

DOWNGRADE = """
DROP FUNCTION points.member_takes_order(points.service_orders, bigint);
DROP TABLE points.service_order_events, points.service_order_workers, points.service_order_assignees,
    points.service_orders, points.service_unit_members, points.service_units, points.order_settings;
DROP FUNCTION points.communities_with_due_orders();
DROP FUNCTION points.service_order_worker_checks();
DROP FUNCTION points.service_order_assignee_checks();
DROP FUNCTION points.service_order_recorded();
DROP FUNCTION points.service_order_checks();
DROP FUNCTION points.service_unit_checks();
DROP FUNCTION points.member_is_staff(bigint);
DROP FUNCTION points.order_hours(bigint);
"""


def upgrade() -> None:
    execute_script(TABLES)
    execute_script(RLS)
    execute_script(FUNCTIONS)
    execute_script(GRANTS)


def downgrade() -> None:
    execute_script(DOWNGRADE)
