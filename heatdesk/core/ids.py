"""Public identifiers: non-sequential, so a resident cannot guess another's object by counting."""

import secrets

# Crockford-style alphabet without I, L, O, U: readable aloud and over the phone.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_public_id(prefix: str = "", length: int = 16) -> str:
    """A random id such as 'hs_7K3M9Q2XW4PA8B1N' (80 bits for the default length)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return f"{prefix}_{body}" if prefix else body


def new_short_code(length: int = 8) -> str:
    """A short code a person can read out (for bookings, receipts)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
