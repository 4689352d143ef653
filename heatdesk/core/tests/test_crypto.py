import base64

import pytest
from django.core.exceptions import ImproperlyConfigured

from heatdesk.core import crypto


def key(n: int) -> str:
    return base64.b64encode(bytes([n]) * 32).decode()


OLD, NEW = key(1), key(2)


@pytest.fixture
def old_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = f"old:{OLD}"
    return settings


def test_round_trip_under_the_active_key(old_key):
    sealed = crypto.encrypt("王秀英", context="estates.house.owner_name")
    assert sealed.startswith("v1:old:")
    assert "王秀英" not in sealed
    assert crypto.decrypt(sealed, context="estates.house.owner_name") == "王秀英"


def test_each_encryption_uses_a_fresh_nonce(old_key):
    assert crypto.encrypt("13812345678") != crypto.encrypt("13812345678")


def test_rotated_keys_still_read_rows_written_under_the_old_key(settings):
    # given a value written while only the old key existed
    settings.FIELD_ENCRYPTION_KEYS = f"old:{OLD}"
    sealed = crypto.encrypt("13812345678", context="c")
    # when a new key is put first
    settings.FIELD_ENCRYPTION_KEYS = f"new:{NEW},old:{OLD}"
    # then the old value still reads and new values use the new key
    assert crypto.decrypt(sealed, context="c") == "13812345678"
    assert crypto.key_id_of(crypto.encrypt("x")) == "new"
    # and once the old key is dropped, the old value cannot be read
    settings.FIELD_ENCRYPTION_KEYS = f"new:{NEW}"
    with pytest.raises(crypto.DecryptionError, match="old"):
        crypto.decrypt(sealed, context="c")


def _flip_one_body_char(sealed: str) -> str:
    head, body = sealed.rsplit(":", 1)
    i = len(body) // 2
    return f"{head}:{body[:i]}{'A' if body[i] != 'A' else 'B'}{body[i + 1 :]}"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_flip_one_body_char, id="flipped-byte"),
        pytest.param(lambda s: s[:-4], id="truncated-tag"),
        pytest.param(lambda s: "v1:old:AAAA", id="shorter-than-a-nonce"),
        pytest.param(lambda s: "v1:old:", id="empty-body"),
        pytest.param(lambda s: "v1:old:abc", id="bad-base64-padding"),
        pytest.param(lambda s: s[:-8] + "!!!!!!!!", id="not-base64"),
        pytest.param(lambda s: s.replace("v1:", "v2:", 1), id="unknown-version"),
        pytest.param(lambda s: s.replace(":old:", ":gone:", 1), id="unknown-key-id"),
        pytest.param(lambda s: "13812345678", id="plaintext"),
    ],
)
def test_a_tampered_ciphertext_raises_decryption_error(old_key, tamper):
    sealed = crypto.encrypt("13812345678", context="c")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(tamper(sealed), context="c")


def test_a_ciphertext_moved_to_another_column_does_not_decrypt(old_key):
    sealed = crypto.encrypt("13812345678", context="accounts.user.phone")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(sealed, context="estates.house.owner_phone")


@pytest.mark.parametrize(
    "spec",
    ["", "nokey", f"a:{OLD},a:{NEW}", "a:not-base64!", f"a:{base64.b64encode(b'short').decode()}"],
)
def test_bad_keyrings_are_refused(spec):
    with pytest.raises(ImproperlyConfigured):
        crypto.parse_keyring(spec)


def test_keyring_first_key_encrypts():
    ring = crypto.parse_keyring(f"new:{NEW}, old:{OLD}")
    assert ring.active_kid == "new"
    assert set(ring.keys) == {"new", "old"}


def test_blind_index_is_equal_for_equal_values_and_keyed(settings):
    settings.BLIND_INDEX_KEY = key(7)
    first = crypto.blind_index("13812345678", purpose="phone")
    assert first == crypto.blind_index("13812345678", purpose="phone")
    assert first != crypto.blind_index("13812345679", purpose="phone")
    assert first != crypto.blind_index("13812345678", purpose="name")
    assert "13812345678" not in first
    # a different key gives a different index for the same phone
    settings.BLIND_INDEX_KEY = key(8)
    assert crypto.blind_index("13812345678", purpose="phone") != first


def test_blind_index_key_must_be_long_enough(settings):
    settings.BLIND_INDEX_KEY = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(ImproperlyConfigured):
        crypto.blind_index("13812345678", purpose="phone")
