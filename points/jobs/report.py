"""What the jobs did: recent runs and failures, read from the queue's own log (``points jobs``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from points.jobs.worker import MAX_ATTEMPTS

RECENT_RUNS = 20


@dataclass(frozen=True, slots=True)
class Run:
    job_id: int
    job: str
    status: str  # queued | picked | successful | exception | failed | canceled | deleted
    at: datetime
    failures: int  # attempts that raised, so far
    last_error: str | None  # the last line of the last traceback


@dataclass(frozen=True, slots=True)
class Report:
    runs: list[Run]
    failed: list[Run]  # given up after every retry, kept for a person to look at


def _last_line(traceback: Any) -> str | None:
    if traceback is None:
        return None
    data = json.loads(traceback) if isinstance(traceback, str) else traceback
    text = str(data.get("traceback") or data.get("exception_message") or data) if isinstance(data, dict) else str(data)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


_RUNS = """
SELECT l.job_id, l.entrypoint, l.status::text AS status, l.created,
       (SELECT count(*) FROM pgqueuer_log f WHERE f.job_id = l.job_id AND f.traceback IS NOT NULL) AS failures,
       (SELECT f.traceback FROM pgqueuer_log f WHERE f.job_id = l.job_id AND f.traceback IS NOT NULL
         ORDER BY f.id DESC LIMIT 1) AS traceback
  FROM (SELECT DISTINCT ON (job_id) * FROM pgqueuer_log ORDER BY job_id DESC, id DESC) l
 WHERE {where}
 ORDER BY l.job_id DESC LIMIT $1
"""


def _run(r: Any) -> Run:
    return Run(r["job_id"], r["entrypoint"], r["status"], r["created"], r["failures"], _last_line(r["traceback"]))


async def report(conn: Any, *, limit: int = RECENT_RUNS) -> Report:
    runs = [_run(r) for r in await conn.fetch(_RUNS.format(where="true"), limit)]
    failed = [_run(r) for r in await conn.fetch(_RUNS.format(where="l.status = 'failed'"), limit)]
    return Report(runs, failed)


def render(r: Report) -> str:
    """Plain text for a terminal: the latest runs, then the jobs given up on."""
    out = [f"recent runs (latest {len(r.runs)}):"]
    if not r.runs:
        out.append("  none yet")
    for run in r.runs:
        retried = f", {run.failures} failed attempt(s)" if run.failures else ""
        out.append(f"  #{run.job_id:<6} {run.job:<26} {run.status:<11} {run.at:%Y-%m-%d %H:%M:%S}{retried}")
        if run.last_error and run.status != "successful":
            out.append(f"          {run.last_error}")
    out.append(f"given up after {MAX_ATTEMPTS} attempts: {len(r.failed) or 'none'}")
    for run in r.failed:
        out.append(f"  #{run.job_id:<6} {run.job:<26} {run.at:%Y-%m-%d %H:%M:%S}  {run.last_error or ''}")
    return "\n".join(out)
