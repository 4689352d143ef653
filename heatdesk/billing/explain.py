"""How numbers read in a bill line's explanation (Simplified Chinese)."""

import datetime as dt
from decimal import Decimal

from heatdesk.core.money import format_fen

_CENT = Decimal("0.01")


def _plain(value: Decimal) -> str:
    """A Decimal without trailing zeros or exponent: 30.00 → '30', 2.50 → '2.5'."""
    return format(value.normalize(), "f")


def yuan(fen: int) -> str:
    """2148.00元, 1,234,567.89元, -56.40元."""
    return f"{format_fen(fen, symbol=False)}元"


def area(value: Decimal) -> str:
    """Areas always show two decimals, as on a 房产证: 89.50."""
    return format(value.quantize(_CENT), "f")


def price(value: Decimal) -> str:
    """Prices show at least two decimals and no useless zeros: 25.00, 0.158, 44.45."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        return format(value.quantize(_CENT), "f")
    return format(normal, "f")


def quantity(value: Decimal) -> str:
    """A metered quantity with thousands separators: 6,543.2."""
    return format(value.normalize(), ",f")


def percent(ratio: Decimal) -> str:
    """0.30 → 30%, 0.025 → 2.5%, 1.15 → 115%."""
    return f"{_plain(ratio * 100)}%"


def permille(ratio: Decimal) -> str:
    """0.002 → 2‰, 0.0015 → 1.5‰."""
    return f"{_plain(ratio * 1000)}‰"


def day(value: dt.date) -> str:
    return value.isoformat()


def period(first: dt.date, last: dt.date) -> str:
    return f"{day(first)}至{day(last)}"
