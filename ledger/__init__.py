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

from ledger.accounts import Account, Community, create_community, get_account, open_account
from ledger.errors import LedgerError
from ledger.holds import Hold, expire_holds, place_hold, post_hold, void_hold
from ledger.model import Line, NewEntry, PostedEntry, Posting
from ledger.posting import post_entry, reverse_entry
from ledger.queries import Balance, balance, history, trial_balance

__all__ = [
    "Account",
    "Balance",
    "Community",
    "Hold",
    "LedgerError",
    "Line",
    "NewEntry",
    "PostedEntry",
    "Posting",
    "balance",
    "create_community",
    "expire_holds",
    "get_account",
    "history",
    "open_account",
    "place_hold",
    "post_entry",
    "post_hold",
    "reverse_entry",
    "trial_balance",
    "void_hold",
]
