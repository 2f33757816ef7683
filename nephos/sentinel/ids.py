"""Short, readable, unique alert ids such as ``al-7f3k2q``.

The alphabet leaves out characters that read alike (0/o, 1/l/i), so an id can be read aloud
or typed from a phone notification. Randomness is injected so that tests are repeatable.
"""

from __future__ import annotations

import random

from nephos.errors import StoreError
from nephos.store.base import HotStore

__all__ = ["ALERT_ID_ALPHABET", "ALERT_ID_PREFIX", "allocate_alert_id", "new_alert_id"]

ALERT_ID_PREFIX = "al-"
ALERT_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_ID_LENGTH = 6
_MAX_ATTEMPTS = 32


def new_alert_id(rng: random.Random) -> str:
    """One random alert id; unique only with high probability (31^6 ≈ 887 million ids).

    Args:
        rng: the source of randomness.
    """
    return ALERT_ID_PREFIX + "".join(rng.choice(ALERT_ID_ALPHABET) for _ in range(_ID_LENGTH))


async def allocate_alert_id(store: HotStore, rng: random.Random) -> str:
    """An alert id that no alert in ``store`` uses yet.

    Args:
        store: the hot store whose alerts the id must not collide with.
        rng: the source of randomness.

    Raises:
        StoreError: the store could not be read, or no free id was found (which would mean
            the randomness is broken, since the id space is vast).
    """
    for _ in range(_MAX_ATTEMPTS):
        candidate = new_alert_id(rng)
        if await store.get_alert(candidate) is None:
            return candidate
    raise StoreError(f"could not find a free alert id in {_MAX_ATTEMPTS} attempts")
