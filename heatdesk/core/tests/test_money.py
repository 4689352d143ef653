from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heatdesk.core.money import fen_to_yuan, format_fen, rate_times_quantity_fen, yuan_to_fen

D = Decimal


@pytest.mark.parametrize(
    ("rate", "quantity", "ratio", "fen"),
    [
        (D("25.00"), D("89.50"), D(1), 223750),
        # exactly half a fen rounds up, a hair below half rounds down
        (D("0.005"), D("1"), D(1), 1),
        (D("0.0049"), D("1"), D(1), 0),
        (D("0.015"), D("1"), D(1), 2),
        (D("0.025"), D("1"), D(1), 3),  # half-up, not banker's rounding (which gives 2)
        (D("22.35"), D("0.1"), D(1), 224),  # 223.5 fen
        (D("25.00"), D("89.50"), D("0.3"), 67125),
        (D("25.00"), D("89.50"), D("0"), 0),
        # negative amounts (credits, adjustments) round half away from zero, mirroring positives
        (D("-0.005"), D("1"), D(1), -1),
        (D("-0.0049"), D("1"), D(1), 0),
        (D("-25.00"), D("89.50"), D(1), -223750),
        (D("25.00"), D("-0.01"), D(1), -25),
    ],
)
def test_rate_times_quantity_rounds_half_up_once(rate, quantity, ratio, fen):
    assert rate_times_quantity_fen(rate, quantity, ratio) == fen


@pytest.mark.parametrize(
    ("rate", "quantity"),
    [(25.0, D("1")), (D("25"), 1.5), (D("25"), 2), ("25", D("1"))],
)
def test_rate_times_quantity_takes_decimals_only(rate, quantity):
    with pytest.raises(TypeError):
        rate_times_quantity_fen(rate, quantity)


@pytest.mark.parametrize(
    ("fen", "text", "plain"),
    [
        (0, "¥0.00", "0.00"),
        (5, "¥0.05", "0.05"),
        (-5, "-¥0.05", "-0.05"),
        (100, "¥1.00", "1.00"),
        (123450, "¥1,234.50", "1,234.50"),
        (-123450, "-¥1,234.50", "-1,234.50"),
        (100000000, "¥1,000,000.00", "1,000,000.00"),
        (-99, "-¥0.99", "-0.99"),
    ],
)
def test_format_fen_for_people(fen, text, plain):
    assert format_fen(fen) == text
    assert format_fen(fen, symbol=False) == plain


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [
        ("0", 0),
        ("0.01", 1),
        ("1234.5", 123450),
        ("1234.50", 123450),
        (D("-0.05"), -5),
        (D("12.30"), 1230),
        ("1e2", 10000),
    ],
)
def test_yuan_to_fen_is_exact(yuan, fen):
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize("yuan", ["0.001", D("0.001"), "1.005", "-0.009", "NaN", "Infinity", "abc"])
def test_yuan_to_fen_refuses_what_is_not_a_whole_number_of_fen(yuan):
    with pytest.raises(ValueError, match="fen|yuan"):
        yuan_to_fen(yuan)


@pytest.mark.parametrize("yuan", [0.5, 0.1, 12.0])
def test_yuan_to_fen_refuses_floats(yuan):
    # 0.5 and 12.0 are exact in binary: refused anyway, floats never come near money
    with pytest.raises(TypeError):
        yuan_to_fen(yuan)


@pytest.mark.parametrize(
    ("fen", "yuan"), [(0, D("0.00")), (1, D("0.01")), (-123450, D("-1234.50"))]
)
def test_fen_to_yuan_has_two_decimals(fen, yuan):
    result = fen_to_yuan(fen)
    assert result == yuan
    assert result.as_tuple().exponent == -2


@given(fen=st.integers(min_value=-(10**12), max_value=10**12))
def test_formatted_fen_parses_back_to_the_same_amount(fen):
    text = format_fen(fen, symbol=False).replace(",", "")
    assert yuan_to_fen(text) == fen
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@given(
    rate=st.decimals(min_value=D("-1000"), max_value=D("1000"), places=4),
    quantity=st.decimals(min_value=D("0"), max_value=D("100000"), places=2),
    ratio=st.decimals(min_value=D("0"), max_value=D("1"), places=3),
)
def test_rate_times_quantity_is_within_half_a_fen_of_the_exact_product(rate, quantity, ratio):
    exact = rate * quantity * ratio * 100
    fen = rate_times_quantity_fen(rate, quantity, ratio)
    assert abs(D(fen) - exact) <= D("0.5")
    # and the rounding is half-up: exactly half a fen goes away from zero
    if abs(D(fen) - exact) == D("0.5"):
        assert abs(D(fen)) > abs(exact)
