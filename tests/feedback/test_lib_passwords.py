from __future__ import annotations

import pytest

from feedback.lib.passwords import ALPHABET, MIN_LENGTH, entropy_bits, generate_password


def test_passwords_are_long_random_and_from_the_alphabet():
    passwords = {generate_password() for _ in range(200)}
    assert len(passwords) == 200
    for password in passwords:
        assert len(password) >= MIN_LENGTH
        assert set(password) <= set(ALPHABET)


def test_the_alphabet_has_no_look_alikes():
    for confusable in "0Oo1lIi5Ss2Zz8BuvUV":
        assert confusable not in ALPHABET


def test_entropy_is_well_above_a_hundred_bits():
    assert entropy_bits() > 120


def test_short_passwords_are_refused():
    with pytest.raises(ValueError):
        generate_password(MIN_LENGTH - 1)
