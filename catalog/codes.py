"""How a member pays at the counter: a payment code from their phone, or a printed member card and a PIN.

- **Payment codes**: 18 random digits issued by the server (``secrets``), valid two minutes, bound to the member
  and the community, used once. Only their SHA-256 is stored, so a copy of the database pays nothing. Asking for a
  new code (the page refreshes it before it runs out) replaces the member's earlier unused ones. A code the counter
  does not know is told apart: used, expired (or replaced), another community's, or never issued (forged or
  mistyped); PostgreSQL refuses using a code twice or late underneath (migration 0011).
- **Member cards**: a card number (printed, or its QR) plus a PIN of 4 to 6 digits, hashed with argon2id like a
  password. Five wrong PINs in a row lock the card for 15 minutes; the count lives in the database (its trigger
  sets the lock), so every server process agrees.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import ledger
from catalog.errors import (
    CardLocked,
    PaymentCodeExpired,
    PaymentCodeOtherCommunity,
    PaymentCodeUnknown,
    PaymentCodeUsed,
    WrongPin,
    translated,
)
from points.auth.access import Access
from points.auth.errors import Conflict, Forbidden, InvalidRequest, NotFound
from points.auth.passwords import hash_password, verify_password
from points.field_problems import field_problem

CODE_DIGITS = 18
CODE_LIFETIME_S = 120
CODE = re.compile(r"[0-9]{18}")
CARD = re.compile(r"[0-9]{8,20}")
PIN = re.compile(r"[0-9]{4,6}")
MAX_PIN_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str
    member_id: int
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Card:
    member_id: int
    card_number: str
    issued_at: datetime


def code_hash(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


def normal_code(code: str) -> str:
    """As a scanner or a clerk types it: spaces and dashes between the digit groups count for nothing."""
    return re.sub(r"[\s-]", "", code)


async def issue_code(conn: ledger.Connection, access: Access) -> IssuedCode:
    """A new payment code for the caller; their earlier unused codes are replaced (one live code at a time)."""
    if access.member_id is None or access.status != "active":
        raise Forbidden("only an active member of the community pays with a payment code")
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        await conn.execute(
            "UPDATE points.payment_codes SET replaced_at = now() WHERE member_id = $1 AND community_id = $2"
            " AND used_at IS NULL AND replaced_at IS NULL AND expires_at > now()",
            access.member_id,
            access.community_id,
        )
        row = await conn.fetchrow(
            "INSERT INTO points.payment_codes (community_id, member_id, code_hash, expires_at)"
            " VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING issued_at, expires_at",
            access.community_id,
            access.member_id,
            code_hash(code),
            CODE_LIFETIME_S,
        )
    return IssuedCode(code, access.member_id, row["issued_at"], row["expires_at"])


@dataclass(frozen=True, slots=True)
class ShownCode:
    id: int
    member_id: int


async def resolve_code(conn: ledger.Connection, community_id: int, code: str) -> ShownCode:
    """The member a code belongs to, or why it is refused: used, expired, another community's, or unknown."""
    code = normal_code(code)
    if not CODE.fullmatch(code):
        raise PaymentCodeUnknown("a payment code is 18 digits: this is not one", reason="malformed")
    hashed = code_hash(code)
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        "SELECT id, member_id, used_at IS NOT NULL AS used, replaced_at IS NOT NULL OR expires_at <= now() AS expired"
        " FROM points.payment_codes WHERE code_hash = $1 AND community_id = $2",
        hashed,
        community_id,
    )
    if row is None:
        issuer = await conn.fetchval("SELECT points.payment_code_community($1)", hashed)
        if issuer is not None and issuer != community_id:
            raise PaymentCodeOtherCommunity("this payment code is another community's: it pays only there")
        raise PaymentCodeUnknown("no such payment code was issued: typed wrong, or forged", reason="unknown")
    if row["used"]:
        raise PaymentCodeUsed("this payment code has paid already: the member shows a new one")
    if row["expired"]:
        raise PaymentCodeExpired("this payment code has expired: the member refreshes it")
    return ShownCode(row["id"], row["member_id"])


async def claim_code(conn: ledger.Connection, community_id: int, code_id: int) -> bool:
    """Inside the redemption's transaction: mark the code used, unless another redemption used it first (the row
    lock makes the second wait and then find it used): False then."""
    async with translated():
        claimed = await conn.fetchval(
            "UPDATE points.payment_codes SET used_at = now() WHERE id = $1 AND community_id = $2"
            " AND used_at IS NULL AND replaced_at IS NULL AND expires_at > now() RETURNING id",
            code_id,
            community_id,
        )
    return claimed is not None


async def code_refusal(conn: ledger.Connection, code_id: int) -> Exception:
    """Why a claim failed: used by the other redemption, or expired in the meantime."""
    used = await conn.fetchval("SELECT used_at IS NOT NULL FROM points.payment_codes WHERE id = $1", code_id)
    if used:
        return PaymentCodeUsed("this payment code has paid already: the member shows a new one")
    return PaymentCodeExpired("this payment code has expired: the member refreshes it")


# ---- member cards -------------------------------------------------------------------------------------------------


def _check_pin(pin: str) -> None:
    if not PIN.fullmatch(pin):
        raise InvalidRequest("a PIN is 4 to 6 digits", errors=[field_problem("pin", "malformed", pattern=PIN.pattern)])


async def issue_card(
    conn: ledger.Connection, community_id: int, member_id: int, *, pin: str, card_number: str | None = None
) -> Card:
    """Print a card for a member (a new one replaces the old: its number and PIN stop working)."""
    _check_pin(pin)
    if card_number is not None and not CARD.fullmatch(card_number):
        raise InvalidRequest(
            "a card number is 8 to 20 digits",
            errors=[field_problem("card_number", "malformed", pattern=CARD.pattern)],
        )
    number = card_number or f"{secrets.randbelow(10**12):012d}"
    pin_hash = hash_password(pin)  # slow on purpose: before the transaction opens
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        status = await conn.fetchval(
            "SELECT status FROM points.members WHERE id = $1 AND community_id = $2", member_id, community_id
        )
        if status is None:
            raise NotFound(f"no member {member_id} in this community", member_id=member_id)
        other = await conn.fetchval(
            "SELECT member_id FROM points.member_cards WHERE community_id = $1 AND card_number = $2"
            " AND member_id <> $3",
            community_id,
            number,
            member_id,
        )
        if other is not None:
            raise Conflict("that card number is another member's", field="card_number")
        row = await conn.fetchrow(
            "INSERT INTO points.member_cards (member_id, community_id, card_number, pin_hash) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (member_id) DO UPDATE SET card_number = EXCLUDED.card_number, pin_hash = EXCLUDED.pin_hash,"
            " failed_attempts = 0, locked_until = NULL, issued_at = now() RETURNING member_id, card_number, issued_at",
            member_id,
            community_id,
            number,
            pin_hash,
        )
    return Card(row["member_id"], row["card_number"], row["issued_at"])


async def card_member(conn: ledger.Connection, community_id: int, card_number: str) -> int:
    """Whose card this is (for the preview: no PIN yet)."""
    await ledger.enter(conn, community_id)
    found: int | None = await conn.fetchval(
        "SELECT member_id FROM points.member_cards WHERE community_id = $1 AND card_number = $2",
        community_id,
        card_number,
    )
    if found is None:
        raise NotFound("no member card with that number in this community", card_number=card_number)
    return found


async def check_card(conn: ledger.Connection, community_id: int, card_number: str, pin: str) -> int:
    """The member of a card whose PIN is right. A wrong PIN is counted (committed before the refusal, so a
    guesser cannot retry for free), and the fifth in a row locks the card for 15 minutes."""
    if not PIN.fullmatch(pin):
        raise WrongPin("the PIN is 4 to 6 digits", attempts_left=None)
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        row = await conn.fetchrow(
            "SELECT member_id, pin_hash, failed_attempts, locked_until, locked_until > now() AS locked"
            " FROM points.member_cards WHERE community_id = $1 AND card_number = $2 FOR UPDATE",
            community_id,
            card_number,
        )
        if row is None:
            raise NotFound("no member card with that number in this community", card_number=card_number)
        if row["locked"]:
            raise CardLocked(
                "the card is locked after too many wrong PINs; try again later", locked_until=row["locked_until"]
            )
        right = verify_password(row["pin_hash"], pin)
        if right and row["failed_attempts"]:
            await conn.execute(
                "UPDATE points.member_cards SET failed_attempts = 0 WHERE member_id = $1", row["member_id"]
            )
        if not right:
            after = await conn.fetchrow(
                "UPDATE points.member_cards SET failed_attempts = failed_attempts + 1 WHERE member_id = $1"
                " RETURNING failed_attempts, locked_until",
                row["member_id"],
            )
    if right:
        member_id: int = row["member_id"]
        return member_id
    if after["locked_until"] is not None and after["failed_attempts"] == 0:
        raise CardLocked(
            "that was the fifth wrong PIN: the card is locked for 15 minutes", locked_until=after["locked_until"]
        )
    raise WrongPin("the PIN is wrong", attempts_left=MAX_PIN_ATTEMPTS - after["failed_attempts"])
