"""Exceptions of identity and access; points/errors.py maps them to HTTP."""

from __future__ import annotations

from typing import Any, ClassVar


class AccessError(Exception):
    code: ClassVar[str] = "access_error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class LoginFailed(AccessError):
    """Wrong phone or password (deliberately not saying which)."""

    code = "login_failed"


class AccountLocked(AccessError):
    """Too many failed logins: the account is locked for a while."""

    code = "account_locked"


class NotSignedIn(AccessError):
    """The operation needs a signed-in caller (a session cookie or a Bearer token)."""

    code = "unauthorized"


class Forbidden(AccessError):
    """Signed in, but the caller's roles in this community do not allow the operation."""

    code = "forbidden"


class DeviceTokenNotAllowed(AccessError):
    """A device token (a counter terminal's, bound to one community) cannot manage the person's tokens or
    password: sign in with a password or use a personal token."""

    code = "device_token_not_allowed"


class InvalidRequest(AccessError):
    """A request about people or roles that cannot be carried out as asked."""

    code = "invalid_request"


class NotFound(AccessError):
    """No such member, household, place or token here (another community's look the same)."""

    code = "not_found"


class Conflict(AccessError):
    """The phone number, label or role is already taken."""

    code = "conflict"


class ConflictOfInterest(AccessError):
    """Nobody awards points to themselves or to their own household (户)."""

    code = "conflict_of_interest"
