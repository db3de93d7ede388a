"""The kinds of value a request may carry, with their limits, for every handler and request body.

Each limit is named once: the ledger's own (``ledger.model``) are imported, the service's are here. Bodies use
the msgspec aliases (``Id``, ``Amount``, ``Memo`` ...); path and query parameters the Litestar ones (``PathId``,
``AfterId`` ...), which say the same in Litestar's terms. Nothing bigger than PostgreSQL's bigint, and no text
with U+0000 (which PostgreSQL cannot store), gets past decoding: both used to end as a 500 from the driver.
``points/strict_input.py`` makes decoding strict (``"1"`` is not an integer) and refuses naive or absurd times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar.params import Parameter

from ledger import MAX_ACCOUNT_CODE_CHARS
from ledger import MAX_NAME_CHARS as MAX_LEDGER_NAME_CHARS
from ledger.model import MAX_AMOUNT, MAX_BIGINT, MAX_HOLD_TIMEOUT_S, MAX_ID, MAX_MEMO_CHARS, MAX_REASON_CHARS
from points.auth.passwords import MAX_PASSWORD_CHARS
from points.auth.tokens import MAX_LIFETIME_DAYS
from points.members.service import MAX_NAME_CHARS

# A regular expression every text field carries: msgspec refuses U+0000 while decoding. The error map
# (points/errors.py) recognises it and says so in words.
NO_NUL_PATTERN = r"^[^\x00]*$"

MAX_PHONE_CHARS = 32  # as typed, with spaces or dashes; points/auth/identity.py PHONE checks what is left

# ---- integers -------------------------------------------------------------------------------------

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID, description="an id: 1 to 2^63-1")]
Amount = Annotated[int, msgspec.Meta(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
PositiveAmount = Annotated[int, msgspec.Meta(ge=1, le=MAX_AMOUNT)]
Bound = Annotated[int, msgspec.Meta(ge=-MAX_BIGINT, le=MAX_BIGINT)]
TimeoutS = Annotated[int, msgspec.Meta(ge=1, le=MAX_HOLD_TIMEOUT_S)]
TokenDays = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIFETIME_DAYS)]

PathId = Annotated[int, Parameter(ge=1, le=MAX_ID)]
PathText = Annotated[str, Parameter(max_length=MAX_NAME_CHARS, pattern=NO_NUL_PATTERN)]  # a role's name
AfterId = Annotated[int, Parameter(ge=0, le=MAX_ID, description="the last id of the previous page (0: from the start)")]
BeforeId = Annotated[int | None, Parameter(ge=1, le=MAX_ID, description="the last id of the previous page")]

# ---- text -----------------------------------------------------------------------------------------

Text = Annotated[str, msgspec.Meta(pattern=NO_NUL_PATTERN)]  # no length of its own: dict keys, kinds, roles
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS, pattern=NO_NUL_PATTERN)]
CommunityName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_LEDGER_NAME_CHARS, pattern=NO_NUL_PATTERN)]
AccountName = Annotated[str, msgspec.Meta(max_length=MAX_LEDGER_NAME_CHARS, pattern=NO_NUL_PATTERN)]
AccountCode = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ACCOUNT_CODE_CHARS, pattern=NO_NUL_PATTERN)]
Label = Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS, pattern=NO_NUL_PATTERN)]
Memo = Annotated[str, msgspec.Meta(max_length=MAX_MEMO_CHARS, pattern=NO_NUL_PATTERN)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REASON_CHARS, pattern=NO_NUL_PATTERN)]
Phone = Annotated[str, msgspec.Meta(max_length=MAX_PHONE_CHARS, pattern=NO_NUL_PATTERN)]
Password = Annotated[str, msgspec.Meta(max_length=MAX_PASSWORD_CHARS, pattern=NO_NUL_PATTERN)]
MetadataKey = Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS, pattern=NO_NUL_PATTERN)]

# ---- lists and times ------------------------------------------------------------------------------

# A time must say its zone: "2026-11-01T09:00:00" could be Beijing or UTC, eight hours apart, so it is refused
# rather than guessed. The window (ledger.model EARLIEST_TIME .. LATEST_TIME) is checked by the Structs'
# __post_init__ and, for query parameters, by points/strict_input.py.
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
