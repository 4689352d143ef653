"""Money is an integer number of fen. Rates are Decimals; one rounding per bill line."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100


def rate_times_quantity_fen(
    rate_yuan: Decimal, quantity: Decimal, ratio: Decimal = Decimal(1)
) -> int:
    """Yuan rate × quantity (× ratio) in fen, rounded half-up once.

    >>> rate_times_quantity_fen(Decimal("25.00"), Decimal("89.50"))
    223750
    """
    for value in (rate_yuan, quantity, ratio):
        if not isinstance(value, Decimal):
            raise TypeError("money arithmetic takes Decimal, never float or int")
    fen = (rate_yuan * quantity * ratio * FEN_PER_YUAN).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(fen)


def yuan_to_fen(yuan: Decimal | str) -> int:
    """Exact yuan (at most two decimals) to fen; anything finer is an error, not a rounding."""
    if not isinstance(yuan, Decimal | str):
        # Decimal(0.5) would pass silently: floats are refused even when they happen to be exact.
        raise TypeError("yuan_to_fen takes a Decimal or a string, never a float")
    try:
        value = Decimal(yuan)
    except InvalidOperation:
        raise ValueError(f"{yuan!r} is not an amount of yuan") from None
    if not value.is_finite():
        raise ValueError(f"{yuan} yuan is not a whole number of fen")
    fen = value * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"{yuan} yuan is not a whole number of fen")
    return int(fen)


def fen_to_yuan(fen: int) -> Decimal:
    """Fen to a two-decimal yuan Decimal (for provider protocols that speak yuan)."""
    return (Decimal(fen) / FEN_PER_YUAN).quantize(Decimal("0.01"))


def format_fen(fen: int, *, symbol: bool = True) -> str:
    """Format for people: 123450 → '¥1,234.50', -5 → '-¥0.05'."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{'¥' if symbol else ''}{yuan:,}.{cents:02d}"
