"""The `points` command as an operator uses it: real processes, real databases."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from click.testing import CliRunner

import ledger
from ledger.queries import balances
from points.cli import main
from points.demo import SLUG as DEMO_SLUG
from points.embedded import EmbeddedPostgres
from tests.conftest import fund, plain_url

POINTS = Path(sys.executable).parent / "points"


def points_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "POINTS_DATA_DIR"}}
    env["POINTS_LOG_LEVEL"] = "warning"
    env.update(overrides)
    return env


def run_points(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(POINTS), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


async def run_points_async(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_points, *args, env=env)


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    commands = result.output.split("Commands:")[1].split()
    for command in ("serve", "migrate", "verify", "demo", "worker", "jobs"):
        assert command in commands, result.output


def test_the_installed_script_runs() -> None:
    result = run_points("--version", env=points_env())
    assert result.returncode == 0, result.stderr
    assert "0.1.0" in result.stdout


# ---- verify and demo against DATABASE_URL ---------------------------------------------------------


async def test_verify_passes_on_a_sound_ledger(database_url: str) -> None:
    result = await run_points_async("verify", env=points_env(DATABASE_URL=plain_url(database_url)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok"), result.stdout


async def test_verify_names_a_hand_edited_balance(
    conn: Any, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: ledger.Account, database_url: str
) -> None:
    wallet = await ledger.open_account(conn, community.id, "volunteer:1")
    await fund(conn, community, issuance, wallet, 40)
    neighbour = await ledger.create_community(conn, f"{community.slug}-n", "邻居社区")
    env = points_env(DATABASE_URL=plain_url(database_url))

    await owner_conn.execute("UPDATE ledger.accounts SET balance = balance + 1 WHERE id = $1", wallet.id)
    try:
        result = await run_points_async("verify", "--community", community.slug, env=env)
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"account {wallet.id} (volunteer:1)" in result.stdout
        assert "expected 40, found 41" in result.stdout
        # another community's check is not disturbed by it
        other = await run_points_async("verify", "--community", neighbour.slug, env=env)
        assert other.returncode == 0, other.stdout
    finally:
        await owner_conn.execute("UPDATE ledger.accounts SET balance = balance - 1 WHERE id = $1", wallet.id)
    result = await run_points_async("verify", "--community", community.slug, env=env)
    assert result.returncode == 0, result.stdout


async def test_verify_of_an_unknown_community_fails(database_url: str) -> None:
    result = await run_points_async(
        "verify", "--community", "no-such-community", env=points_env(DATABASE_URL=plain_url(database_url))
    )
    assert result.returncode == 1
    assert "no-such-community" in result.stdout


async def test_demo_twice_is_idempotent(conn: Any, database_url: str) -> None:
    env = points_env(DATABASE_URL=plain_url(database_url))

    async def state() -> tuple[list[tuple[str, int]], int]:
        community = await ledger.accounts.get_community(conn, DEMO_SLUG)
        accounts = [(b.account.code, b.balance) for b in await balances(conn, community.id, limit=200)]
        entries = await conn.fetchval("SELECT count(*) FROM ledger.entries WHERE community_id = $1", community.id)
        return accounts, entries

    first = await run_points_async("demo", env=env)
    assert first.returncode == 0, first.stderr
    assert "王秀英 has 16 points" in first.stdout
    after_first = await state()
    second = await run_points_async("demo", env=env)
    assert second.returncode == 0, second.stderr
    assert await state() == after_first
    assert second.stdout == first.stdout

    accounts, entries = after_first
    # the opening budget, four early awards and a redemption; this month's budget and three awarded activities;
    # three receipts at the supermarket's counter; 刘志强's award of almost a year ago, whose rest expires soon
    assert entries == 14
    wallets = sorted(balance for code, balance in accounts if code.startswith("volunteer:"))
    # eight members: four early awards, one redemption of 25, then a patrol (5), a cleanup (4) and a meeting (2);
    # at the counter 刘志强 bought soap (15), 赵玉梅 cooking oil by card (30) and 陈美华 toothpaste (12); 刘志强's 30
    # of almost a year ago (points/expiry/demo.py) take him from 26 to 56
    assert wallets == [14, 16, 19, 30, 32, 37, 46, 56]
    receipts = await conn.fetchval(
        "SELECT count(*) FROM points.receipts r JOIN ledger.communities c ON c.id = r.community_id WHERE c.slug = $1",
        DEMO_SLUG,
    )
    assert receipts == 3
    oil = await conn.fetchval(
        "SELECT stock FROM points.goods g JOIN ledger.communities c ON c.id = g.community_id"
        " WHERE c.slug = $1 AND g.name = '食用油 1.8L'",
        DEMO_SLUG,
    )
    assert oil == 2  # nearly out: on the low-stock list
    assert sum(balance for _, balance in accounts) == 0


# ---- the embedded database ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedded data directory for this module: initialised by the first test that starts it."""
    return tmp_path_factory.mktemp("points-data")


def postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    try:
        return int(pid_file.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def lock_is_free(data_dir: Path) -> bool:
    with (data_dir / "points.lock").open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


def test_a_second_process_on_the_same_data_dir_is_refused(data_dir: Path) -> None:
    holder = EmbeddedPostgres(data_dir)
    holder.start()
    try:
        pid = postmaster_pid(data_dir)
        assert pid is not None
        result = run_points("verify", env=points_env(POINTS_DATA_DIR=str(data_dir)), timeout=60)
        assert result.returncode != 0
        assert "in use" in result.stderr, result.stderr
        assert str(os.getpid()) in result.stderr, "the error names the process holding the directory"
        assert "Traceback" not in result.stderr
        assert postmaster_pid(data_dir) == pid
        assert is_running(pid), "the refused process must leave the running server alone"
    finally:
        holder.stop()
    assert lock_is_free(data_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(data_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(POINTS), "serve", "--port", str(port)],
            env=points_env(POINTS_DATA_DIR=str(data_dir)),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
                # the server it started would outlive it: stop that one too
                pid = postmaster_pid(data_dir)
                if pid is not None and is_running(pid):
                    os.kill(pid, signal.SIGTERM)


def wait_for_health(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"points serve exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                body: dict[str, Any] = r.json()
                return body
        time.sleep(0.2)
    pytest.fail(f"/health did not answer 200 within {timeout} s:\n{log.read_text()}")


def test_serve_on_the_embedded_database_and_stop_cleanly(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with serving(data_dir, port, log) as proc:
        health = wait_for_health(proc, f"http://127.0.0.1:{port}/health", log)
        assert health["database"] == "ok"
        assert health["postgres"].startswith("18."), "the embedded server is PostgreSQL 18"
        output = log.read_text()
        assert str(data_dir) in output, "serve prints where the data lives"
        assert f"http://127.0.0.1:{port}" in output

        pg_pid = postmaster_pid(data_dir)
        assert pg_pid is not None
        assert is_running(pg_pid)

        # first run: an operator was created and its one-time credentials printed; they sign in,
        # and (a browser session needs the CSRF token for writes) open a community
        creds = dict(re.findall(r"^\s+(phone|password)\s+(\S+)$", output, flags=re.MULTILINE))
        assert set(creds) == {"phone", "password"}, output
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
            assert browser.post("/api/v1/login", json=creds).status_code == 200
            me = browser.get("/api/v1/me")
            assert me.status_code == 200
            assert me.json()["is_operator"] is True
            csrf = browser.cookies["csrftoken"]
            r = browser.post(
                "/api/v1/communities", json={"slug": f"serve-{port}", "name": "e2e"}, headers={"x-csrftoken": csrf}
            )
            assert r.status_code == 201, r.text

        # a second `points serve` on the same data directory stops with a clear error, harming nothing
        second = run_points(
            "serve", "--port", str(free_port()), env=points_env(POINTS_DATA_DIR=str(data_dir)), timeout=60
        )
        assert second.returncode != 0
        assert "in use" in second.stderr, second.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200

        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"points serve did not stop within 20 s of SIGINT:\n{log.read_text()}")
        assert proc.returncode == 0, f"Ctrl-C is a normal stop, not a failure:\n{log.read_text()}"

    assert "Traceback" not in log.read_text(), log.read_text()
    assert not is_running(pg_pid), "the embedded PostgreSQL outlived points serve"
    assert postmaster_pid(data_dir) is None, "postmaster.pid left behind: PostgreSQL was not shut down cleanly"
    assert lock_is_free(data_dir)


def test_worker_runs_until_stopped_and_jobs_shows_its_runs(database_url: str, tmp_path: Path) -> None:
    """`points worker` runs the scheduled jobs beside the web processes and stops cleanly on SIGINT; `points jobs`
    then lists what ran (the hold sweep runs as soon as the worker starts its first schedule)."""
    env = points_env(DATABASE_URL=plain_url(database_url))
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(POINTS), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "worker running" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
            time.sleep(1)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
    shown = run_points("jobs", "--limit", "5", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "recent runs" in shown.stdout
    assert "given up after" in shown.stdout
