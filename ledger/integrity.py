"""`points verify`: recompute everything the ledger stores from its postings.

Constraints guard every write; this guards against what constraints cannot
see (a superuser's hand edit, a restored backup, a bug in a function). Each
check is one set-based query; the first discrepancy of each kind is reported
with what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger import db


@dataclass(frozen=True, slots=True)
class Discrepancy:
    check: str
    community_id: int
    subject: str  # "account 12", "entry 40"
    expected: int
    found: int

    def __str__(self) -> str:
        return (
            f"{self.check}: community {self.community_id}, {self.subject}: expected {self.expected}, found {self.found}"
        )


# (name, query returning community_id, subject, expected, found) — rows are discrepancies.
_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "entry balances",
        """SELECT e.community_id, 'entry ' || e.id || ' unit ' || p.unit, 0::bigint, sum(p.amount)::bigint
             FROM ledger.entries e JOIN ledger.postings p ON p.entry_id = e.id
            WHERE ($1::bigint IS NULL OR e.community_id = $1)
            GROUP BY e.community_id, e.id, p.unit HAVING sum(p.amount) <> 0
            ORDER BY e.id LIMIT $2""",
    ),
    (
        "entry posting count",
        """SELECT e.community_id, 'entry ' || e.id, e.posting_count::bigint, count(p.id)::bigint
             FROM ledger.entries e LEFT JOIN ledger.postings p ON p.entry_id = e.id AND p.community_id = e.community_id
            WHERE ($1::bigint IS NULL OR e.community_id = $1)
            GROUP BY e.id, e.community_id HAVING count(p.id) <> e.posting_count OR count(p.id) < 2
            ORDER BY e.id LIMIT $2""",
    ),
    (
        "account balance",
        """WITH sums AS (SELECT account_id, sum(amount)::bigint AS total FROM ledger.postings
                          WHERE ($1::bigint IS NULL OR community_id = $1) GROUP BY account_id),
                stripes AS (SELECT account_id, sum(balance)::bigint AS total FROM ledger.account_stripes
                             WHERE ($1::bigint IS NULL OR community_id = $1) GROUP BY account_id)
           SELECT a.community_id, 'account ' || a.id || ' (' || a.code || ')',
                  coalesce(s.total, 0),
                  CASE WHEN a.lower_bound IS NULL AND a.upper_bound IS NULL
                       THEN coalesce(st.total, 0) + a.balance ELSE a.balance END
             FROM ledger.accounts a
             LEFT JOIN sums s ON s.account_id = a.id
             LEFT JOIN stripes st ON st.account_id = a.id
            WHERE ($1::bigint IS NULL OR a.community_id = $1)
              AND coalesce(s.total, 0) <> CASE WHEN a.lower_bound IS NULL AND a.upper_bound IS NULL
                                              THEN coalesce(st.total, 0) + a.balance ELSE a.balance END
            ORDER BY a.id LIMIT $2""",
    ),
    (
        "running balance",
        """SELECT community_id, 'posting ' || id || ' of account ' || account_id, expected, balance_after
             FROM (SELECT p.community_id, p.id, p.account_id, p.balance_after,
                          sum(p.amount) OVER (PARTITION BY p.account_id ORDER BY p.id)::bigint AS expected
                     FROM ledger.postings p JOIN ledger.accounts a ON a.id = p.account_id
                    WHERE ($1::bigint IS NULL OR p.community_id = $1)
                      AND (a.lower_bound IS NOT NULL OR a.upper_bound IS NOT NULL)) r
            WHERE balance_after IS DISTINCT FROM expected
            ORDER BY id LIMIT $2""",
    ),
    (
        "held amount",
        """SELECT a.community_id, 'account ' || a.id || ' (' || a.code || ')',
                  coalesce((SELECT sum(h.amount) FROM ledger.holds h
                             WHERE h.account_id = a.id AND h.status = 'active'), 0)::bigint, a.held
             FROM ledger.accounts a
            WHERE ($1::bigint IS NULL OR a.community_id = $1)
              AND (a.lower_bound IS NOT NULL OR a.upper_bound IS NOT NULL)
              AND a.held <> coalesce((SELECT sum(h.amount) FROM ledger.holds h
                                       WHERE h.account_id = a.id AND h.status = 'active'), 0)
            ORDER BY a.id LIMIT $2""",
    ),
    (
        "trial balance",
        """WITH bal AS (
               SELECT a.community_id, a.unit,
                      CASE WHEN a.lower_bound IS NULL AND a.upper_bound IS NULL
                           THEN (SELECT coalesce(sum(s.balance), 0) FROM ledger.account_stripes s
                                  WHERE s.account_id = a.id) ELSE a.balance END AS b
                 FROM ledger.accounts a WHERE ($1::bigint IS NULL OR a.community_id = $1))
           SELECT community_id, 'unit ' || unit, 0::bigint, sum(b)::bigint FROM bal
            GROUP BY community_id, unit HAVING sum(b) <> 0 ORDER BY community_id LIMIT $2""",
    ),
)


async def verify(conn: db.Connection, community_id: int | None = None, *, limit: int = 10) -> list[Discrepancy]:
    """Every discrepancy found (at most ``limit`` per check); an empty list means the ledger is sound."""
    found: list[Discrepancy] = []
    for name, query in _CHECKS:
        for row in await conn.fetch(query, community_id, limit):
            found.append(Discrepancy(name, row[0], row[1], row[2], row[3]))
    return found
