"""Yuan on the wire, fen everywhere else: exact conversions for provider protocols and bills.

Providers write yuan as strings with exactly two decimals ("0.01", "88.88"; bill refund rows
"-0.01"). Anything else is refused rather than rounded: a parse that guesses is how a fen goes
missing in reconciliation.
"""

import re

from heatdesk.core.money import yuan_to_fen

_YUAN = re.compile(r"(0|[1-9][0-9]*)\.[0-9]{2}")


def fen_to_yuan_str(fen: int) -> str:
    """200 → "2.00"; what Alipay's total_amount/refund_amount expect."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError("fen must be an int")
    if fen < 0:
        raise ValueError("a provider amount is never negative")
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_str_to_fen(text: str, *, allow_negative: bool = False) -> int:
    """ "0.10" → 10, "-0.01" → -1 (bills only); "0.1", "1.005", "1e-3", "-0.00" are refused."""
    if not isinstance(text, str):
        raise TypeError("a provider amount must be a string, never a float")
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    if negative and not allow_negative:
        raise ValueError(f"{text!r} is negative")
    if not _YUAN.fullmatch(digits):
        raise ValueError(f"{text!r} is not an amount of yuan with two decimals")
    fen = yuan_to_fen(digits)
    if negative and fen == 0:
        raise ValueError("-0.00 is not an amount")
    return -fen if negative else fen
