"""Hypothesis settings profiles for the whole suite, chosen by ``HYPOTHESIS_PROFILE``.

``ci`` runs the stateful ledger machine for at least 200 examples against the
real database (about 20 s on a 2-core box; keep it under four minutes) and is
derandomized; ``dev`` is a quicker, random pass for the edit-test loop.
Without ``HYPOTHESIS_PROFILE`` the profile is ``ci`` when ``CI`` is set (to
anything but an empty string, ``0``, ``false`` or ``no``) and ``dev``
otherwise. Test modules that use Hypothesis import this one; importing it
twice changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, settings

CI_MAX_EXAMPLES = 200

# Database round trips make every example slow by Hypothesis' standards, and
# how slow depends on the machine, so no deadline and no too_slow check. Both
# start from Hypothesis' defaults, not from whatever profile it loaded itself
# (it loads its own "ci" profile when it detects CI, which this one replaces).
_COMMON: dict[str, Any] = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}

# CI: derandomized, as Hypothesis recommends there, so a run is reproducible and
# cannot fail by chance (and does not need an example database).
settings.register_profile(
    "ci",
    settings.get_profile("default"),
    max_examples=CI_MAX_EXAMPLES,
    stateful_step_count=25,
    derandomize=True,
    **_COMMON,
)
# Development: random, quicker, remembers failing examples in .hypothesis/.
settings.register_profile("dev", settings.get_profile("default"), max_examples=50, stateful_step_count=15, **_COMMON)


def profile_name(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    chosen = env.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if env.get("CI", "").strip().lower() not in {"", "0", "false", "no"} else "dev"


PROFILE = profile_name()
settings.load_profile(PROFILE)
