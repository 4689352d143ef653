"""Amounts in Chinese capital numerals, as the receipt prints them: worked examples and
properties (every digit present, no doubled 零, 整 exactly when there are no 分)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heatdesk.payments.capital_numerals import DIGITS, MAX_FEN, amount_in_capitals


@pytest.mark.parametrize(
    ("fen", "words"),
    [
        (0, "零元整"),
        (1, "壹分"),
        (10, "壹角整"),
        (15, "壹角伍分"),
        (100, "壹元整"),
        (105, "壹元零伍分"),
        (110, "壹元壹角整"),
        (1000, "壹拾元整"),
        (1010, "壹拾元壹角整"),
        (1500, "壹拾伍元整"),
        (10000, "壹佰元整"),
        (10001, "壹佰元零壹分"),
        (100000, "壹仟元整"),
        (100100, "壹仟零壹元整"),
        (100101, "壹仟零壹元零壹分"),
        (101000, "壹仟零壹拾元整"),
        (168032, "壹仟陆佰捌拾元叁角贰分"),
        (223750, "贰仟贰佰叁拾柒元伍角整"),
        (1000000, "壹万元整"),
        (1000100, "壹万零壹元整"),
        (1100000, "壹万壹仟元整"),
        (2000500, "贰万零伍元整"),
        (2050000, "贰万零伍佰元整"),
        (10010000, "壹拾万零壹佰元整"),
        (10500000, "壹拾万伍仟元整"),
        (100000000, "壹佰万元整"),
        (110000000, "壹佰壹拾万元整"),
        (10000000000, "壹亿元整"),
        (10001000000, "壹亿零壹万元整"),
        (10000000100, "壹亿零壹元整"),
        (12345678912, "壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元壹角贰分"),
        (MAX_FEN, "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
    ],
)
def test_worked_examples(fen, words):
    assert amount_in_capitals(fen) == words


@pytest.mark.parametrize("bad", [-1, MAX_FEN + 1])
def test_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="outside"):
        amount_in_capitals(bad)


@pytest.mark.parametrize("bad", [1.5, "100", True])
def test_only_integer_fen(bad):
    with pytest.raises(TypeError):
        amount_in_capitals(bad)


@given(st.integers(min_value=1, max_value=MAX_FEN))
def test_properties(fen):
    words = amount_in_capitals(fen)
    assert "零零" not in words
    assert not words.startswith("零")
    assert words.endswith("整") == (fen % 10 == 0)
    # Every non-zero digit of the number appears, in order.
    digits = [DIGITS[int(c)] for c in str(fen) if c != "0"]
    found = [c for c in words if c in DIGITS and c != "零"]
    assert found == digits
