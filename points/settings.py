"""Settings, read from the environment in one place.

| variable | default | meaning |
| --- | --- | --- |
| DATABASE_URL | (none: embedded PostgreSQL) | any PostgreSQL 15+; its user owns the schema, migrates |
| POINTS_APP_DATABASE_URL | DATABASE_URL, user linli_app | how the service itself logs in |
| POINTS_DATA_DIR | the platform's user data dir + /linli-points | where the embedded PostgreSQL keeps its files |
| POINTS_HOST / POINTS_PORT | 127.0.0.1 / 8000 | where `points serve` listens |
| POINTS_LOG_LEVEL | info | debug, info, warning, error |
| POINTS_DB_POOL_SIZE | 10 | connections per server process |
| POINTS_REQUEST_LOG | 1 | 0 turns off the per-request log line (benchmarks) |
| POINTS_SECRET_KEY | random per process | signs CSRF tokens; set it when running several processes |
| POINTS_SECURE_COOKIES | 0 | 1 marks cookies Secure (serve behind HTTPS) |
| POINTS_TRUSTED_PROXIES | (none) | comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed |
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import platformdirs
from sqlalchemy.engine import make_url

APP_ROLE = "linli_app"  # created by migration 0001; the service runs every query as this role


class SettingsError(ValueError):
    """An environment variable has a value the service cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    data_dir: Path
    app_database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    pool_size: int = 10
    request_log: bool = True
    secret_key: str = ""
    secure_cookies: bool = False
    # Only a peer listed here may say who the client is (X-Forwarded-For); anyone else's header is ignored, so a
    # caller cannot pick the address the login rate limit counts and the audit trail records.
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = env.get("POINTS_DATA_DIR") or str(platformdirs.user_data_path("linli-points"))
        log_level = env.get("POINTS_LOG_LEVEL", "info").lower()
        if log_level not in {"debug", "info", "warning", "error"}:
            raise SettingsError(f"POINTS_LOG_LEVEL must be debug, info, warning or error, not {log_level!r}")
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            app_database_url=env.get("POINTS_APP_DATABASE_URL") or None,
            data_dir=Path(data_dir).expanduser(),
            host=env.get("POINTS_HOST", "127.0.0.1"),
            port=_int(env, "POINTS_PORT", 8000, 1, 65535),
            log_level=log_level,
            pool_size=_int(env, "POINTS_DB_POOL_SIZE", 10, 1, 200),
            request_log=env.get("POINTS_REQUEST_LOG", "1") not in {"0", "false", "no"},
            secret_key=env.get("POINTS_SECRET_KEY") or secrets.token_urlsafe(32),
            secure_cookies=env.get("POINTS_SECURE_COOKIES", "0") in {"1", "true", "yes"},
            trusted_proxies=_networks(env, "POINTS_TRUSTED_PROXIES"),
        )


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or networks, each checked (a typo must not silently trust nobody)."""
    found = []
    for item in env.get(name, "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            network = ipaddress.ip_network(item, strict=False) if "/" in item else ipaddress.ip_address(item)
        except ValueError as exc:
            raise SettingsError(f"{name} lists IP addresses or networks (10.0.0.0/8), not {item!r}") from exc
        found.append(str(network))
    return tuple(found)


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def app_url(owner_url: str, override: str | None = None) -> str:
    """How the service logs in: as linli_app, on the owner's server and database.

    The service must not be able to become the owner again (SET ROLE could be
    undone by RESET ROLE), so it logs in as the application role. Without a
    password that works with trust or peer authentication (the embedded server,
    local development); elsewhere give POINTS_APP_DATABASE_URL with one.
    """
    if override:
        return asyncpg_url(override)
    return make_url(asyncpg_url(owner_url)).set(username=APP_ROLE, password=None).render_as_string(hide_password=False)


def asyncpg_url(url: str) -> str:
    """The SQLAlchemy URL for asyncpg, whatever scheme DATABASE_URL was written with."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise SettingsError("DATABASE_URL must start with postgresql:// (or postgres://)")
