"""Amounts in Chinese capital numerals (人民币大写), as printed on receipts and vouchers.

Follows the People's Bank rules for filling in vouchers (正确填写票据和结算凭证的基本规定):
壹贰叁… with 拾佰仟万亿; 壹拾 for ten (never a bare 拾); one 零 for each run of zeros inside the
number; 整 after 元 or 角 when there are no 分, none after 分. When the yuan end in zero and 角
follows, no 零 is written (壹仟陆佰捌拾元叁角贰分), the form the rules allow either way.
"""

DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("", "拾", "佰", "仟")
_SECTIONS = ("", "万", "亿")
# 9999亿…: more than any heating payment; the typo guard on payments is far below it.
MAX_FEN = 10**12 * 100 - 1


def _section(value: int) -> str:
    """0 < value < 10000, with 零 for zeros between non-zero digits (not leading/trailing)."""
    out: list[str] = []
    pending_zero = False
    for place in range(3, -1, -1):
        digit = value // 10**place % 10
        if digit == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(DIGITS[digit] + _PLACES[place])
    return "".join(out)


def _yuan_words(yuan: int) -> str:
    groups: list[int] = []
    while yuan:
        yuan, group = divmod(yuan, 10000)
        groups.append(group)
    out: list[str] = []
    zero_due = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            zero_due = bool(out)
            continue
        if out and (zero_due or group < 1000):
            out.append("零")
        zero_due = False
        out.append(_section(group) + _SECTIONS[index])
    return "".join(out)


def amount_in_capitals(fen: int) -> str:
    """223750 → '贰仟贰佰叁拾柒元伍角整'; 105 → '壹元零伍分'; 0 → '零元整'."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError("amount_in_capitals takes integer fen")
    if fen < 0 or fen > MAX_FEN:
        raise ValueError(f"{fen} fen is outside 0 … {MAX_FEN}")
    yuan, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    words = _yuan_words(yuan)
    if words:
        words += "元"
    if jiao:
        words += DIGITS[jiao] + "角"
    if fen_digit:
        if words and not jiao:
            words += "零"
        words += DIGITS[fen_digit] + "分"
    if not words:
        return "零元整"
    return words if fen_digit else words + "整"
