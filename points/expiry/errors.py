"""Refusals of points expiry. points/errors.py maps each to its HTTP status; migration 0015 refuses the same beneath
(SQLSTATE LX001, LX002)."""

from __future__ import annotations

from points.earning.errors import EarningError


class ExpiryNotPostable(EarningError):
    """Expiry entries and the community's expired account are the expiry job's: a hand-written entry or hold may not
    be of kind expiry nor name the expired account (expired points never come back)."""

    code = "expiry_not_postable"


class ExpiryEntryNotReversed(EarningError):
    """An expiry entry is never reversed: expired points stay expired (a wrong setting is changed for the future)."""

    code = "expiry_entry_not_reversed"
