"""The points supermarket (积分超市): goods, stock movements, payment codes, member cards, receipts and returns.

What PostgreSQL guards here, beneath the service's own checks (SQLSTATE class LS):

- stock moves only by recorded movements (append-only), and a good's ``stock`` is written only by the movements'
  trigger, under the good's row lock, in the statement that records the movement: stock always equals the sum of
  its movements and never goes below zero (LS001; and a CHECK);
- a payment code is used once (LS002) and never after it expired or was replaced (LS003); a receipt names its code
  (unique), and the code's member is the receipt's member (or the proxy's, for 代办);
- a good's limit per member and per household per period: every receipt line charges ``points.redemption_usage``
  (written only by the trigger, under the usage row's lock) and a charge above the limit fails (LS004); a return
  gives it back;
- a clerk never redeems, nor takes a return, for themselves or their household (LS005), nor may an inactive good be
  sold (LS007);
- a locked member card redeems nothing (LS008): five wrong PINs lock it for 15 minutes (the trigger counts);
- a return never gives back more than was bought (LS006), line by line;
- a receipt is whole at commit (deferred, LS009): its total is the sum of its lines, every line's quantity left the
  stock as a sale movement, and its ledger entry moved exactly the total from the member's wallet; its lines and
  sales (and a return's lines and movements) can only be written in the transaction that created it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = """
CREATE TABLE points.goods (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    name text NOT NULL,
    category text NOT NULL DEFAULT '',
    price integer NOT NULL,
    unit text NOT NULL DEFAULT '件',
    barcode text,
    photo_id bigint,
    active boolean NOT NULL DEFAULT true,
    stock integer NOT NULL DEFAULT 0,  -- written only by the stock movements' trigger
    low_stock_at integer NOT NULL DEFAULT 5,
    limit_per_member integer,
    limit_per_household integer,
    limit_period text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT goods_id_community_key UNIQUE (id, community_id),
    CONSTRAINT goods_barcode_key UNIQUE (community_id, barcode),
    CONSTRAINT goods_photo_fkey FOREIGN KEY (photo_id, community_id) REFERENCES points.photos (id, community_id),
    CONSTRAINT goods_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT goods_category_length CHECK (char_length(category) <= 50),
    CONSTRAINT goods_unit_length CHECK (char_length(unit) BETWEEN 1 AND 20),
    CONSTRAINT goods_price CHECK (price BETWEEN 1 AND 1000000),
    CONSTRAINT goods_barcode CHECK (barcode ~ '^[0-9A-Za-z-]{4,32}$'),
    CONSTRAINT goods_stock CHECK (stock >= 0),
    CONSTRAINT goods_low_stock_at CHECK (low_stock_at BETWEEN 0 AND 1000000),
    CONSTRAINT goods_limits CHECK (
        (limit_per_member IS NULL OR limit_per_member BETWEEN 1 AND 1000)
        AND (limit_per_household IS NULL OR limit_per_household BETWEEN 1 AND 1000)
        AND (limit_period IS NULL OR limit_period IN ('day', 'week', 'month'))
        AND ((limit_per_member IS NULL AND limit_per_household IS NULL) = (limit_period IS NULL)))
);

CREATE TABLE points.payment_codes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    member_id bigint NOT NULL,
    code_hash bytea NOT NULL,  -- SHA-256 of the digits; the digits themselves are never stored
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    replaced_at timestamptz,
    CONSTRAINT payment_codes_id_community_key UNIQUE (id, community_id),
    CONSTRAINT payment_codes_hash_key UNIQUE (code_hash),
    CONSTRAINT payment_codes_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT payment_codes_hash CHECK (octet_length(code_hash) = 32),
    CONSTRAINT payment_codes_lifetime CHECK (expires_at > issued_at AND expires_at <= issued_at + interval '10 minutes'),
    CONSTRAINT payment_codes_used_or_replaced CHECK (used_at IS NULL OR replaced_at IS NULL)
);
CREATE INDEX payment_codes_by_member ON points.payment_codes (member_id, id);

-- A printed card for a member without a phone: its number (or QR) plus a PIN the member types at the counter.
CREATE TABLE points.member_cards (
    member_id bigint PRIMARY KEY,
    community_id bigint NOT NULL,
    card_number text NOT NULL,
    pin_hash text NOT NULL,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    issued_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT member_cards_number_key UNIQUE (community_id, card_number),
    CONSTRAINT member_cards_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT member_cards_number CHECK (card_number ~ '^[0-9]{8,20}$'),
    CONSTRAINT member_cards_attempts CHECK (failed_attempts BETWEEN 0 AND 5)
);

CREATE TABLE points.receipts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    number integer NOT NULL,
    member_id bigint NOT NULL,
    household_id bigint,  -- the member's household when they redeemed
    clerk_member_id bigint NOT NULL,
    counter text NOT NULL DEFAULT '',
    method text NOT NULL,
    payment_code_id bigint,
    proxy_member_id bigint,
    entry_id bigint NOT NULL,
    total_points integer NOT NULL,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),  -- its lines and sales are written in this transaction
    CONSTRAINT receipts_id_community_key UNIQUE (id, community_id),
    CONSTRAINT receipts_number_key UNIQUE (community_id, number),
    CONSTRAINT receipts_idempotency_key UNIQUE (community_id, idempotency_key),
    CONSTRAINT receipts_payment_code_key UNIQUE (payment_code_id),
    CONSTRAINT receipts_member_fkey FOREIGN KEY (member_id, community_id) REFERENCES points.members (id, community_id),
    CONSTRAINT receipts_clerk_fkey FOREIGN KEY (clerk_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT receipts_proxy_fkey FOREIGN KEY (proxy_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT receipts_code_fkey FOREIGN KEY (payment_code_id, community_id)
        REFERENCES points.payment_codes (id, community_id),
    CONSTRAINT receipts_entry_fkey FOREIGN KEY (entry_id, community_id) REFERENCES ledger.entries (id, community_id),
    -- code: the member's own payment code; card: the member's card and PIN; proxy: 代办 by a household member
    -- showing their own payment code
    CONSTRAINT receipts_method CHECK (method IN ('code', 'card', 'proxy')
                                      AND (method = 'card') = (payment_code_id IS NULL)
                                      AND (method = 'proxy') = (proxy_member_id IS NOT NULL)),
    CONSTRAINT receipts_not_own CHECK (clerk_member_id <> member_id
                                       AND clerk_member_id IS DISTINCT FROM proxy_member_id),
    CONSTRAINT receipts_number CHECK (number >= 1),
    CONSTRAINT receipts_counter_length CHECK (char_length(counter) <= 50),
    CONSTRAINT receipts_total CHECK (total_points >= 1)
);
CREATE INDEX receipts_by_member ON points.receipts (member_id, id);
CREATE INDEX receipts_by_day ON points.receipts (community_id, created_at);

CREATE TABLE points.receipt_lines (
    community_id bigint NOT NULL,
    receipt_id bigint NOT NULL,
    line_no integer NOT NULL,
    good_id bigint NOT NULL,
    name text NOT NULL,  -- as sold
    quantity integer NOT NULL,
    unit_price integer NOT NULL,  -- as charged: a later price change leaves the receipt as it was
    amount integer NOT NULL,
    returned integer NOT NULL DEFAULT 0,  -- written only by the return lines' trigger
    PRIMARY KEY (receipt_id, line_no),
    CONSTRAINT receipt_lines_receipt_fkey FOREIGN KEY (receipt_id, community_id)
        REFERENCES points.receipts (id, community_id),
    CONSTRAINT receipt_lines_good_fkey FOREIGN KEY (good_id, community_id) REFERENCES points.goods (id, community_id),
    CONSTRAINT receipt_lines_line_no CHECK (line_no BETWEEN 1 AND 100),
    CONSTRAINT receipt_lines_quantity CHECK (quantity BETWEEN 1 AND 1000),
    CONSTRAINT receipt_lines_amount CHECK (unit_price >= 1 AND amount = quantity * unit_price),
    CONSTRAINT receipt_lines_returned CHECK (returned BETWEEN 0 AND quantity)
);
CREATE INDEX receipt_lines_by_good ON points.receipt_lines (good_id);

CREATE TABLE points.returns (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    receipt_id bigint NOT NULL,
    reason text NOT NULL,
    clerk_member_id bigint NOT NULL,
    counter text NOT NULL DEFAULT '',
    entry_id bigint NOT NULL,
    total_points integer NOT NULL,
    idempotency_key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),  -- its lines and movements are written in this one
    CONSTRAINT returns_id_community_key UNIQUE (id, community_id),
    CONSTRAINT returns_idempotency_key UNIQUE (community_id, idempotency_key),
    CONSTRAINT returns_receipt_fkey FOREIGN KEY (receipt_id, community_id) REFERENCES points.receipts (id, community_id),
    CONSTRAINT returns_clerk_fkey FOREIGN KEY (clerk_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT returns_entry_fkey FOREIGN KEY (entry_id, community_id) REFERENCES ledger.entries (id, community_id),
    CONSTRAINT returns_reason_length CHECK (char_length(reason) BETWEEN 1 AND 500),
    CONSTRAINT returns_counter_length CHECK (char_length(counter) <= 50),
    CONSTRAINT returns_total CHECK (total_points >= 1)
);
CREATE INDEX returns_by_receipt ON points.returns (receipt_id);

CREATE TABLE points.return_lines (
    community_id bigint NOT NULL,
    return_id bigint NOT NULL,
    receipt_id bigint NOT NULL,
    line_no integer NOT NULL,
    quantity integer NOT NULL,
    PRIMARY KEY (return_id, line_no),
    CONSTRAINT return_lines_return_fkey FOREIGN KEY (return_id, community_id)
        REFERENCES points.returns (id, community_id),
    CONSTRAINT return_lines_line_fkey FOREIGN KEY (receipt_id, line_no) REFERENCES points.receipt_lines (receipt_id, line_no),
    CONSTRAINT return_lines_quantity CHECK (quantity BETWEEN 1 AND 1000)
);

CREATE TABLE points.stock_movements (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL,
    good_id bigint NOT NULL,
    kind text NOT NULL,
    quantity integer NOT NULL,
    stock_after integer NOT NULL,  -- set by the trigger
    reason text NOT NULL DEFAULT '',
    member_id bigint NOT NULL,  -- who moved it
    receipt_id bigint,
    return_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_movements_good_fkey FOREIGN KEY (good_id, community_id) REFERENCES points.goods (id, community_id),
    CONSTRAINT stock_movements_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT stock_movements_receipt_fkey FOREIGN KEY (receipt_id, community_id)
        REFERENCES points.receipts (id, community_id),
    CONSTRAINT stock_movements_return_fkey FOREIGN KEY (return_id, community_id)
        REFERENCES points.returns (id, community_id),
    CONSTRAINT stock_movements_kind CHECK (
        kind IN ('restock', 'write_off', 'correction', 'sale', 'return')
        AND (kind = 'sale') = (receipt_id IS NOT NULL)
        AND (kind = 'return') = (return_id IS NOT NULL)),
    CONSTRAINT stock_movements_sign CHECK (
        quantity <> 0 AND quantity BETWEEN -1000000 AND 1000000
        AND (kind NOT IN ('restock', 'return') OR quantity > 0)
        AND (kind NOT IN ('write_off', 'sale') OR quantity < 0)),
    CONSTRAINT stock_movements_reason CHECK (char_length(reason) <= 500
                                             AND (kind IN ('sale', 'return') OR char_length(reason) >= 1)),
    CONSTRAINT stock_movements_stock_after CHECK (stock_after >= 0)
);
CREATE INDEX stock_movements_by_good ON points.stock_movements (good_id, id);
CREATE INDEX stock_movements_by_receipt ON points.stock_movements (receipt_id);

-- How many of a limited good each member and each household redeemed per period; written only by the triggers.
CREATE TABLE points.redemption_usage (
    community_id bigint NOT NULL,
    good_id bigint NOT NULL,
    subject text NOT NULL,  -- member:<id> or household:<id>
    period text NOT NULL,  -- 2026-12-01 (a day), 2026-W49 (a week), 2026-12 (a month)
    quantity integer NOT NULL,
    PRIMARY KEY (good_id, subject, period),
    CONSTRAINT redemption_usage_quantity CHECK (quantity >= 0)
);
"""

TENANT_TABLES = (
    "points.goods",
    "points.payment_codes",
    "points.member_cards",
    "points.receipts",
    "points.receipt_lines",
    "points.returns",
    "points.return_lines",
    "points.stock_movements",
    "points.redemption_usage",
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
-- A good starts with no stock: only movements bring it in.
CREATE FUNCTION points.goods_start_empty() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.stock := 0;
    RETURN NEW;
END $$;

CREATE TRIGGER goods_start_empty BEFORE INSERT ON points.goods
    FOR EACH ROW EXECUTE FUNCTION points.goods_start_empty();
CREATE TRIGGER goods_not_deleted BEFORE DELETE ON points.goods
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- Stock moves by movements only: the good's stock changes in the statement that records the movement, under the
-- good's row lock, and never below zero. SECURITY DEFINER: the service cannot write goods.stock itself.
CREATE FUNCTION points.stock_moved() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_stock integer;
    v_name text;
BEGIN
    IF (NEW.receipt_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM points.receipts WHERE id = NEW.receipt_id
                                                     AND created_xid = pg_current_xact_id()))
       OR (NEW.return_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM points.returns WHERE id = NEW.return_id
                                                       AND created_xid = pg_current_xact_id())) THEN
        RAISE EXCEPTION 'a sale or return moves stock in the transaction of its receipt or return'
            USING ERRCODE = 'LS009';
    END IF;
    UPDATE points.goods SET stock = stock + NEW.quantity
     WHERE id = NEW.good_id AND community_id = NEW.community_id AND stock + NEW.quantity >= 0
    RETURNING stock INTO v_stock;
    IF v_stock IS NULL THEN
        SELECT name, stock INTO v_name, v_stock FROM points.goods WHERE id = NEW.good_id;
        RAISE EXCEPTION 'not enough stock of %: % left, % asked', v_name, v_stock, -NEW.quantity
            USING ERRCODE = 'LS001',
                  DETAIL = json_build_object('good_id', NEW.good_id, 'name', v_name, 'stock', v_stock,
                                             'needed', -NEW.quantity)::text;
    END IF;
    NEW.stock_after := v_stock;
    RETURN NEW;
END $$;

CREATE TRIGGER stock_movements_move BEFORE INSERT ON points.stock_movements
    FOR EACH ROW EXECUTE FUNCTION points.stock_moved();
CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE ON points.stock_movements
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- A payment code is used once, before it expires, and never after a newer one replaced it.
CREATE FUNCTION points.payment_code_changes() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (OLD.id, OLD.community_id, OLD.member_id, OLD.code_hash, OLD.issued_at, OLD.expires_at)
       IS DISTINCT FROM (NEW.id, NEW.community_id, NEW.member_id, NEW.code_hash, NEW.issued_at, NEW.expires_at) THEN
        RAISE EXCEPTION 'a payment code is not rewritten' USING ERRCODE = 'LE020';
    END IF;
    IF NEW.used_at IS DISTINCT FROM OLD.used_at THEN
        IF OLD.used_at IS NOT NULL THEN
            RAISE EXCEPTION 'payment code % was used already', OLD.id USING ERRCODE = 'LS002';
        END IF;
        IF OLD.replaced_at IS NOT NULL OR OLD.expires_at <= now() THEN
            RAISE EXCEPTION 'payment code % has expired', OLD.id USING ERRCODE = 'LS003';
        END IF;
    END IF;
    IF NEW.replaced_at IS DISTINCT FROM OLD.replaced_at AND OLD.replaced_at IS NOT NULL THEN
        RAISE EXCEPTION 'payment code % was replaced already', OLD.id USING ERRCODE = 'LE020';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER payment_codes_change BEFORE UPDATE ON points.payment_codes
    FOR EACH ROW EXECUTE FUNCTION points.payment_code_changes();
CREATE TRIGGER payment_codes_not_deleted BEFORE DELETE ON points.payment_codes
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- Which community issued a code (by its hash), whatever community the session is in: lets the counter say
-- "another community's code" rather than "forged". It answers nothing else about the code.
CREATE FUNCTION points.payment_code_community(p_code_hash bytea) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT community_id FROM points.payment_codes WHERE code_hash = p_code_hash
$$;

-- Five wrong PINs in a row lock a card for 15 minutes; the count starts again after the lock.
CREATE FUNCTION points.member_card_changes() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.failed_attempts >= 5 THEN
        NEW.failed_attempts := 0;
        NEW.locked_until := now() + interval '15 minutes';
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.locked_until > now() AND NEW.locked_until IS DISTINCT FROM OLD.locked_until
       AND NEW.card_number = OLD.card_number THEN
        RAISE EXCEPTION 'the card of member % is locked until %', OLD.member_id, OLD.locked_until
            USING ERRCODE = 'LS008';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER member_cards_change BEFORE INSERT OR UPDATE ON points.member_cards
    FOR EACH ROW EXECUTE FUNCTION points.member_card_changes();

-- A receipt's own checks: the clerk is not the member or of their household; the payment code is the member's (or
-- the proxy's) and was used now; a card redeems only while not locked.
CREATE FUNCTION points.receipt_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_code points.payment_codes;
BEGIN
    NEW.created_xid := pg_current_xact_id();
    IF EXISTS (SELECT 1 FROM points.members m, points.members clerk
                WHERE m.id IN (NEW.member_id, NEW.proxy_member_id) AND clerk.id = NEW.clerk_member_id
                  AND (m.id = clerk.id OR m.household_id = clerk.household_id)) THEN
        RAISE EXCEPTION 'clerk % cannot redeem for member %: themselves or their household', NEW.clerk_member_id,
            NEW.member_id USING ERRCODE = 'LS005';
    END IF;
    IF NEW.payment_code_id IS NOT NULL THEN
        SELECT * INTO v_code FROM points.payment_codes WHERE id = NEW.payment_code_id;
        IF v_code.member_id <> coalesce(NEW.proxy_member_id, NEW.member_id) OR v_code.used_at IS NULL THEN
            RAISE EXCEPTION 'a receipt names the payment code its member showed and used' USING ERRCODE = 'LS009';
        END IF;
    END IF;
    IF NEW.method = 'card' AND EXISTS (SELECT 1 FROM points.member_cards
                                        WHERE member_id = NEW.member_id AND locked_until > now()) THEN
        RAISE EXCEPTION 'the card of member % is locked', NEW.member_id USING ERRCODE = 'LS008';
    END IF;
    IF NEW.method = 'card' AND NOT EXISTS (SELECT 1 FROM points.member_cards WHERE member_id = NEW.member_id) THEN
        RAISE EXCEPTION 'member % has no card', NEW.member_id USING ERRCODE = 'LS009';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER receipts_checked BEFORE INSERT ON points.receipts
    FOR EACH ROW EXECUTE FUNCTION points.receipt_checks();
CREATE TRIGGER receipts_append_only BEFORE UPDATE OR DELETE ON points.receipts
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- At commit: the receipt's total is the sum of its lines, each line's quantity left the stock as a sale, and the
-- ledger entry took exactly the total from the member's wallet into the supermarket.
CREATE FUNCTION points.receipt_whole() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_receipt points.receipts;
BEGIN
    SELECT * INTO v_receipt FROM points.receipts WHERE id = NEW.id;
    IF v_receipt.total_points IS DISTINCT FROM
       (SELECT sum(amount) FROM points.receipt_lines WHERE receipt_id = NEW.id) THEN
        RAISE EXCEPTION 'receipt % does not add up to its lines', NEW.id USING ERRCODE = 'LS009';
    END IF;
    IF EXISTS (
        SELECT 1 FROM (SELECT good_id, sum(quantity) AS q FROM points.receipt_lines WHERE receipt_id = NEW.id
                        GROUP BY good_id) l
        FULL JOIN (SELECT good_id, -sum(quantity) AS q FROM points.stock_movements WHERE receipt_id = NEW.id
                    GROUP BY good_id) s USING (good_id)
         WHERE l.q IS DISTINCT FROM s.q) THEN
        RAISE EXCEPTION 'receipt % sold other quantities than left the stock', NEW.id USING ERRCODE = 'LS009';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM ledger.postings p JOIN points.members m ON m.wallet_account_id = p.account_id
         WHERE p.entry_id = v_receipt.entry_id AND m.id = v_receipt.member_id AND p.amount = -v_receipt.total_points)
    THEN
        RAISE EXCEPTION 'receipt % is not what its entry took from the wallet', NEW.id USING ERRCODE = 'LS009';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER receipts_whole AFTER INSERT ON points.receipts DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION points.receipt_whole();

-- A good's limit per member and per household: each receipt line charges the usage of its period under the
-- usage row's lock; a return gives it back. The period is the community's day, ISO week or month.
CREATE FUNCTION points.charge_redemption(p_community_id bigint, p_good_id bigint, p_member_id bigint,
                                         p_household_id bigint, p_at timestamptz, p_quantity integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_good points.goods;
    v_local timestamp := p_at AT TIME ZONE 'Asia/Shanghai';
    v_period text;
    v_subject text;
    v_limit integer;
    v_used integer;
BEGIN
    SELECT * INTO v_good FROM points.goods WHERE id = p_good_id;
    IF v_good.limit_period IS NULL THEN
        RETURN;
    END IF;
    v_period := CASE v_good.limit_period WHEN 'day' THEN to_char(v_local, 'YYYY-MM-DD')
                                         WHEN 'week' THEN to_char(v_local, 'IYYY-"W"IW')
                                         ELSE to_char(v_local, 'YYYY-MM') END;
    FOREACH v_subject IN ARRAY ARRAY['member:' || p_member_id, 'household:' || p_household_id] LOOP
        v_limit := CASE WHEN v_subject LIKE 'member:%' THEN v_good.limit_per_member ELSE v_good.limit_per_household
                   END;
        CONTINUE WHEN v_subject IS NULL OR v_limit IS NULL;
        INSERT INTO points.redemption_usage AS u (community_id, good_id, subject, period, quantity)
        VALUES (p_community_id, p_good_id, v_subject, v_period, greatest(p_quantity, 0))
        ON CONFLICT (good_id, subject, period) DO UPDATE SET quantity = greatest(u.quantity + p_quantity, 0)
        RETURNING quantity INTO v_used;
        IF p_quantity > 0 AND v_used > v_limit THEN
            RAISE EXCEPTION '% would redeem % of % in %, above its limit of %', v_subject, v_used, v_good.name,
                v_period, v_limit
                USING ERRCODE = 'LS004',
                      DETAIL = json_build_object('good_id', p_good_id, 'name', v_good.name, 'limit', v_limit,
                                                 'per', split_part(v_subject, ':', 1), 'period', v_period)::text;
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION points.receipt_line_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_receipt points.receipts;
BEGIN
    IF NOT (SELECT active FROM points.goods WHERE id = NEW.good_id) THEN
        RAISE EXCEPTION 'good % is not on sale', NEW.good_id USING ERRCODE = 'LS007';
    END IF;
    SELECT * INTO v_receipt FROM points.receipts WHERE id = NEW.receipt_id;
    IF v_receipt.created_xid <> pg_current_xact_id() THEN
        RAISE EXCEPTION 'a receipt''s lines are written with the receipt, never added later' USING ERRCODE = 'LS009';
    END IF;
    PERFORM points.charge_redemption(NEW.community_id, NEW.good_id, v_receipt.member_id, v_receipt.household_id,
                                     v_receipt.created_at, NEW.quantity);
    RETURN NEW;
END $$;

CREATE TRIGGER receipt_lines_checked AFTER INSERT ON points.receipt_lines
    FOR EACH ROW EXECUTE FUNCTION points.receipt_line_checks();

-- Receipt lines change only by returns: the returned count, through the return lines' trigger.
CREATE FUNCTION points.receipt_line_changes() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (OLD.community_id, OLD.receipt_id, OLD.line_no, OLD.good_id, OLD.name, OLD.quantity,
                            OLD.unit_price, OLD.amount)
       IS DISTINCT FROM (NEW.community_id, NEW.receipt_id, NEW.line_no, NEW.good_id, NEW.name, NEW.quantity,
                         NEW.unit_price, NEW.amount) THEN
        RAISE EXCEPTION 'a receipt line is not rewritten' USING ERRCODE = 'LE020';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER receipt_lines_change BEFORE UPDATE OR DELETE ON points.receipt_lines
    FOR EACH ROW EXECUTE FUNCTION points.receipt_line_changes();

-- A return line gives back at most what is left of its receipt line, under that line's row lock.
CREATE FUNCTION points.return_line_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_line points.receipt_lines;
    v_receipt points.receipts;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM points.returns WHERE id = NEW.return_id AND receipt_id = NEW.receipt_id
                     AND created_xid = pg_current_xact_id()) THEN
        RAISE EXCEPTION 'a return line belongs to its return''s receipt and is written with the return'
            USING ERRCODE = 'LS009';
    END IF;
    UPDATE points.receipt_lines SET returned = returned + NEW.quantity
     WHERE receipt_id = NEW.receipt_id AND line_no = NEW.line_no AND returned + NEW.quantity <= quantity
    RETURNING * INTO v_line;
    IF v_line IS NULL THEN
        SELECT * INTO v_line FROM points.receipt_lines WHERE receipt_id = NEW.receipt_id AND line_no = NEW.line_no;
        RAISE EXCEPTION 'line % of the receipt has % left to return, % asked', NEW.line_no,
            v_line.quantity - v_line.returned, NEW.quantity
            USING ERRCODE = 'LS006',
                  DETAIL = json_build_object('line_no', NEW.line_no, 'name', v_line.name,
                                             'left', v_line.quantity - v_line.returned)::text;
    END IF;
    SELECT * INTO v_receipt FROM points.receipts WHERE id = NEW.receipt_id;
    PERFORM points.charge_redemption(NEW.community_id, v_line.good_id, v_receipt.member_id, v_receipt.household_id,
                                     v_receipt.created_at, -NEW.quantity);
    RETURN NEW;
END $$;

CREATE TRIGGER return_lines_checked BEFORE INSERT ON points.return_lines
    FOR EACH ROW EXECUTE FUNCTION points.return_line_checks();
-- A clerk takes no returns for themselves or their household (the points would go to their own wallets).
CREATE FUNCTION points.return_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.created_xid := pg_current_xact_id();
    IF EXISTS (SELECT 1 FROM points.receipts r JOIN points.members m ON m.id = r.member_id, points.members clerk
                WHERE r.id = NEW.receipt_id AND clerk.id = NEW.clerk_member_id
                  AND (m.id = clerk.id OR m.household_id = clerk.household_id)) THEN
        RAISE EXCEPTION 'clerk % cannot take a return for themselves or their household', NEW.clerk_member_id
            USING ERRCODE = 'LS005';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER returns_checked BEFORE INSERT ON points.returns
    FOR EACH ROW EXECUTE FUNCTION points.return_checks();
CREATE TRIGGER return_lines_append_only BEFORE UPDATE OR DELETE ON points.return_lines
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER returns_append_only BEFORE UPDATE OR DELETE ON points.returns
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- The next receipt number of a community: 1, 2, 3 ... from a sequence of its own (opened with its first receipt),
-- so that redemptions never queue behind one counter row. A basket refused after it drew its number leaves a gap.
CREATE FUNCTION points.next_receipt_number(p_community_id bigint) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_sequence text := 'points.receipt_number_' || p_community_id;
BEGIN
    IF p_community_id IS DISTINCT FROM ledger.current_community() THEN
        RAISE EXCEPTION 'receipts are numbered in the community the session is in' USING ERRCODE = 'LE013';
    END IF;
    IF to_regclass(v_sequence) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('points.receipt_number'), p_community_id::integer);
        EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %s AS integer', v_sequence);
    END IF;
    RETURN nextval(v_sequence::regclass);
END $$;
"""

GRANTS = """
GRANT SELECT ON points.goods, points.payment_codes, points.member_cards, points.receipts,
    points.receipt_lines, points.returns, points.return_lines, points.stock_movements, points.redemption_usage
    TO linli_app;
GRANT INSERT (community_id, name, category, price, unit, barcode, photo_id, active, low_stock_at, limit_per_member,
              limit_per_household, limit_period) ON points.goods TO linli_app;
GRANT UPDATE (name, category, price, unit, barcode, photo_id, active, low_stock_at, limit_per_member,
              limit_per_household, limit_period, updated_at) ON points.goods TO linli_app;
GRANT INSERT (community_id, member_id, code_hash, issued_at, expires_at) ON points.payment_codes TO linli_app;
GRANT UPDATE (used_at, replaced_at) ON points.payment_codes TO linli_app;
GRANT INSERT ON points.member_cards TO linli_app;
GRANT UPDATE (card_number, pin_hash, failed_attempts, locked_until, issued_at) ON points.member_cards TO linli_app;
GRANT INSERT ON points.receipts, points.receipt_lines, points.returns, points.return_lines TO linli_app;
GRANT INSERT (community_id, good_id, kind, quantity, reason, member_id, receipt_id, return_id)
    ON points.stock_movements TO linli_app;
REVOKE ALL ON FUNCTION points.charge_redemption(bigint, bigint, bigint, bigint, timestamptz, integer),
    points.payment_code_community(bytea), points.next_receipt_number(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION points.payment_code_community(bytea), points.next_receipt_number(bigint) TO linli_app;
"""

DOWNGRADE = """
DO $$
DECLARE
    v_sequence record;
BEGIN
    FOR v_sequence IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'points' AND c.relkind = 'S' AND c.relname LIKE 'receipt\\_number\\_%' LOOP
        EXECUTE format('DROP SEQUENCE %s', v_sequence.name);
    END LOOP;
END $$;
DROP TABLE points.redemption_usage, points.stock_movements, points.return_lines, points.returns,
    points.receipt_lines, points.receipts, points.member_cards, points.payment_codes, points.goods;
DROP FUNCTION points.next_receipt_number(bigint);
DROP FUNCTION points.return_line_checks();
DROP FUNCTION points.return_checks();
DROP FUNCTION points.receipt_line_changes();
DROP FUNCTION points.receipt_line_checks();
DROP FUNCTION points.charge_redemption(bigint, bigint, bigint, bigint, timestamptz, integer);
DROP FUNCTION points.receipt_whole();
DROP FUNCTION points.receipt_checks();
DROP FUNCTION points.member_card_changes();
DROP FUNCTION points.payment_code_community(bytea);
DROP FUNCTION points.payment_code_changes();
DROP FUNCTION points.stock_moved();
DROP FUNCTION points.goods_start_empty();
"""


def upgrade() -> None:
    execute_script(TABLES)
    execute_script(RLS)
    execute_script(FUNCTIONS)
    execute_script(GRANTS)


def downgrade() -> None:
    execute_script(DOWNGRADE)
