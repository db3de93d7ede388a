"""The double-entry core of Linli Points.

Accounts belong to a community (the tenant) and keep one unit (points, or
minutes for a time bank). An entry moves amounts between accounts: two or more
postings that sum to zero per unit. Entries are never changed; a mistake is
corrected by a reversing entry. Holds reserve an amount to post or void later.

Every rule is checked here in Python before a write (``model.check_entry``)
and again by PostgreSQL underneath (migration 0001: a deferred zero-sum
trigger, append-only triggers and grants, CHECKs on bounded balances, a unique
idempotency key per community). Writing an entry is one call of a SQL
function: one round trip, locking only bounded accounts, in id order.

This package imports nothing from ``points`` or ``catalog`` and no web code.
"""

from ledger.accounts import (
    ACCOUNT_CODE,
    MAX_ACCOUNT_CODE_CHARS,
    MAX_NAME_CHARS,
    SLUG,
    UNIT_CODE,
    Account,
    Community,
    add_unit,
    create_community,
    find_account,
    get_account,
    get_community,
    open_account,
)
from ledger.db import Connection, enter, entered, leave, transaction
from ledger.errors import LedgerError
from ledger.holds import Hold, expire_holds, get_hold, place_hold, post_hold, void_hold
from ledger.integrity import verify
from ledger.model import Line, NewEntry, PostedEntry, Posting
from ledger.posting import post_entry, reverse_entry
from ledger.queries import (
    DEFAULT_PAGE,
    MAX_PAGE,
    Balance,
    EntryView,
    HistoryLine,
    HistoryPage,
    balance,
    balance_as_of,
    balances,
    get_entry,
    history,
    trial_balance,
)

# The service uses the ledger through these names (and ledger.errors, ledger.model, ledger.tables);
# tests/test_architecture.py keeps it from reaching into the other modules.
__all__ = [
    "ACCOUNT_CODE",
    "DEFAULT_PAGE",
    "MAX_ACCOUNT_CODE_CHARS",
    "MAX_NAME_CHARS",
    "MAX_PAGE",
    "SLUG",
    "UNIT_CODE",
    "Account",
    "Balance",
    "Community",
    "Connection",
    "EntryView",
    "HistoryLine",
    "HistoryPage",
    "Hold",
    "LedgerError",
    "Line",
    "NewEntry",
    "PostedEntry",
    "Posting",
    "add_unit",
    "balance",
    "balance_as_of",
    "balances",
    "create_community",
    "enter",
    "entered",
    "expire_holds",
    "find_account",
    "get_account",
    "get_community",
    "get_entry",
    "get_hold",
    "history",
    "leave",
    "open_account",
    "place_hold",
    "post_entry",
    "post_hold",
    "reverse_entry",
    "transaction",
    "trial_balance",
    "verify",
    "void_hold",
]
