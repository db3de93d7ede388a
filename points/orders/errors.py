"""Refusals of service orders, and the database's own (SQLSTATE class LO, migration 0020) translated to them.
points/errors.py maps each to its HTTP status (they are earning errors, as the expiry's are)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from points.auth.errors import Forbidden, InvalidRequest
from points.earning.errors import EarningError


class OrderWrongState(EarningError):
    """The order is not in a state that allows this (``state`` says which it is in): another dispatcher or the
    taker got there first, or it is finished."""

    code = "order_wrong_state"


class OrderNotDue(EarningError):
    """Too early or too late: a due time that has passed, or a timeout that has not run out yet."""

    code = "order_not_due"


class UnitDoesNotOffer(EarningError):
    """The co-building unit is inactive or does not offer the order's category."""

    code = "unit_does_not_offer"


_BY_SQLSTATE: dict[str, type[Exception]] = {
    "LO001": OrderWrongState,
    "LO002": OrderWrongState,
    "LO003": Forbidden,
    "LO004": OrderNotDue,
    "LO005": InvalidRequest,
}


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """The database's LO refusals (a race the service's check could not see) as the domain's errors."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        cls = _BY_SQLSTATE.get(getattr(exc, "sqlstate", "") or "")
        if cls is None:
            raise
        raise cls(getattr(exc, "message", None) or str(exc)) from exc
