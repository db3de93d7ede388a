from typing import Any

import ledger
from tests.conftest import fund


async def test_award_then_balance(conn: Any, community: ledger.Community, issuance: ledger.Account) -> None:
    wallet = await ledger.open_account(conn, community.id, "volunteer:1")
    await fund(conn, community, issuance, wallet, 50)
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 50
