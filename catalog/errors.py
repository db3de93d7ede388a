"""Exceptions of the points supermarket, and the database's own refusals (SQLSTATE class LS, migration 0011)
translated to them. points/errors.py maps each to its HTTP status; every one names the good (or the code, the
card, the line) and the problem, so the clerk reads what to take out of the basket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import asyncpg

from points.auth.errors import ConflictOfInterest


class CatalogError(Exception):
    code: ClassVar[str] = "catalog_error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class InsufficientStock(CatalogError):
    """A good in the basket has fewer left in stock than asked (``good_id``, ``name``, ``stock``, ``needed``)."""

    code = "insufficient_stock"


class LimitReached(CatalogError):
    """The basket would take a member or their household above a good's limit for the period (``per``: member or
    household, ``limit``, ``left``)."""

    code = "limit_reached"


class GoodInactive(CatalogError):
    """A good in the basket is not on sale (inactive)."""

    code = "good_inactive"


class PaymentCodeExpired(CatalogError):
    """The payment code is older than its two minutes, or a newer one replaced it: the member refreshes it."""

    code = "payment_code_expired"


class PaymentCodeUsed(CatalogError):
    """The payment code paid for a basket already; every code pays once."""

    code = "payment_code_used"


class PaymentCodeOtherCommunity(CatalogError):
    """The payment code was issued by another community's supermarket."""

    code = "payment_code_other_community"


class PaymentCodeUnknown(CatalogError):
    """No payment code like this was ever issued: mistyped, or forged."""

    code = "payment_code_unknown"


class WrongPin(CatalogError):
    """The member card's PIN is wrong (``attempts_left`` before the card locks), or the card number is unknown."""

    code = "wrong_pin"


class CardLocked(CatalogError):
    """Too many wrong PINs: the member card is locked for a while (``locked_until``)."""

    code = "card_locked"


class ReturnTooMuch(CatalogError):
    """A return asks back more of a line than is left of it (bought less what was returned before)."""

    code = "return_exceeds_purchase"


class ReceiptInconsistent(CatalogError):
    """The database refused a receipt that does not add up (never reachable through the service)."""

    code = "receipt_inconsistent"


class StockNegative(CatalogError):
    """A stock movement would take a good's stock below zero."""

    code = "stock_negative"


_BY_SQLSTATE: dict[str, type[Exception]] = {
    "LS001": InsufficientStock,
    "LS002": PaymentCodeUsed,
    "LS003": PaymentCodeExpired,
    "LS004": LimitReached,
    "LS005": ConflictOfInterest,
    "LS006": ReturnTooMuch,
    "LS007": GoodInactive,
    "LS008": CardLocked,
    "LS009": ReceiptInconsistent,
}


def _detail(exc: asyncpg.PostgresError) -> dict[str, Any]:
    raw = getattr(exc, "detail", None)
    if not raw:
        return {}
    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """The database's LS refusals (a race the service's own check could not see) as the domain's errors."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        cls = _BY_SQLSTATE.get(getattr(exc, "sqlstate", "") or "")
        if cls is None:
            raise
        message = getattr(exc, "message", None) or str(exc)
        raise cls(message, **_detail(exc)) from exc
