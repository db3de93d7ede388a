"""``/me/wallet``: the signed-in member's own wallet and its history, without knowing its account id."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import FromPath, Parameter

import ledger
from points import wallet
from points.ledger_web import HistoryOut, history_out
from points.openapi import problems
from points.wiring import Conn, CurrentAccess


class WalletOut(msgspec.Struct):
    account_id: int
    unit: str
    balance: int
    held: int
    available: int


class WalletController(Controller):
    path = "/api/v1/communities/{slug:str}/me/wallet"
    tags = ["ledger"]  # noqa: RUF012

    @get("/", operation_id="getMyWallet", responses=problems(400, 401, 403, 404))
    async def read(self, conn: Conn, access: CurrentAccess, slug: FromPath[str]) -> WalletOut:
        """Your wallet in this community: balance, held by open holds, and what is available to spend."""
        found = await wallet.own_balance(conn, access)
        return WalletOut(found.account.id, found.account.unit, found.balance, found.held, found.available)

    @get("/history", operation_id="getMyWalletHistory", responses=problems(400, 401, 403, 404))
    async def history(
        self,
        conn: Conn,
        access: CurrentAccess,
        slug: FromPath[str],
        cursor: Annotated[str | None, Parameter(max_length=64)] = None,
        limit: Annotated[int, Parameter(ge=1, le=ledger.MAX_PAGE)] = ledger.DEFAULT_PAGE,
    ) -> HistoryOut:
        """Your postings newest first, each with the balance after it; pass next_cursor for the next page."""
        page = await wallet.own_history(conn, access, cursor=cursor, limit=limit)
        return history_out(wallet.own_wallet_id(access), page)
