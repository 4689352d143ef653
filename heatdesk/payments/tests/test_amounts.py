"""Yuan on the wire ↔ fen everywhere else: exact, or refused."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heatdesk.payments.providers.amounts import fen_to_yuan_str, yuan_str_to_fen


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [
        ("0.01", 1),
        ("0.10", 10),
        ("1.00", 100),
        ("2237.50", 223750),
        ("99999999.99", 9999999999),
        ("100000000.00", 10000000000),
        ("123456789012345.67", 12345678901234567),
    ],
)
def test_two_decimal_yuan_converts_exactly_both_ways(yuan, fen):
    assert yuan_str_to_fen(yuan) == fen
    assert fen_to_yuan_str(fen) == yuan


@pytest.mark.parametrize(
    "text",
    [
        "0.1",
        "1.5",
        "1.005",
        "1e-3",
        "1E2",
        "-0.00",
        "-1.00",
        " 1.00",
        "1.00 ",
        "01.00",
        "1,000.00",
        "",
        ".50",
        "1.",
        "NaN",
        "Infinity",
        "１.００",
    ],
)
def test_anything_but_two_decimal_yuan_is_refused(text):
    with pytest.raises(ValueError, match="yuan|negative|amount"):
        yuan_str_to_fen(text)


def test_bill_rows_may_be_negative_but_never_minus_zero():
    assert yuan_str_to_fen("-0.01", allow_negative=True) == -1
    assert yuan_str_to_fen("-50.00", allow_negative=True) == -5000
    with pytest.raises(ValueError, match="-0.00"):
        yuan_str_to_fen("-0.00", allow_negative=True)


@pytest.mark.parametrize("value", [0.1, 1, Decimal("0.10"), None])
def test_only_strings_come_off_the_wire(value):
    with pytest.raises(TypeError):
        yuan_str_to_fen(value)


@pytest.mark.parametrize(
    ("value", "error"), [(1.0, TypeError), (True, TypeError), (-1, ValueError)]
)
def test_fen_to_yuan_takes_a_non_negative_int(value, error):
    with pytest.raises(error):
        fen_to_yuan_str(value)


@given(st.integers(min_value=0, max_value=10**15))
def test_every_fen_amount_round_trips(fen):
    assert yuan_str_to_fen(fen_to_yuan_str(fen)) == fen
