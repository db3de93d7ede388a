"""What the whole database holds, table by table, to show that a refused or failed request changed nothing.

Every table in every schema but PostgreSQL's own is read (as the owner: row-level security would hide other
communities), so a table added later is covered without anyone listing it.

One column is left out: ``api_tokens.last_used_at``, which the authentication step touches at most once a
minute, in the statement that checks the token, before the operation itself runs.
"""

from __future__ import annotations

from typing import Any

EXCLUDED_COLUMNS = {"points.api_tokens": ("last_used_at",)}

Snapshot = dict[str, tuple[int, str]]


async def snapshot(owner: Any) -> Snapshot:
    """Row count and a digest of every row, per table."""
    tables = await owner.fetch(
        "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY 1"
    )
    parts = []
    for t in tables:
        name = t["name"]
        dropped = "".join(f" - '{c}'" for c in EXCLUDED_COLUMNS.get(name, ()))
        parts.append(
            f"SELECT '{name}' AS name, count(*) AS n, md5(coalesce(string_agg(d, ',' ORDER BY d), '')) AS digest "
            f"FROM (SELECT md5((to_jsonb(t){dropped})::text) AS d FROM {name} t) s"
        )
    rows = await owner.fetch(" UNION ALL ".join(parts))
    return {r["name"]: (r["n"], r["digest"]) for r in rows}


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """The tables whose rows differ."""
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
