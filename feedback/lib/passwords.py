"""Monthly archive passwords: random, long, and easy to type from an SMS.

The alphabet leaves out characters people confuse when they read a password on a phone and type it
into 7-Zip: 0/O/o, 1/l/I/i, 5/S/s, 2/Z/z, 8/B, u/v/V/U.
"""

from __future__ import annotations

import math
import secrets

ALPHABET = "34679abcdefghjkmnpqrtwxyACDEFGHJKLMNPQRTWXY"
DEFAULT_LENGTH = 24
MIN_LENGTH = 20


def generate_password(length: int = DEFAULT_LENGTH, *, alphabet: str = ALPHABET) -> str:
    """A password of `length` characters drawn with `secrets` (a CSPRNG) from `alphabet`."""
    if length < MIN_LENGTH:
        raise ValueError(f"An archive password has at least {MIN_LENGTH} characters.")
    if len(set(alphabet)) != len(alphabet) or len(alphabet) < 16:
        raise ValueError("The alphabet must have at least 16 distinct characters.")
    return "".join(secrets.choice(alphabet) for _ in range(length))


def entropy_bits(length: int = DEFAULT_LENGTH, *, alphabet: str = ALPHABET) -> float:
    return length * math.log2(len(alphabet))
