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

# 0020's two functions, changed where 0021 changes what they check or record (each piece below replaces one piece
# of 0020's text, which must be there: _changed asserts it), so 0020's text stays the one place of the rest.
_CHANGES: tuple[tuple[str, str], ...] = (
    (  # an order starts with no completion photos
        "OR NEW.done_photo_id IS NOT NULL OR NEW.points IS NOT NULL THEN",
        "OR cardinality(NEW.done_photo_ids) <> 0 OR NEW.points IS NOT NULL THEN",
    ),
    (  # a unit's own order: placed by a member of that active unit, for the orderer
        """RAISE EXCEPTION 'only an organizer orders for someone else (代办)' USING ERRCODE = 'LO003';
        END IF;
""",
        """RAISE EXCEPTION 'only an organizer orders for someone else (代办)' USING ERRCODE = 'LO003';
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
""",
    ),
    (  # the key and the ordering unit are part of the need
        "OLD.ordered_by_member_id, OLD.for_member_id, OLD.created_at)",
        "OLD.ordered_by_member_id, OLD.for_member_id, OLD.created_at, OLD.idempotency_key, OLD.ordered_for_unit_id)",
    ),
    (
        "NEW.ordered_by_member_id, NEW.for_member_id, NEW.created_at) THEN",
        "NEW.ordered_by_member_id, NEW.for_member_id, NEW.created_at, NEW.idempotency_key, NEW.ordered_for_unit_id) THEN",
    ),
    (  # the one change without a change of state: the resident's photo consent, alone; and photos stay put
        """    IF OLD.state = NEW.state THEN
        RAISE EXCEPTION 'an order changes by moving on in its states, and every change is recorded'
            USING ERRCODE = 'LO002';
    END IF;
""",
        """    IF OLD.state = NEW.state THEN
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
""",
    ),
    (  # a new round starts with no completion photos
        """           OR NEW.confirmed_at IS NOT NULL THEN
            RAISE EXCEPTION 'a dispatch is a new round, from now' USING ERRCODE = 'LO001';""",
        """           OR NEW.confirmed_at IS NOT NULL OR cardinality(NEW.done_photo_ids) <> 0 THEN
            RAISE EXCEPTION 'a dispatch is a new round, from now' USING ERRCODE = 'LO001';""",
    ),
    (  # never to the unit that placed it
        """        IF NEW.unit_id IS NOT NULL THEN
            SELECT * INTO v_unit""",
        """        IF NEW.unit_id IS NOT NULL THEN
            IF NEW.unit_id = NEW.ordered_for_unit_id THEN
                RAISE EXCEPTION 'a unit''s own order is not dispatched to it' USING ERRCODE = 'LO005';
            END IF;
            SELECT * INTO v_unit""",
    ),
    (  # up to four photos (the CHECK), each once, each the taker's
        """        IF NEW.done_photo_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM points.photos p WHERE p.id = NEW.done_photo_id AND p.uploaded_by_member_id = v_actor) THEN
            RAISE EXCEPTION 'a completion carries a photo its taker uploaded' USING ERRCODE = 'LO005';
        END IF;""",
        """        IF (SELECT count(DISTINCT x) FROM unnest(NEW.done_photo_ids) x) <> cardinality(NEW.done_photo_ids)
           OR EXISTS (SELECT 1 FROM unnest(NEW.done_photo_ids) x(id)
                       WHERE NOT EXISTS (SELECT 1 FROM points.photos p
                                          WHERE p.id = x.id AND p.community_id = NEW.community_id
                                            AND p.uploaded_by_member_id = v_actor)) THEN
            RAISE EXCEPTION 'a completion carries photos its taker uploaded, each once' USING ERRCODE = 'LO005';
        END IF;""",
    ),
    (  # the history: a consent change is recorded as photo_consent, its note public or private
        """    v_kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        v_kind := 'ordered';
""",
        """    v_kind text;
    v_note text := NEW.change_note;
BEGIN
    IF TG_OP = 'INSERT' THEN
        v_kind := 'ordered';
    ELSIF OLD.state = NEW.state THEN  -- the checks let only the photo consent change so
        v_kind := 'photo_consent';
        v_note := CASE WHEN NEW.photos_public THEN 'public' ELSE 'private' END;
""",
    ),
    ("            NEW.dispatch_round, NEW.change_note);", "            NEW.dispatch_round, v_note);"),
)


def _functions_0020() -> str:
    """0020's service_order_checks and service_order_recorded, as CREATE OR REPLACE."""
    text = str(revision_module("2026_12_01_0020_service_orders.py").FUNCTIONS)
    found = []
    for name in ("service_order_checks", "service_order_recorded"):
        start = text.index(f"CREATE FUNCTION points.{name}()")
        end = text.index("END $$;", start) + len("END $$;")
        found.append(text[start:end].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    return "\n\n".join(found) + "\n"


def _changed() -> str:
    text = _functions_0020()
    for before, after in _CHANGES:
        assert text.count(before) == 1, before
        text = text.replace(before, after)
    return text


BACKDATE = """
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
    execute_script(_changed())
    execute_script(BACKDATE)
    execute_script(GRANTS)


def downgrade() -> None:
    execute_script(DOWNGRADE + _functions_0020())
