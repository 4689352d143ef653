import base64
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heatdesk.accounts.models import User, WechatIdentity
from heatdesk.core import crypto
from heatdesk.core.rekey import encrypted_fields
from heatdesk.estates.models import House
from heatdesk.notifications.models import OutboundSms
from heatdesk.notifications.services import sms_queue
from heatdesk.testing import make_house, make_resident
from heatdesk.tests.support import raw_value

OLD = base64.b64encode(b"\x01" * 32).decode()
NEW = base64.b64encode(b"\x02" * 32).decode()


def rekey(batch_size: int = 2) -> str:
    out = io.StringIO()
    call_command("rekey", batch_size=batch_size, stdout=out)
    return out.getvalue()


def test_rekey_finds_every_encrypted_column():
    found = {
        f"{model._meta.label_lower}.{field.name}"
        for model, fields in encrypted_fields()
        for field in fields
    }
    assert {
        "accounts.user.phone",
        "accounts.wechatidentity.session_key",
        "estates.house.owner_name",
        "estates.house.owner_phone",
        "notifications.outboundsms.phone",
        "notifications.outboundsms.params_json",
    } <= found


@pytest.mark.django_db
def test_rekey_moves_every_value_to_the_active_key_in_batches(settings):
    # given rows written under the old key (more rows than one batch)
    settings.FIELD_ENCRYPTION_KEYS = f"old:{OLD}"
    houses = [make_house(owner_name=f"户主{i}", owner_phone=f"1391111000{i}") for i in range(5)]
    user = make_resident("13812345678")
    sms = sms_queue(phone="13712340000", template="login_code", params={"code": "424242"})
    blank = make_house(owner_name="", owner_phone="")
    updated_at = House.objects.get(pk=houses[0].pk).updated_at
    # when a new key is put first and rekey runs
    settings.FIELD_ENCRYPTION_KEYS = f"new:{NEW},old:{OLD}"
    out = rekey(batch_size=2)
    # then every value is under the new key ...
    for house in houses:
        for field in ("owner_name", "owner_phone"):
            assert raw_value(House, field, house.pk).startswith("v1:new:")
    assert raw_value(User, "phone", user.pk).startswith("v1:new:")
    assert raw_value(OutboundSms, "phone", sms.pk).startswith("v1:new:")
    assert raw_value(OutboundSms, "params_json", sms.pk).startswith("v1:new:")
    assert raw_value(House, "owner_name", blank.pk) == ""
    assert "estates.House: rekeyed 10" in out
    # ... and reads with the old key gone, unchanged, and without touching updated_at
    settings.FIELD_ENCRYPTION_KEYS = f"new:{NEW}"
    assert [House.objects.get(pk=h.pk).owner_name for h in houses] == [f"户主{i}" for i in range(5)]
    assert House.objects.get(pk=houses[0].pk).updated_at == updated_at
    assert User.objects.get(pk=user.pk).phone == "13812345678"
    assert OutboundSms.objects.get(pk=sms.pk).params_json == '{"code": "424242"}'


@pytest.mark.django_db
def test_rekey_is_idempotent(settings):
    settings.FIELD_ENCRYPTION_KEYS = f"old:{OLD}"
    house = make_house(owner_name="王秀英")
    settings.FIELD_ENCRYPTION_KEYS = f"new:{NEW},old:{OLD}"
    rekey()
    first = raw_value(House, "owner_name", house.pk)
    # when it runs again
    out = rekey()
    # then nothing is rewritten
    assert raw_value(House, "owner_name", house.pk) == first
    assert "0 values re-encrypted" in out
    assert "estates.House: rekeyed 0, already current 2" in out


@pytest.mark.django_db
def test_rekey_stops_on_a_value_it_cannot_decrypt(settings):
    settings.FIELD_ENCRYPTION_KEYS = f"gone:{OLD}"
    house = make_house(owner_name="王秀英")
    settings.FIELD_ENCRYPTION_KEYS = f"new:{NEW}"
    with pytest.raises(CommandError, match=f"estates.House pk={house.pk}"):
        rekey()
    assert raw_value(House, "owner_name", house.pk).startswith("v1:gone:")


@pytest.mark.django_db
def test_rekey_keeps_a_value_changed_after_it_was_read(settings, monkeypatch):
    # given a row written under the old key
    settings.FIELD_ENCRYPTION_KEYS = f"old:{OLD}"
    house = make_house(owner_name="王秀英", owner_phone="")
    settings.FIELD_ENCRYPTION_KEYS = f"new:{NEW},old:{OLD}"
    real_decrypt = crypto.decrypt

    def decrypt_then_someone_edits(token, *, context=""):
        plain = real_decrypt(token, context=context)
        if context == "estates.house.owner_name":
            House.objects.filter(pk=house.pk).update(owner_name="新户主")
        return plain

    monkeypatch.setattr(crypto, "decrypt", decrypt_then_someone_edits)
    # when rekey reads the row, and staff edit it before rekey writes
    out = rekey()
    monkeypatch.undo()
    # then the edit wins
    assert House.objects.get(pk=house.pk).owner_name == "新户主"
    assert "estates.House: rekeyed 0, already current 0, changed meanwhile 1" in out


def test_rekey_refuses_a_bad_batch_size():
    with pytest.raises(CommandError):
        call_command("rekey", batch_size=0)


@pytest.mark.django_db
def test_wechat_session_keys_are_rekeyed_too(settings):
    settings.FIELD_ENCRYPTION_KEYS = f"old:{OLD}"
    user = User.objects.create_user()
    identity = WechatIdentity.objects.create(appid="wx", openid="o1", session_key="sk", user=user)
    settings.FIELD_ENCRYPTION_KEYS = f"new:{NEW},old:{OLD}"
    rekey()
    assert raw_value(WechatIdentity, "session_key", identity.pk).startswith("v1:new:")
