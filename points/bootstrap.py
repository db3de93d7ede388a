"""First run: make sure someone can sign in.

On a database with no platform operator, `points serve` creates one and prints
the credentials once. Only the database owner can make operators (the service
role cannot set the flag), so this runs on an owner connection.
"""

from __future__ import annotations

import secrets

import anyio.to_thread
import asyncpg

from points.auth.passwords import hash_password
from points.settings import asyncpg_url

DEFAULT_OPERATOR_PHONE = "10000000000"


def _plain(url: str) -> str:
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


async def ensure_operator(owner_url: str, phone: str = DEFAULT_OPERATOR_PHONE) -> str | None:
    """Create an operator if there is none; returns the one-time message with the credentials, or None."""
    conn = await asyncpg.connect(_plain(owner_url))
    try:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM points.people WHERE is_operator)"):
            return None
        password = secrets.token_urlsafe(12)
        password_hash = await anyio.to_thread.run_sync(hash_password, password)
        await conn.execute(
            "INSERT INTO points.people (phone, password_hash, is_operator) VALUES ($1, $2, true) "
            "ON CONFLICT (phone) DO UPDATE SET password_hash = EXCLUDED.password_hash, is_operator = true",
            phone,
            password_hash,
        )
        await conn.execute(
            "INSERT INTO points.audit_log (action, subject) VALUES ('operator.created', 'first run')",
        )
    finally:
        await conn.close()
    return (
        "first run: created the platform operator\n"
        f"  phone    {phone}\n"
        f"  password {password}\n"
        "  (shown once: sign in at POST /api/v1/login and change it at POST /api/v1/me/password)"
    )


async def make_operator(owner_url: str, phone: str, password: str) -> None:
    """Create or reset an operator (for `points operator`)."""
    password_hash = await anyio.to_thread.run_sync(hash_password, password)
    conn = await asyncpg.connect(_plain(owner_url))
    try:
        await conn.execute(
            "INSERT INTO points.people (phone, password_hash, is_operator) VALUES ($1, $2, true) "
            "ON CONFLICT (phone) DO UPDATE SET password_hash = EXCLUDED.password_hash, is_operator = true, "
            "failed_logins = 0, locked_until = NULL",
            phone,
            password_hash,
        )
        await conn.execute("INSERT INTO points.audit_log (action, subject) VALUES ('operator.set', 'points operator')")
    finally:
        await conn.close()
