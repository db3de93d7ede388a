"""Password hashing with argon2id (argon2-cffi's RFC 9106 defaults).

Hashing costs tens of milliseconds of CPU on purpose, so callers run these in a
worker thread (``anyio.to_thread``) to keep the event loop answering others.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256

_hasher = PasswordHasher()
# Verified against when the phone number is unknown, so a wrong phone costs as long as a wrong password
# and response times do not reveal who has an account.
_DUMMY_HASH = _hasher.hash("linli-points: no such person")


def check_new_password(password: str) -> list[str]:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        return [f"a password is {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"]
    return []


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash (no password set yet) never matches."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
