"""Opaque bearer tokens for API clients and counter terminals.

A token is ``lp_`` + 32 random bytes (URL-safe base64). Only its SHA-256 is
stored, so a copy of the database does not hand out working tokens; a
fast hash is right here because the token itself has 256 bits of entropy.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "lp_"
MAX_LIFETIME_DAYS = 366


def new_token() -> tuple[str, bytes]:
    """A fresh token to show once, and the digest to store."""
    token = PREFIX + secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX) and 20 < len(value) < 100
