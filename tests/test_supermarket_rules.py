"""The supermarket under pressure: bad input for every operation changes nothing (under the 4xx watch); two
counters selling the last unit at once, one payment code shown twice at once, one confirmation sent twice at once,
many redemptions against one wallet (each race on real connections, decided in PostgreSQL: tests/racing.py), two
baskets on the one supermarket account not waiting for each other; and a hypothesis property that whatever moves,
the stock equals the sum of its movements and is never negative, and the points the wallet lost are the points the
supermarket holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from catalog import codes, counter
from catalog.errors import InsufficientStock, PaymentCodeUsed
from points import db
from points.auth.access import Access
from points.errors import problem_for
from tests.earning_world import Person
from tests.racing import TIMEOUT_S, connections, entered_as, race, split, sqlstate_behind
from tests.supermarket_world import Shop, key, make_shop, person


@pytest.fixture
async def shop(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Shop:
    return await make_shop(client, owner_conn, conn)


MISSING = 999_999_999
GOOD = -1  # stands for the soap's id
CODE = "code"  # stands for a fresh payment code of the first volunteer

BAD: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("POST", "/goods", {"name": "", "price": 5}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 0}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "barcode": "ab"}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "limit_per_member": 2}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "limit_period": "month"}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "limit_per_member": 1, "limit_period": "year"}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "stock": 10}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "photo_id": MISSING}, "not_found"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "barcode": "6901234567892"}, "conflict"),
    ("PUT", f"/goods/{MISSING}", {"name": "毛巾", "price": 5}, "not_found"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "sale", "quantity": 1, "reason": "x"}, "invalid_request"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "restock", "quantity": 0, "reason": "x"}, "invalid_request"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "restock", "quantity": -5, "reason": "x"}, "invalid_request"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "restock", "quantity": 5, "reason": ""}, "invalid_request"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "write_off", "quantity": 51, "reason": "x"}, "stock_negative"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "correction", "quantity": -51, "reason": "x"}, "stock_negative"),
    ("POST", f"/goods/{MISSING}/movements", {"kind": "restock", "quantity": 5, "reason": "x"}, "not_found"),
    ("POST", "/counter/redemptions", {"lines": [{"good_id": GOOD}]}, "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "card_number": "880000000001",
                                      "lines": [{"good_id": GOOD}]}, "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": []}, "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD, "quantity": 0}]},
     "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD, "quantity": 1001}]},
     "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD, "barcode": "6901234567892"}]},
     "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": MISSING}]}, "not_found"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"barcode": "0000000000"}]}, "not_found"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD, "quantity": 51}]},
     "insufficient_stock"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD, "quantity": 14}]},
     "insufficient_points"),
    ("POST", "/counter/redemptions", {"payment_code": "12345678901234567", "lines": [{"good_id": GOOD}]},
     "payment_code_unknown"),
    ("POST", "/counter/redemptions", {"payment_code": "abc", "lines": [{"good_id": GOOD}]}, "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "for_member_id": MISSING, "lines": [{"good_id": GOOD}]},
     "not_found"),
    ("POST", "/counter/redemptions", {"card_number": "880000000009", "pin": "1234", "lines": [{"good_id": GOOD}]},
     "not_found"),
    ("POST", "/counter/redemptions", {"card_number": "880000000009", "lines": [{"good_id": GOOD}]},
     "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD}], "counter": "x" * 51},
     "invalid_request"),
    ("POST", "/counter/preview", {"payment_code": CODE, "lines": [{"good_id": GOOD, "quantity": 51}]},
     "insufficient_stock"),
    ("POST", "/counter/preview", {"payment_code": CODE, "lines": [{"good_id": GOOD}], "extra": 1}, "invalid_request"),
    ("POST", f"/receipts/{MISSING}/returns", {"reason": "x"}, "not_found"),
    ("POST", "/receipts/1/returns", {"reason": ""}, "invalid_request"),
    ("POST", "/receipts/1/returns", {"reason": "x", "lines": [{"line_no": 9, "quantity": 1}]}, "not_found"),
    ("POST", "/receipts/1/returns", {"reason": "x", "lines": [{"line_no": 1, "quantity": 2}]},
     "return_exceeds_purchase"),
    ("POST", "/receipts/1/returns", {"reason": "x", "lines": [{"line_no": 1, "quantity": 1},
                                                               {"line_no": 1, "quantity": 1}]}, "invalid_request"),
    ("POST", f"/members/{MISSING}/card", {"pin": "1234"}, "not_found"),
    ("POST", "/members/0/card", {"pin": "1234"}, "invalid_request"),
    ("POST", f"/members/{MISSING}/card", {"pin": "12"}, "invalid_request"),
    ("GET", "/counter/daily-totals?day=2026-02-30", None, "invalid_request"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "code"), BAD)
async def test_bad_input_is_refused_and_changes_nothing(
    shop: Shop, no_change_on_4xx: list[str], method: str, path: str, body: dict[str, Any] | None, code: str
) -> None:
    v = shop.volunteers[0]
    soap = shop.goods["肥皂"]["id"]
    # receipt 1: one soap, for the returns' refusals (written before the watch looks)
    first = await shop.redeem(shop.volunteers[1], [("肥皂", 1)])
    assert first.status_code == 201, first.text
    code_now = await shop.code(v)
    path = path.replace(f"/{GOOD}/", f"/{soap}/")
    if body is not None:
        body = dict(body)
        if body.get("payment_code") == CODE:
            body["payment_code"] = code_now
        if "lines" in body:
            body["lines"] = [
                {k: (soap if k == "good_id" and x == GOOD else x) for k, x in line.items()} for line in body["lines"]
            ]
    admin_only = path.startswith(("/goods", "/members", "/counter/daily")) and not path.endswith("/movements")
    caller = None if admin_only else shop.clerk  # None: the admin (the shared client's own token)
    before = len(no_change_on_4xx)
    r = await shop.call(caller, method, path, json=body, headers={"Idempotency-Key": key()})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["code"] == code, r.text
    assert len(no_change_on_4xx) == before + 1  # the watch saw it change nothing
    assert await shop.balance(v) == 200


def basket(
    payer: counter.Payer, wanted: list[counter.Wanted], *, idem: str = "", at: str = ""
) -> Callable[[Any, Access], Awaitable[counter.Receipt]]:
    """A clerk confirming a basket at the counter, as POST /counter/redemptions does (a racer's work)."""
    return lambda c, access: counter.confirm(c, access, payer, wanted, idempotency_key=idem or key(), counter=at)


def one(shop: Shop, name: str, quantity: int = 1) -> list[counter.Wanted]:
    return [counter.Wanted(quantity, good_id=shop.goods[name]["id"])]


async def opened(shop: Shop) -> None:
    """The counter has sold before (the third volunteer bought a soap): the supermarket account and the receipts'
    numbering exist, so a race below is about what it names, not about opening them."""
    r = await shop.redeem(shop.volunteers[2], [("肥皂", 1)])
    assert r.status_code == 201, r.text


async def test_two_counters_selling_the_last_unit_at_once_sell_it_once(
    shop: Shop, client: Any, conn: Any, engine: Any
) -> None:
    """Two counters sell the last bottle of soy sauce at once, on two connections, both baskets planned (each saw
    one in stock) before either wrote: the good's row is held locked meanwhile. What decides the race in
    PostgreSQL: the sale movement's trigger (points.stock_moved) takes the stock down in one UPDATE ... WHERE
    stock + quantity >= 0 under the good's row lock, so the second finds none left once the first committed and
    is refused there (LS001); its whole basket rolls back (its code unused, its wallet untouched)."""
    await opened(shop)
    second_clerk = await person(client, shop.owner, conn, shop.slug, "刘店员", "1-202", ["clerk"])
    last = await shop.add_good("酱油", 12, 1)
    a, b = shop.volunteers[:2]
    code_a, code_b = await shop.code(a), await shop.code(b)
    cid = shop.community_id
    made = await race(
        engine,
        shop.owner,
        "SELECT id FROM points.goods WHERE id = $1 FOR UPDATE",
        [last["id"]],
        [
            await entered_as(shop.owner, cid, shop.clerk.member_id,
                             basket(counter.Payer(payment_code=code_a), one(shop, "酱油"), at="1号柜台")),
            await entered_as(shop.owner, cid, second_clerk.member_id,
                             basket(counter.Payer(payment_code=code_b), one(shop, "酱油"), at="2号柜台")),
        ],
    )  # fmt: skip
    sold, refused = split(made)
    assert (len(sold), len(refused)) == (1, 1), made
    assert isinstance(refused[0], InsufficientStock), refused
    assert (refused[0].data["name"], refused[0].data["stock"]) == ("酱油", 0)
    assert sqlstate_behind(refused[0]) == "LS001"  # refused by PostgreSQL: its plan had seen one in stock
    assert problem_for(refused[0]) == (422, "insufficient_stock")
    assert await shop.stock("酱油") == 0
    assert sorted([await shop.balance(a), await shop.balance(b)]) == [188, 200]
    assert await shop.supermarket() == 15 + 12
    moved = await shop.owner.fetchval("SELECT sum(quantity) FROM points.stock_movements WHERE good_id = $1", last["id"])
    assert moved == 0
    # The loser's code was not used by its rolled-back basket: shown again through the API, the refusal names the
    # good (before anything is written), not the code.
    loser, loser_code = (b, code_b) if sold[0].member_id == a.member_id else (a, code_a)
    r = await shop.redeem(loser, [("酱油", 1)], payment_code=loser_code)
    assert (r.status_code, r.json()["code"], r.json()["name"]) == (422, "insufficient_stock", "酱油"), r.text


async def test_two_first_baskets_at_once_open_the_supermarket_account_once(shop: Shop, engine: Any) -> None:
    """The supermarket account is opened by a community's first basket. Two counters' first baskets at once: the
    one whose insert waited for the other's commit reads the account the other opened, inside its own
    transaction (it was refused with duplicate_code), and both credit the one account."""
    opened = "SELECT count(*) FROM ledger.accounts WHERE community_id = $1 AND code = 'supermarket'"
    assert await shop.owner.fetchval(opened, shop.community_id) == 0  # nothing sold here yet
    cid = shop.community_id
    async with db.connection(engine) as first, db.connection(engine) as second:

        async def second_basket() -> tuple[int, int]:
            async with ledger.transaction(second):
                await ledger.enter(second, cid)
                account = await counter.supermarket_account(second, cid)
                still_good: int = await second.fetchval("SELECT 1")  # its transaction can go on writing
                return account, still_good

        try:
            async with ledger.transaction(first):
                await ledger.enter(first, cid)
                mine = await counter.supermarket_account(first, cid)
                theirs = asyncio.create_task(second_basket())
                await asyncio.sleep(0.3)  # the second's insert waits on the first's uncommitted account
                assert not theirs.done()
            # the first has committed: the second's insert is refused, and it reads the first's account
            assert await theirs == (mine, 1)
        finally:
            await ledger.leave(first)
            await ledger.leave(second)
    assert await shop.owner.fetchval(opened, shop.community_id) == 1


async def test_one_payment_code_shown_twice_at_once_pays_once(shop: Shop, engine: Any) -> None:
    """One payment code scanned at three counters at once (three baskets, three keys), on three connections, all
    planned (each saw the code unused) before any wrote: the code's row is held locked meanwhile. What decides the
    race in PostgreSQL: points.redeem_basket claims the code by UPDATE ... WHERE used_at IS NULL under the code's
    row lock, so the later ones find it used once the first committed and are refused there (LS002)."""
    await opened(shop)
    v = shop.volunteers[0]
    code = await shop.code(v)
    scan = await entered_as(
        shop.owner, shop.community_id, shop.clerk.member_id, basket(counter.Payer(payment_code=code), one(shop, "肥皂"))
    )
    made = await race(
        engine, shop.owner, "SELECT id FROM points.payment_codes WHERE code_hash = $1 FOR UPDATE",
        [codes.code_hash(code)], [scan] * 3,
    )  # fmt: skip
    paid, refused = split(made)
    assert (len(paid), len(refused)) == (1, 2), made
    assert all(isinstance(exc, PaymentCodeUsed) and sqlstate_behind(exc) == "LS002" for exc in refused), refused
    assert {problem_for(exc) for exc in refused} == {(422, "payment_code_used")}
    assert (await shop.balance(v), await shop.stock("肥皂")) == (185, 48)
    # Scanned once more through the API: refused in the same words, nothing written.
    r = await shop.redeem(v, [("肥皂", 1)], payment_code=code)
    assert (r.status_code, r.json()["code"]) == (422, "payment_code_used"), r.text


async def test_one_confirmation_sent_twice_at_once_charges_once(shop: Shop, engine: Any) -> None:
    """The counter's page sends one confirmation four times at once (one Idempotency-Key), on four connections, all
    planned (none saw a receipt of the key, each saw the code unused) before any wrote: the code's row is held
    locked meanwhile. What decides the race in PostgreSQL: the code's row lock and its claim (used once, LS002), and
    underneath the receipts' and the ledger entries' unique idempotency keys; the service answers the later ones
    with the first's receipt, replayed, once the first committed."""
    await opened(shop)
    v = shop.volunteers[0]
    code, idem = await shop.code(v), key()
    confirm = await entered_as(
        shop.owner, shop.community_id, shop.clerk.member_id,
        basket(counter.Payer(payment_code=code), one(shop, "杯子", 2), idem=idem),
    )  # fmt: skip
    made = await race(
        engine, shop.owner, "SELECT id FROM points.payment_codes WHERE code_hash = $1 FOR UPDATE",
        [codes.code_hash(code)], [confirm] * 4,
    )  # fmt: skip
    receipts, failed = split(made)
    assert failed == []
    assert len({r.number for r in receipts}) == 1
    assert sorted(r.replayed for r in receipts) == [False, True, True, True]
    assert (await shop.balance(v), await shop.stock("杯子"), await shop.supermarket()) == (160, 28, 15 + 40)
    # Sent again through the API: 200, the same receipt.
    r = await shop.redeem(v, [("杯子", 2)], payment_code=code, idem=idem)
    assert (r.status_code, r.json()["number"]) == (200, receipts[0].number), r.text


async def card_race(shop: Shop, client: Any, conn: Any, database_url: str) -> tuple[Person, list[Any]]:
    """50 baskets of one soap (15) at once, paid by card and PIN (no fresh code each time), against a wallet of 100,
    each on its own connection (an engine of 50 for it), all planned (each saw 100 available) before any wrote:
    the wallet's row is held locked meanwhile."""
    await opened(shop)
    grandma = await person(client, shop.owner, conn, shop.slug, "赵奶奶", "6-606", ["volunteer"], signs_in=False)
    await shop.fund(grandma, 100)
    r = await client.post(f"{shop.url}/members/{grandma.member_id}/card", json={"pin": "1357"})
    card = r.json()["card_number"]
    pay = await entered_as(
        shop.owner, shop.community_id, shop.clerk.member_id,
        basket(counter.Payer(card_number=card, pin="1357"), one(shop, "肥皂")),
    )  # fmt: skip
    wallet = await shop.owner.fetchval("SELECT wallet_account_id FROM points.members WHERE id = $1", grandma.member_id)
    engine = db.make_engine(database_url, pool_size=50)
    try:
        made = await race(engine, shop.owner, "SELECT id FROM ledger.accounts WHERE id = $1 FOR UPDATE", [wallet],
                          [pay] * 50)  # fmt: skip
    finally:
        await engine.dispose()
    return grandma, made


async def test_many_redemptions_against_one_wallet_never_overdraw_it(
    shop: Shop, client: Any, conn: Any, database_url: str
) -> None:
    """What decides the race (card_race's) in PostgreSQL: ledger.post_entry locks the bounded wallet (FOR UPDATE)
    and checks its lower bound under that lock (the CHECK accounts_within_lower_bound again underneath), so the
    baskets are charged one after another: six fit (90), the other 44 are refused there (LE001) and roll back whole
    (no receipt, no stock taken)."""
    grandma, made = await card_race(shop, client, conn, database_url)
    receipts, refused = split(made)
    assert (len(receipts), len(refused)) == (6, 44), [e for e in refused if sqlstate_behind(e) != "LE001"]
    assert {sqlstate_behind(exc) for exc in refused} == {"LE001"}  # refused by PostgreSQL, not by the plan
    assert (await shop.balance(grandma), await shop.stock("肥皂"), await shop.supermarket()) == (10, 43, 15 + 90)
    assert sorted(r.number for r in receipts) == list(range(2, 8))  # numbered one after another, none lost
    # Once more through the API: refused before anything is written, saying what is left.
    r = await shop.redeem(None, [("肥皂", 1)], card_number=(await card_of(shop, grandma)), pin="1357")
    assert (r.status_code, r.json()["code"], r.json()["available"]) == (422, "insufficient_points", 10), r.text


async def test_a_basket_the_wallet_refuses_in_a_race_is_answered_insufficient_points(
    shop: Shop, client: Any, conn: Any, database_url: str
) -> None:
    """The losers of card_race are refused by PostgreSQL (LE001); the API must answer them as it answers a basket
    its own plan refuses: 422 insufficient_points (points/errors.py's problem_for is the API's one mapping)."""
    _, made = await card_race(shop, client, conn, database_url)
    _, refused = split(made)
    assert len(refused) == 44
    assert {problem_for(exc) for exc in refused} == {(422, "insufficient_points")}


async def card_of(shop: Shop, who: Person) -> str:
    number: str = await shop.owner.fetchval(
        "SELECT card_number FROM points.member_cards WHERE member_id = $1", who.member_id
    )
    return number


async def test_redemptions_for_two_members_do_not_wait_on_the_supermarket_account(shop: Shop, engine: Any) -> None:
    """Every redemption credits the one supermarket account, which must not serialise them (docs/DESIGN.md: the
    hot account is striped, never a row every basket waits on). One basket is written and its transaction held open
    (after its write, before its commit); meanwhile a second basket, for another member and another good, on
    another connection, credits the same account and commits. If the account's row were locked by the first, the
    second would wait for it, and the test fails on the time limit instead of hanging."""
    await opened(shop)
    a, b = shop.volunteers[:2]
    code_a, code_b = await shop.code(a), await shop.code(b)
    cid = shop.community_id
    committed = "SELECT count(*) FROM points.receipts WHERE community_id = $1 AND number = $2"
    async with connections(engine, 2) as (first, second):
        clerk_first = await entered_as(shop.owner, cid, shop.clerk.member_id, lambda c, access: _access(access))
        access = await clerk_first(first)
        async with ledger.transaction(first):
            held = await basket(counter.Payer(payment_code=code_a), one(shop, "肥皂"))(first, access)
            other = await entered_as(
                shop.owner, cid, shop.clerk.member_id, basket(counter.Payer(payment_code=code_b), one(shop, "杯子"))
            )
            try:
                meanwhile = await asyncio.wait_for(other(second), timeout=TIMEOUT_S)
            except TimeoutError:
                pytest.fail("the second basket waited for the first's commit: baskets on one account serialise")
            assert await shop.owner.fetchval(committed, cid, meanwhile.number) == 1  # committed, seen by others
            assert await shop.owner.fetchval(committed, cid, held.number) == 0  # the first still open
            assert await shop.supermarket() == 15 + 20
    assert await shop.owner.fetchval(committed, cid, held.number) == 1
    assert (await shop.balance(a), await shop.balance(b), await shop.supermarket()) == (185, 180, 15 + 15 + 20)


async def _access(access: Access) -> Access:
    return access


OPS = st.lists(
    st.tuples(st.sampled_from(["restock", "write_off", "correction", "sale", "return"]), st.integers(-6, 6)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
async def test_stock_is_the_sum_of_its_movements_and_the_points_balance(shop: Shop, ops: list[tuple[str, int]]) -> None:
    buyer = shop.volunteers[2]
    cup = shop.goods["杯子"]["id"]
    receipts: list[int] = []
    for kind, n in ops:
        if kind in ("restock", "write_off", "correction"):
            quantity = n if kind == "correction" else abs(n)
            r = await shop.call(shop.clerk, "POST", f"/goods/{cup}/movements",
                                json={"kind": kind, "quantity": quantity, "reason": "盘点"})  # fmt: skip
            assert r.status_code in (201, 400, 422), r.text
        elif kind == "sale":
            r = await shop.redeem(buyer, [("杯子", max(1, abs(n)))])
            assert r.status_code in (201, 422), r.text
            if r.status_code == 201:
                receipts.append(r.json()["number"])
        elif receipts:
            r = await shop.call(shop.clerk, "POST", f"/receipts/{receipts[-1]}/returns", json={"reason": "退货"},
                                headers={"Idempotency-Key": key()})  # fmt: skip
            assert r.status_code in (201, 422), r.text
        stock, moved, lowest = await shop.owner.fetchrow(
            "SELECT g.stock, (SELECT sum(quantity) FROM points.stock_movements WHERE good_id = g.id),"
            " (SELECT min(stock_after) FROM points.stock_movements WHERE good_id = g.id) FROM points.goods g"
            " WHERE g.id = $1",
            cup,
        )
        assert stock == moved
        assert stock >= 0
        assert lowest >= 0
    spent = await shop.owner.fetchval(
        "SELECT coalesce(sum(r.total_points), 0) - coalesce((SELECT sum(t.total_points) FROM points.returns t"
        " WHERE t.community_id = $1), 0) FROM points.receipts r WHERE r.community_id = $1",
        shop.community_id,
    )
    assert 200 - await shop.balance(buyer) == await shop.supermarket() == spent
    # every balance is the sum of its postings: the wallet's row and the supermarket's stripes
    wallet, wallet_postings = await shop.owner.fetchrow(
        "SELECT a.balance, (SELECT sum(amount) FROM ledger.postings WHERE account_id = a.id) FROM points.members m"
        " JOIN ledger.accounts a ON a.id = m.wallet_account_id WHERE m.id = $1",
        buyer.member_id,
    )
    assert wallet == wallet_postings
    market_postings = await shop.owner.fetchval(
        "SELECT coalesce(sum(p.amount), 0) FROM ledger.postings p JOIN ledger.accounts a ON a.id = p.account_id"
        " WHERE a.community_id = $1 AND a.code = 'supermarket'",
        shop.community_id,
    )
    assert market_postings == await shop.supermarket()
