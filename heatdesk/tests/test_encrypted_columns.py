"""Personal data is encrypted at rest: the raw columns hold ciphertext only."""

import base64

import pytest

from heatdesk.accounts.models import User
from heatdesk.accounts.services import phone_hash
from heatdesk.core import crypto
from heatdesk.estates.models import House
from heatdesk.notifications.models import OutboundSms
from heatdesk.notifications.services import sms_queue
from heatdesk.testing import make_house, make_resident
from heatdesk.tests.support import raw_value

OLD = base64.b64encode(b"\x01" * 32).decode()
NEW = base64.b64encode(b"\x02" * 32).decode()


@pytest.mark.parametrize(
    ("make", "model", "field", "plain"),
    [
        (lambda: make_house(owner_name="王秀英"), House, "owner_name", "王秀英"),
        (lambda: make_house(owner_phone="13911112222"), House, "owner_phone", "13911112222"),
        (lambda: make_resident("13812345678"), User, "phone", "13812345678"),
        (
            lambda: sms_queue(phone="13712340000", template="login_code", params={"code": "1"}),
            OutboundSms,
            "phone",
            "13712340000",
        ),
    ],
    ids=["house.owner_name", "house.owner_phone", "user.phone", "outboundsms.phone"],
)
def test_encrypted_columns_hold_no_plaintext(db, make, model, field, plain):
    # when
    obj = make()
    # then the database holds ciphertext under the active key
    stored = raw_value(model, field, obj.pk)
    assert stored.startswith("v1:")
    assert plain not in stored
    assert plain[-4:] not in stored.split(":", 2)[2]
    # and it decrypts to the value, directly and through the ORM
    context = f"{model._meta.label_lower}.{field}"
    assert crypto.decrypt(stored, context=context) == plain
    assert getattr(model.objects.get(pk=obj.pk), field) == plain


def test_encrypted_columns_cannot_be_searched_in_plaintext(db):
    make_house(owner_phone="13911112222")
    with pytest.raises(TypeError, match="blind index"):
        House.objects.filter(owner_phone="13911112222").exists()
    # the blind index finds it instead
    assert House.objects.filter(owner_phone_hash=phone_hash("13911112222")).count() == 1


def test_rows_written_under_a_rotated_key_still_read(db, settings):
    # given rows written under the old key
    settings.FIELD_ENCRYPTION_KEYS = f"old:{OLD}"
    house = make_house(owner_name="李强", owner_phone="13733334444")
    user = make_resident("13812345678")
    assert raw_value(House, "owner_name", house.pk).startswith("v1:old:")
    # when a new key is put first
    settings.FIELD_ENCRYPTION_KEYS = f"new:{NEW},old:{OLD}"
    # then the old rows still read, and new writes use the new key
    house = House.objects.get(pk=house.pk)
    assert (house.owner_name, house.owner_phone) == ("李强", "13733334444")
    assert User.objects.get(pk=user.pk).phone == "13812345678"
    house.owner_name = "李强军"
    house.save(update_fields=["owner_name"])
    assert raw_value(House, "owner_name", house.pk).startswith("v1:new:")
    assert raw_value(House, "owner_phone", house.pk).startswith("v1:old:")


def test_a_tampered_column_raises_decryption_error(db):
    from django.db import connection

    # given a valid ciphertext copied from another column into owner_name
    house = make_house(owner_name="王秀英")
    other = raw_value(House, "owner_phone", house.pk)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE estates_house SET owner_name = %s WHERE id = %s", [other, house.pk])
    # then reading the row refuses it (the column is bound into the ciphertext)
    with pytest.raises(crypto.DecryptionError):
        House.objects.get(pk=house.pk)
