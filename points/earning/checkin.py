"""Rotating check-in codes: six digits that change every 30 seconds, shown by the organizer, typed or scanned
by the volunteers present.

A code is HMAC-SHA256 of the step number (seconds since the epoch // 30, eight bytes big-endian) under the
activity's own 32-byte secret, dynamically truncated to six digits as RFC 4226/6238 do. The server both shows and
checks the codes, so there is no clock drift to allow for; the previous step's code is still taken for a short
grace after it rotated (someone typing it as it changed), nothing older and nothing from a later step. A code that
was this activity's within the last few minutes is refused as *expired* rather than *wrong*, so a volunteer who
was sent a photo of the screen learns why it does not work. Everything here is pure: ``now`` is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

STEP_S = 30  # a new code every 30 seconds
CODE_DIGITS = 6
GRACE_S = 10  # the previous code is still taken this long after it rotated away
EXPIRED_WITHIN_S = 300  # a code of this activity from the last 5 minutes is "expired", not "wrong"
SECRET_BYTES = 32  # points.activities.checkin_secret (the migration checks the length too)

Refusal = Literal["wrong", "expired"]


@dataclass(frozen=True, slots=True)
class CurrentCode:
    code: str
    step_ends_at: datetime
    seconds_left: int  # until the next code, rounded up: 1 to 30


def step_of(now: datetime) -> int:
    """The 30-second step ``now`` falls in."""
    return math.floor(now.timestamp() / STEP_S)


def code_at(secret: bytes, step: int) -> str:
    """The code of one step: HMAC-SHA256, dynamic truncation (RFC 4226 section 5.3), six digits."""
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"a check-in secret is {SECRET_BYTES} bytes")
    mac = hmac.new(secret, step.to_bytes(8, "big", signed=True), hashlib.sha256).digest()
    offset = mac[-1] & 0x0F
    number = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFF_FFFF
    return str(number % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def current_code(secret: bytes, now: datetime) -> CurrentCode:
    step = step_of(now)
    ends_at = datetime.fromtimestamp((step + 1) * STEP_S, UTC)
    left = math.ceil((ends_at - now) / timedelta(seconds=1))
    return CurrentCode(code_at(secret, step), ends_at, max(1, min(STEP_S, left)))


def check_code(secret: bytes, code: str, now: datetime) -> Refusal | None:
    """None when ``code`` is taken at ``now``; otherwise why not. Every candidate is computed and compared in
    constant time whatever the code typed, so the time taken tells nothing about how close it was."""
    step = step_of(now)
    into_step_s = now.timestamp() - step * STEP_S
    typed = code.encode() if len(code) == CODE_DIGITS and code.isascii() and code.isdigit() else b"-" * CODE_DIGITS
    current = hmac.compare_digest(typed, code_at(secret, step).encode())
    previous = hmac.compare_digest(typed, code_at(secret, step - 1).encode())
    recent = False
    for back in range(2, EXPIRED_WITHIN_S // STEP_S + 1):
        recent |= hmac.compare_digest(typed, code_at(secret, step - back).encode())
    if current or (previous and into_step_s < GRACE_S):
        return None
    if previous or recent:
        return "expired"
    return "wrong"
