"""Masking of personal data for pages and logs."""


def mask_phone(phone: str) -> str:
    """'13812341234' → '138****1234'; short values keep only their last two characters."""
    if len(phone) >= 7:
        return f"{phone[:3]}****{phone[-4:]}"
    return "*" * max(len(phone) - 2, 0) + phone[-2:]


def mask_name(name: str) -> str:
    """'张三丰' → '张**'; 'Li Lei' → 'L*****'."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_id_number(number: str) -> str:
    """'110101199003071234' → '1101**********1234'."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
