"""Bulk import of members from CSV, the way communities actually start.

Columns (a header row is required; order does not matter):
    name       display name (required)
    phone      mobile number (optional: no phone means no sign-in, served by proxy)
    household  household label, e.g. 3-201 (optional; created on first mention)
    roles      roles separated by ; (optional; default volunteer)

Every row is checked first. If any row is bad, nothing is imported and the
report lists every bad row with its line number; a dry run only reports.

The export writes the same columns (through points/csv_out.py, which makes formula-like text inert), so an
exported register imports back as it was stored.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import ledger
from ledger.model import NO_NUL, NUL
from points import csv_out
from points.auth.errors import InvalidRequest
from points.auth.identity import MAX_PHONE_DIGITS, MIN_PHONE_DIGITS, PHONE, mask_phone
from points.auth.policy import COMMUNITY_ROLES
from points.field_problems import field_problem
from points.members import service

MAX_ROWS = 5_000
REQUIRED = ("name",)
KNOWN = ("name", "phone", "household", "roles")


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    name: str
    phone: str | None
    household: str | None
    roles: tuple[str, ...]


@dataclass(slots=True)
class Report:
    rows: int = 0
    imported: int = 0
    dry_run: bool = True
    errors: list[dict[str, object]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def decode(raw: bytes) -> str:
    """CSV files come as UTF-8 or, saved by Excel on a Chinese Windows, as GBK (GB18030 is its superset)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidRequest(
        "the file is neither UTF-8 nor GB18030 text", errors=[field_problem("file", "not_text", source="csv")]
    )


def _csv(column: str, code: str, words: str, **params: Any) -> dict[str, Any]:
    return field_problem(column, code, source="csv", message=words, **params)


def _bad_line(line: int, problems: list[dict[str, Any]]) -> dict[str, object]:
    """A bad line of the report: its problems in English (``problems``, as the API always said them) and as field
    problems with codes (``errors``, points/field_problems.py), which the pages word in the reader's language."""
    return {"line": line, "problems": [str(p["message"]) for p in problems], "errors": problems}


def parse(text: str) -> tuple[list[Row], list[dict[str, object]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a BOM
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in KNOWN]
    if missing or unknown:
        raise InvalidRequest(
            f"the header must name the columns {', '.join(KNOWN)} (name required)",
            missing=missing,
            unknown=unknown,
            errors=[field_problem("header", "missing_field", source="csv", field=c) for c in missing]
            + [field_problem("header", "unknown_field", source="csv", field=c) for c in unknown],
        )
    rows: list[Row] = []
    errors: list[dict[str, object]] = []
    seen_phones: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            problem = field_problem("csv", "too_long", source="csv", max=MAX_ROWS, unit="items")
            raise InvalidRequest(f"at most {MAX_ROWS} rows per import", errors=[problem])
        record = {k.strip().lower(): csv_out.unescape_cell((v or "").strip()) for k, v in raw.items() if k is not None}
        # PostgreSQL cannot store U+0000: a bad row like any other, named by its column.
        problems = [
            _csv(column, "contains_nul", f"{column} {NO_NUL}") for column, value in record.items() if NUL in value
        ]
        name = record.get("name", "")
        if not 1 <= len(name) <= service.MAX_NAME_CHARS:
            words = f"name must be 1 to {service.MAX_NAME_CHARS} characters"
            limit = {"max": service.MAX_NAME_CHARS, "unit": "characters"}
            problems.append(_csv("name", "required", words) if not name else _csv("name", "too_long", words, **limit))
        phone = record.get("phone", "").replace(" ", "").replace("-", "") or None
        if phone is not None:
            if not PHONE.match(phone):
                digits = {"min_digits": MIN_PHONE_DIGITS, "max_digits": MAX_PHONE_DIGITS}
                problems.append(_csv("phone", "not_a_phone", "phone must be 6 to 20 digits", **digits))
            elif phone in seen_phones:
                words = f"phone {mask_phone(phone)} also on line {seen_phones[phone]}"
                problems.append(_csv("phone", "repeated", words, line=seen_phones[phone]))
            else:
                seen_phones[phone] = number
        roles = tuple(r.strip() for r in record.get("roles", "").split(";") if r.strip()) or ("volunteer",)
        bad_roles = [r for r in roles if r not in COMMUNITY_ROLES]
        if bad_roles:
            words = f"unknown role(s) {', '.join(bad_roles)}; roles are {', '.join(COMMUNITY_ROLES)}"
            problems.append(_csv("roles", "not_one_of", words, allowed=list(COMMUNITY_ROLES), value=bad_roles))
        household = record.get("household") or None
        if household is not None and len(household) > service.MAX_NAME_CHARS:
            words = "household label is at most 100 characters"
            problems.append(_csv("household", "too_long", words, max=service.MAX_NAME_CHARS, unit="characters"))
        if problems:
            errors.append(_bad_line(number, problems))
        else:
            rows.append(Row(number, name, phone, household, roles))
    return rows, errors


async def import_members(conn: Any, community_id: int, text: str, *, dry_run: bool, actor_person_id: int) -> Report:
    """``conn`` is an asyncpg connection: the import runs in one transaction of its own."""
    rows, errors = parse(text)
    report = Report(rows=len(rows) + len(errors), dry_run=dry_run, errors=errors)
    await ledger.enter(conn, community_id)
    # Phones that are already members here are bad rows too, found before anything is written.
    phones = [r.phone for r in rows if r.phone]
    if phones:
        taken = {
            rec["phone"]
            for rec in await conn.fetch(
                "SELECT p.phone FROM points.members m JOIN points.people p ON p.id = m.person_id "
                "WHERE m.community_id = $1 AND p.phone = ANY($2::text[])",
                community_id,
                phones,
            )
        }
        for r in rows:
            if r.phone is not None and r.phone in taken:
                words = f"phone {mask_phone(r.phone)} is already a member"
                report.errors.append(_bad_line(r.line, [_csv("phone", "taken", words)]))
    report.errors.sort(key=lambda e: int(str(e["line"])))
    if dry_run or report.errors:
        return report
    async with ledger.transaction(conn):  # all rows or none
        for r in rows:
            await service.create_member(
                conn,
                community_id,
                actor_person_id=actor_person_id,
                display_name=r.name,
                phone=r.phone,
                household=r.household,
                roles=r.roles,
            )
    report.imported = len(rows)
    return report


async def export_members(conn: Any, community_id: int) -> bytes:
    """The register as CSV with the import's columns: every member who has not left, in the order they joined.
    Phones in full, so admins only (points/auth/policy.py)."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        """SELECT m.display_name, p.phone, h.label,
                  coalesce((SELECT string_agg(DISTINCT g.role, ';' ORDER BY g.role) FROM points.role_grants g
                             WHERE g.member_id = m.id AND g.revoked_at IS NULL), '') AS roles
             FROM points.members m
             LEFT JOIN points.people p ON p.id = m.person_id
             LEFT JOIN points.households h ON h.id = m.household_id
            WHERE m.community_id = $1 AND m.status <> 'left'
            ORDER BY m.id""",
        community_id,
    )
    return csv_out.write_csv(KNOWN, ((r["display_name"], r["phone"], r["label"], r["roles"]) for r in rows))
