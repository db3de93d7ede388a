"""Service orders, second slice (issue 14): an Idempotency-Key on placing an order, the resident's consent to show
the before/after photos on 晒单, up to four photos of a completion, an order placed by a co-building unit, and an
owner-only back-dating of a finished order for the demo.

- ``idempotency_key``: unique per (community, orderer, key); part of the order's need, so never changed.
- ``photos_public``: the resident agrees the order's photo and the completion's may be shown on the public 晒单.
  It is the one thing that changes without a change of state: only it (the rest of the row as it was), only by
  the resident or their orderer, recorded as a ``photo_consent`` event (note: public / private). A change of state
  never changes it.
- ``done_photo_ids`` (at most four, each once, each uploaded by whoever marks it done) replaces 0020's single
  ``done_photo_id`` (carried over); cleared by a new dispatch, kept as they are by every other change.
- ``ordered_for_unit_id``: a member who acts for a unit orders on its behalf (a member unit's 点单): the orderer is
  a member of that active unit and the order is for the orderer (no 代办 with it); such an order is never
  dispatched to its own unit (its members would confirm and be paid for their own work).
- ``points.backdate_service_order(order, ordered_at, done_at)``: owner only (the app role cannot run it). It moves
  a confirmed order's timeline — every time of the order and of its history, in the same order — into the past,
  so the demo has a month of past 晒单; the order's triggers are off for those statements (the rules they check
  are about the present: "now") and on again in the same transaction, so no other session ever sees them off.

SQLSTATE class LO as 0020 (LO002 a consent change that changes more, or by someone else; LO005 a wrong photo, a
unit the orderer does not act for, a dispatch to the ordering unit).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script, revision_module

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = """
ALTER TABLE points.service_orders
    ADD COLUMN idempotency_key text,
    ADD COLUMN photos_public boolean NOT NULL DEFAULT false,
    ADD COLUMN ordered_for_unit_id bigint,
    ADD COLUMN done_photo_ids bigint[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT service_orders_idempotency_key UNIQUE (community_id, ordered_by_member_id, idempotency_key),
    ADD CONSTRAINT service_orders_key_length CHECK (char_length(idempotency_key) BETWEEN 1 AND 128),
    ADD CONSTRAINT service_orders_ordering_unit_fkey FOREIGN KEY (ordered_for_unit_id, community_id)
        REFERENCES points.service_units (id, community_id),
    ADD CONSTRAINT service_orders_done_photos CHECK (cardinality(done_photo_ids) <= 4
        AND array_position(done_photo_ids, NULL) IS NULL
        AND (state NOT IN ('ordered', 'dispatched', 'accepted') OR cardinality(done_photo_ids) = 0));

-- 0020's single photo of a completion carried over (the owner, the orders' triggers off for this statement only).
ALTER TABLE points.service_orders DISABLE TRIGGER service_orders_checked, DISABLE TRIGGER service_orders_recorded;
UPDATE points.service_orders SET done_photo_ids = ARRAY[done_photo_id] WHERE done_photo_id IS NOT NULL;
ALTER TABLE points.service_orders ENABLE TRIGGER service_orders_checked, ENABLE TRIGGER service_orders_recorded;
ALTER TABLE points.service_orders DROP COLUMN done_photo_id;
CREATE INDEX service_orders_shown ON points.service_orders (community_id, done_at) WHERE state = 'confirmed';

ALTER TABLE points.service_order_events DROP CONSTRAINT service_order_events_kind;
ALTER TABLE points.service_order_events ADD CONSTRAINT service_order_events_kind CHECK (kind IN ('ordered',
    'dispatched', 'accepted', 'declined', 'expired', 'done', 'confirmed', 'auto_confirmed', 'disputed', 'cancelled',
    'photo_consent'));
"""

CHECKS = """
CREATE OR REPLACE FUNCTION points.service_order_checks() RETURNS trigger
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
           OR cardinality(NEW.done_photo_ids) <> 0 OR NEW.points IS NOT NULL THEN
            RAISE EXCEPTION 'an order starts as ordered, nothing more' USING ERRCODE = 'LO001';
        END IF;
        IF v_actor IS DISTINCT FROM NEW.ordered_by_member_id THEN
            RAISE EXCEPTION 'an order is recorded as placed by its orderer' USING ERRCODE = 'LO003';
        END IF;
        IF NEW.for_member_id <> NEW.ordered_by_member_id AND NOT points.member_is_staff(NEW.ordered_by_member_id) THEN
            RAISE EXCEPTION 'only an organizer orders for someone else (代办)' USING ERRCODE = 'LO003';
        END IF;
        IF NEW.ordered_for_unit_id IS NOT NULL AND (
            NEW.for_member_id <> NEW.ordered_by_member_id
            OR NOT EXISTS (SELECT 1 FROM points.service_units u WHERE u.id = NEW.ordered_for_unit_id AND u.active)
            OR NOT EXISTS (SELECT 1 FROM points.service_unit_members um
                            WHERE um.unit_id = NEW.ordered_for_unit_id AND um.member_id = NEW.ordered_by_member_id))
        THEN
            RAISE EXCEPTION 'a member who acts for an active unit orders for it, and for nobody else'
                USING ERRCODE = 'LO005';
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
        OLD.ordered_by_member_id, OLD.for_member_id, OLD.created_at, OLD.idempotency_key, OLD.ordered_for_unit_id)
       IS DISTINCT FROM
       (NEW.community_id, NEW.type_id, NEW.description, NEW.place_id, NEW.photo_id, NEW.wished_at,
        NEW.ordered_by_member_id, NEW.for_member_id, NEW.created_at, NEW.idempotency_key, NEW.ordered_for_unit_id) THEN
        RAISE EXCEPTION 'an order''s need is not rewritten' USING ERRCODE = 'LO002';
    END IF;
    IF OLD.state = NEW.state THEN
        -- The one change without a change of state: the resident's consent to show the photos, nothing else.
        IF OLD.photos_public IS DISTINCT FROM NEW.photos_public AND v_resident
           AND (OLD.dispatch_round, OLD.dispatched_by_member_id, OLD.dispatched_at, OLD.due_at, OLD.unit_id,
                OLD.points, OLD.accepted_by_member_id, OLD.accepted_at, OLD.done_by_member_id, OLD.done_at,
                OLD.done_note, OLD.done_photo_ids, OLD.confirmed_at)
               IS NOT DISTINCT FROM
               (NEW.dispatch_round, NEW.dispatched_by_member_id, NEW.dispatched_at, NEW.due_at, NEW.unit_id,
                NEW.points, NEW.accepted_by_member_id, NEW.accepted_at, NEW.done_by_member_id, NEW.done_at,
                NEW.done_note, NEW.done_photo_ids, NEW.confirmed_at) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'an order changes by moving on in its states (or its resident''s photo consent alone), and'
            ' every change is recorded' USING ERRCODE = 'LO002';
    END IF;
    IF OLD.photos_public IS DISTINCT FROM NEW.photos_public THEN
        RAISE EXCEPTION 'the photo consent is the resident''s, changed on its own' USING ERRCODE = 'LO002';
    END IF;
    IF NEW.state NOT IN ('dispatched', 'done') AND OLD.done_photo_ids IS DISTINCT FROM NEW.done_photo_ids THEN
        RAISE EXCEPTION 'a completion''s photos are its own' USING ERRCODE = 'LO002';
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
           OR NEW.confirmed_at IS NOT NULL OR cardinality(NEW.done_photo_ids) <> 0 THEN
            RAISE EXCEPTION 'a dispatch is a new round, from now' USING ERRCODE = 'LO001';
        END IF;
        IF NEW.due_at <= now() THEN
            RAISE EXCEPTION 'the due time % has passed', NEW.due_at USING ERRCODE = 'LO004';
        END IF;
        IF NEW.unit_id IS NOT NULL THEN
            IF NEW.unit_id = NEW.ordered_for_unit_id THEN
                RAISE EXCEPTION 'a unit''s own order is not dispatched to it' USING ERRCODE = 'LO005';
            END IF;
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
        IF (SELECT count(DISTINCT x) FROM unnest(NEW.done_photo_ids) x) <> cardinality(NEW.done_photo_ids)
           OR EXISTS (SELECT 1 FROM unnest(NEW.done_photo_ids) x(id)
                       WHERE NOT EXISTS (SELECT 1 FROM points.photos p
                                          WHERE p.id = x.id AND p.community_id = NEW.community_id
                                            AND p.uploaded_by_member_id = v_actor)) THEN
            RAISE EXCEPTION 'a completion carries photos its taker uploaded, each once' USING ERRCODE = 'LO005';
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

CREATE OR REPLACE FUNCTION points.service_order_recorded() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_kind text;
    v_note text := NEW.change_note;
BEGIN
    IF TG_OP = 'INSERT' THEN
        v_kind := 'ordered';
    ELSIF OLD.state = NEW.state THEN  -- the checks let only the photo consent change so
        v_kind := 'photo_consent';
        v_note := CASE WHEN NEW.photos_public THEN 'public' ELSE 'private' END;
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
            NEW.dispatch_round, v_note);
    RETURN NULL;
END $$;

-- The demo's past: a confirmed order's timeline moved into the past, its history with it. Its times up to the
-- completion are stretched from [created_at, done_at] onto [p_ordered_at, p_done_at] (so ordered, dispatched,
-- accepted and done keep their order, and a short span stays short: keep it within the accept timeout); the due
-- time, the confirmation and anything after the completion move with the completion. Owner only; the same times
-- again move nothing.
CREATE FUNCTION points.backdate_service_order(p_order bigint, p_ordered_at timestamptz, p_done_at timestamptz)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_order points.service_orders;
    v_from double precision;
    v_ratio double precision;
    v_by interval;
BEGIN
    SELECT * INTO v_order FROM points.service_orders o WHERE o.id = p_order FOR UPDATE;
    IF NOT FOUND OR v_order.state <> 'confirmed' THEN
        RAISE EXCEPTION 'only a confirmed order is back-dated' USING ERRCODE = 'LO001';
    END IF;
    IF (v_order.created_at, v_order.done_at) = (p_ordered_at, p_done_at) THEN
        RETURN;
    END IF;
    v_by := p_done_at - v_order.done_at;
    IF p_ordered_at >= p_done_at OR v_order.confirmed_at + v_by > now() THEN
        RAISE EXCEPTION 'an order is back-dated into the past, ordered before it was done' USING ERRCODE = 'LO004';
    END IF;
    v_from := extract(epoch FROM v_order.created_at);
    v_ratio := extract(epoch FROM p_done_at - p_ordered_at) / extract(epoch FROM v_order.done_at - v_order.created_at);
    ALTER TABLE points.service_orders DISABLE TRIGGER service_orders_checked, DISABLE TRIGGER service_orders_recorded;
    UPDATE points.service_orders
       SET created_at = p_ordered_at,
           wished_at = CASE WHEN wished_at < done_at THEN p_ordered_at + make_interval(
                           secs => (extract(epoch FROM wished_at) - v_from) * v_ratio) ELSE wished_at + v_by END,
           dispatched_at = p_ordered_at + make_interval(secs => (extract(epoch FROM dispatched_at) - v_from) * v_ratio),
           accepted_at = p_ordered_at + make_interval(secs => (extract(epoch FROM accepted_at) - v_from) * v_ratio),
           due_at = due_at + v_by, done_at = p_done_at, confirmed_at = confirmed_at + v_by
     WHERE id = p_order;
    ALTER TABLE points.service_orders ENABLE TRIGGER service_orders_checked, ENABLE TRIGGER service_orders_recorded;
    ALTER TABLE points.service_order_events DISABLE TRIGGER service_order_events_append_only;
    UPDATE points.service_order_events
       SET at = CASE WHEN at < v_order.done_at
                     THEN p_ordered_at + make_interval(secs => (extract(epoch FROM at) - v_from) * v_ratio)
                     ELSE at + v_by END
     WHERE order_id = p_order;
    ALTER TABLE points.service_order_events ENABLE TRIGGER service_order_events_append_only;
END $$;
REVOKE ALL ON FUNCTION points.backdate_service_order(bigint, timestamptz, timestamptz) FROM PUBLIC;
"""

GRANTS = """
GRANT INSERT (idempotency_key, photos_public, ordered_for_unit_id) ON points.service_orders TO linli_app;
GRANT UPDATE (photos_public, done_photo_ids) ON points.service_orders TO linli_app;
"""


def _function_0020(name: str) -> str:
    """0020's text of one function, to put back on the way down."""
    text = str(revision_module("2026_12_01_0020_service_orders.py").FUNCTIONS)
    start = text.index(f"CREATE FUNCTION points.{name}()")
    end = text.index("END $$;", start) + len("END $$;")
    return text[start:end].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1) + "\n"


DOWNGRADE = """
DROP FUNCTION points.backdate_service_order(bigint, timestamptz, timestamptz);
ALTER TABLE points.service_orders ADD COLUMN done_photo_id bigint,
    ADD CONSTRAINT service_orders_done_photo_fkey FOREIGN KEY (done_photo_id, community_id)
        REFERENCES points.photos (id, community_id);
ALTER TABLE points.service_orders DISABLE TRIGGER service_orders_checked, DISABLE TRIGGER service_orders_recorded;
UPDATE points.service_orders SET done_photo_id = done_photo_ids[1] WHERE cardinality(done_photo_ids) > 0;
ALTER TABLE points.service_orders ENABLE TRIGGER service_orders_checked, ENABLE TRIGGER service_orders_recorded;
GRANT UPDATE (done_photo_id) ON points.service_orders TO linli_app;
DROP INDEX points.service_orders_shown;
ALTER TABLE points.service_orders DROP COLUMN idempotency_key, DROP COLUMN photos_public,
    DROP COLUMN ordered_for_unit_id, DROP COLUMN done_photo_ids;
ALTER TABLE points.service_order_events DISABLE TRIGGER service_order_events_append_only;
DELETE FROM points.service_order_events WHERE kind = 'photo_consent';
ALTER TABLE points.service_order_events ENABLE TRIGGER service_order_events_append_only;
ALTER TABLE points.service_order_events DROP CONSTRAINT service_order_events_kind;
ALTER TABLE points.service_order_events ADD CONSTRAINT service_order_events_kind CHECK (kind IN ('ordered',
    'dispatched', 'accepted', 'declined', 'expired', 'done', 'confirmed', 'auto_confirmed', 'disputed', 'cancelled'));
"""


def upgrade() -> None:
    execute_script(COLUMNS)
    execute_script(CHECKS)
    execute_script(GRANTS)


def downgrade() -> None:
    execute_script(DOWNGRADE + _function_0020("service_order_checks") + _function_0020("service_order_recorded"))
