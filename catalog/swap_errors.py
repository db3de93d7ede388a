"""Exceptions of the swap table (亲邻易物台), and the database's own refusals (SQLSTATE class LW, migration 0014)
translated to them. points/errors.py maps each to its HTTP status; each names the listing or the proposal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from catalog.errors import CatalogError, _detail


class ListingUnavailable(CatalogError):
    """A listing in the proposal is no longer open: reserved by an accepted proposal, swapped, withdrawn or expired
    (``listing_id``, ``title``, ``status``)."""

    code = "listing_unavailable"


class SwapWrongState(CatalogError):
    """The proposal (or listing) is not in a state that allows this (``status``): e.g. accepting a declined one."""

    code = "swap_wrong_state"


class ProposalOnHold(CatalogError):
    """Another accepted proposal holds one of this proposal's listings; it is released if that one falls through."""

    code = "proposal_on_hold"


class HandoverOverdue(CatalogError):
    """The hand-over was due by ``deadline_at``; the proposal times out (its hold is voided, listings reopen)."""

    code = "handover_overdue"


class NotAParty(CatalogError):
    """Only the two members of a proposal (or table staff, for a hand-over) may do this."""

    code = "not_a_party"


class SwapInconsistent(CatalogError):
    """The database refused a proposal whose hold, items or bonus do not agree (never reachable through the
    service)."""

    code = "swap_inconsistent"


_BY_SQLSTATE: dict[str, type[CatalogError]] = {
    "LW001": ListingUnavailable,
    "LW003": SwapWrongState,
    "LW004": SwapInconsistent,
    "LW005": SwapInconsistent,
    "LW006": SwapInconsistent,
    "LW007": HandoverOverdue,
}


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """The database's LW refusals, and the one-reservation index, as the swap table's errors."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        if getattr(exc, "constraint_name", None) != "swap_items_one_reservation":
            raise
        raise ListingUnavailable(
            "a listing in this proposal was just reserved by another accepted proposal", status="reserved"
        ) from exc
    except asyncpg.PostgresError as exc:
        cls = _BY_SQLSTATE.get(getattr(exc, "sqlstate", "") or "")
        if cls is None:
            raise
        message = getattr(exc, "message", None) or str(exc)
        raise cls(message, **_detail(exc)) from exc
