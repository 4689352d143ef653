"""Simplified Chinese first, English on request: the switch, the pages in English, and the
English catalogue (complete, and compiled from the current .po)."""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from heatdesk.estates.models import House
from heatdesk.resident import errors
from heatdesk.resident.tests.sms import latest_code

LOCALE_DIR = Path(settings.BASE_DIR) / "heatdesk" / "locale" / "en" / "LC_MESSAGES"
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _leftover_chinese(html: str, *data: str) -> list[str]:
    """Chinese left on a page once the data that is Chinese by nature is taken out."""
    for value in (*data, 'data-testid="lang-switch">中文</button>'):
        html = html.replace(value, "")
    return sorted(set(CJK.findall(html)))


def _house_data(house: House) -> list[str]:
    unit = house.unit
    return [house.address, unit.building.community.name, unit.building.name, unit.name, "王**"]


def test_the_switch_sets_english_and_back(resident_client, bound_house_a):
    response = resident_client.post("/i18n/setlang/", {"language": "en", "next": "/m/"})
    assert (response.status_code, response["Location"]) == (302, "/m/")
    html = resident_client.get("/m/").content.decode()
    assert '<html lang="en">' in html
    assert "My homes" in html
    assert "Heating on" in html
    assert 'value="zh-hans"' in html  # the switch now offers Chinese

    resident_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/m/"})
    html = resident_client.get("/m/").content.decode()
    assert '<html lang="zh-Hans">' in html
    assert "我的房屋" in html


@pytest.mark.django_db
def test_chinese_is_the_default_even_for_an_english_browser_only_when_asked():
    chinese = Client().get("/m/login/", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert "获取验证码" in chinese.content.decode()
    english = Client().get("/m/login/", headers={"accept-language": "en-US,en;q=0.9"})
    assert "Get code" in english.content.decode()


def test_every_resident_page_reads_in_english(resident_client, resident, bound_house_a, house_b):
    client = _english(resident_client)
    data = _house_data(bound_house_a)
    house_url = f"/m/houses/{bound_house_a.public_id}/"
    bad_bind = {
        "account_no": "HT10000002",
        "method": "owner_name",
        "owner_name": "错误",
        "relation": "owner",
    }
    pages = {
        "home": client.get("/m/"),
        "house": client.get(house_url),
        "unbind": client.get(f"{house_url}unbind/"),
        "bind": client.get("/m/houses/bind/"),
        "bind-empty": client.post("/m/houses/bind/", {}),
        "bind-mismatch": client.post("/m/houses/bind/", bad_bind),
        "bind-phone": client.post(
            "/m/houses/bind/", {**bad_bind, "method": "phone_last4", "phone_last4": "x"}
        ),
        "privacy": client.get("/m/privacy/"),
        "not-found": client.get("/m/houses/hs_NOPE/"),
    }
    for name, response in pages.items():
        assert response.status_code in (200, 404), name
        html = response.content.decode()
        assert '<html lang="en">' in html, name
        assert _leftover_chinese(html, *data, bad_bind["owner_name"]) == [], name
    assert (
        "The account number and owner details do not match"
        in pages["bind-mismatch"].content.decode()
    )


@pytest.mark.django_db
def test_the_login_and_its_errors_read_in_english():
    client = _english(Client())
    pages = {
        "login": client.get("/m/login/"),
        "empty": client.post("/m/login/", {"action": "login"}),
        "bad-phone": client.post("/m/login/", {"action": "send", "phone": "123"}),
        "sent": client.post("/m/login/", {"action": "send", "phone": "13512340000"}),
        "too-soon": client.post("/m/login/", {"action": "send", "phone": "13512340000"}),
    }
    wrong = f"{(int(latest_code('13512340000')) + 1) % 10**6:06d}"
    pages["wrong-code"] = client.post(
        "/m/login/",
        {
            "action": "login",
            "phone": "13512340000",
            "code": wrong,
            "agree": "on",
            "privacy_version": settings.PRIVACY_POLICY_VERSION,
        },
    )
    for name, response in pages.items():
        assert _leftover_chinese(response.content.decode()) == [], name
    assert "The code is wrong or has expired." in pages["wrong-code"].content.decode()
    assert "You can ask again in" in pages["too-soon"].content.decode()
    assert "Code sent" in pages["sent"].content.decode()


def test_consent_and_toasts_read_in_english(db, house_a):
    from heatdesk.testing import make_resident

    user = make_resident("13700001111", consented=False)
    client = _english(Client())
    client.force_login(user)
    consent = client.get("/m/consent/")
    assert _leftover_chinese(consent.content.decode()) == []
    client.post("/m/consent/", {"agree": "on", "privacy_version": settings.PRIVACY_POLICY_VERSION})
    bound = client.post(
        "/m/houses/bind/",
        {
            "account_no": "HT10000001",
            "method": "owner_name",
            "owner_name": "王秀英",
            "relation": "owner",
        },
        follow=True,
    )
    assert "Home linked" in bound.content.decode()
    assert _leftover_chinese(bound.content.decode(), *_house_data(house_a)) == []


def _po_entries(path: Path) -> list[tuple[str, str, list[str]]]:
    """(msgid, msgstr, flags) for each entry of a .po file, header excluded."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        flags: list[str] = []
        parts: dict[str, list[str]] = {"msgid": [], "msgstr": []}
        current = None
        for line in block.splitlines():
            if line.startswith("#,"):
                flags += [flag.strip() for flag in line[2:].split(",")]
            elif line.startswith(("msgid ", "msgstr ")):
                current, _, rest = line.partition(" ")
                parts[current].append(ast.literal_eval(rest))
            elif line.startswith('"') and current:
                parts[current].append(ast.literal_eval(line))
        msgid = "".join(parts["msgid"])
        if msgid:
            entries.append((msgid, "".join(parts["msgstr"]), flags))
    return entries


def test_the_english_catalogue_is_complete_and_compiled():
    entries = _po_entries(LOCALE_DIR / "django.po")
    with (LOCALE_DIR / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    assert len(entries) > 50
    for msgid, msgstr, flags in entries:
        assert msgstr, msgid
        assert "fuzzy" not in flags, msgid
        assert not CJK.search(msgstr), msgid
        assert compiled.gettext(msgid) == msgstr, f"django.mo is stale for {msgid!r}"


def test_the_service_messages_pages_translate_still_exist_in_the_services():
    root = Path(settings.BASE_DIR) / "heatdesk"
    modules = [
        "accounts/services.py",
        "estates/services.py",
        "billing/services/heating_changes.py",
        "bookings/services.py",
        "bookings/selectors.py",
        "bookings/capacity.py",
        "bookings/links.py",
        "bookings/api_common.py",
        "payments/services/orders.py",
    ]
    sources = "".join((root / name).read_text(encoding="utf-8") for name in modules)
    catalogue = {msgid for msgid, _, _ in _po_entries(LOCALE_DIR / "django.po")}
    for message in errors.SERVICE_MESSAGES:
        assert message in sources, f"{message!r} is no longer raised: update resident/errors.py"
        assert message in catalogue, message


def test_every_bill_line_kind_the_domain_knows_has_a_label():
    # A kind added to billing without a label here would show its raw code on the bill page.
    from heatdesk.billing.choices import BillLineKind
    from heatdesk.resident import labels

    assert set(BillLineKind.values) <= set(labels.BILL_LINE_KIND)
