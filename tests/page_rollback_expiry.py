"""The expiry settings form in the pages' all-or-nothing proof (tests/test_page_rollback.py imports this module, so
the form registers in its PAGE_RECIPES like its own): failed at every statement in turn, it changes nothing."""

from __future__ import annotations

import asyncpg

from tests.test_page_rollback import ADMIN_PASSWORD, PageCall, _admin_phone, page_recipe
from tests.test_rollback import Client, World


@page_recipe("pageExpirySettingsSave")
async def _expiry_form(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    page = f"/c/{w.slug}/settings/expiry"
    form = {"mode": "yearly", "months": "", "reset_on": "12-31"}
    return PageCall(page, page, form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)
