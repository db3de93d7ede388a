"""The caller's own wallet in a community: what the volunteer's page and ``/me/wallet`` both read.

The guard has entered the community and knows the caller's wallet (``Access.wallet_account_id``, opened with
the membership), so nobody needs to know an account id to read their own points.
"""

from __future__ import annotations

import ledger
from points.auth.access import Access
from points.auth.errors import NotFound


def own_wallet_id(access: Access) -> int:
    """The caller's wallet here; a person with no membership (an operator looking in) has none."""
    if access.wallet_account_id is None:
        raise NotFound("you have no wallet in this community")
    return access.wallet_account_id


async def own_balance(conn: ledger.Connection, access: Access) -> ledger.Balance:
    """Balance, held and available (O(1))."""
    return await ledger.balance(conn, access.community_id, own_wallet_id(access))


async def own_history(
    conn: ledger.Connection, access: Access, *, cursor: str | None, limit: int = ledger.DEFAULT_PAGE
) -> ledger.HistoryPage:
    """Postings newest first, each with the balance after it, keyset paginated by the ledger's cursor."""
    return await ledger.history(conn, access.community_id, own_wallet_id(access), cursor=cursor, limit=limit)
