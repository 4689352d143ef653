import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from heatdesk.accounts.services import phone_hash
from heatdesk.audit.models import AuditEntry
from heatdesk.estates.import_views import SESSION_KEY
from heatdesk.estates.models import Building, Community, House, HouseBinding, Unit
from heatdesk.estates.tests.files import HEADER, csv_bytes, read_csv, row, xlsx_bytes
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/estates/house/import/"
EXPORT_URL = "/admin/estates/house/export/"
ROWS = [
    row("GX0001", room="101", owner="王秀英", phone="13911112222"),
    row("GX0002", room="102", owner="李强", phone="13733334444"),
]


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def _counts() -> tuple[int, int, int, int, int]:
    return (
        Community.objects.count(),
        Building.objects.count(),
        Unit.objects.count(),
        House.objects.count(),
        AuditEntry.objects.count(),
    )


# -- import and export pages --------------------------------------------------------------


@pytest.mark.parametrize("persona", ["collector", "agent", "finance"])
def test_staff_without_the_import_permission_get_403_and_nothing_changes(request, persona):
    client = _client(request.getfixturevalue(persona))
    before = _counts()
    # when
    page = client.get(IMPORT_URL)
    upload = client.post(IMPORT_URL, {"file": _upload("h.xlsx", xlsx_bytes(ROWS))})
    export = client.get(EXPORT_URL, {"fmt": "csv"})
    # then
    assert (page.status_code, upload.status_code, export.status_code) == (403, 403, 403)
    assert _counts() == before
    assert SESSION_KEY not in client.session


def test_signed_out_visitors_are_sent_to_the_admin_login():
    client = _client()
    response = client.post(IMPORT_URL, {"file": _upload("h.xlsx", xlsx_bytes(ROWS))})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get(EXPORT_URL).status_code == 302
    assert _counts() == (0, 0, 0, 0, 0)


def test_an_admin_previews_a_file_then_confirms_the_import(admin_user):
    client = _client(admin_user)
    assert client.get(IMPORT_URL).status_code == 200
    # when: preview
    preview = client.post(IMPORT_URL, {"file": _upload("houses.xlsx", xlsx_bytes(ROWS))})
    # then: nothing is written yet
    assert preview.status_code == 200
    assert "将新增 2 户" in preview.content.decode()
    assert _counts() == (0, 0, 0, 0, 0)
    token = preview.context["token"]
    assert token
    # when: confirm
    confirmed = client.post(IMPORT_URL, {"action": "confirm", "token": token})
    # then
    assert confirmed.status_code == 302
    assert confirmed["Location"] == reverse("admin:estates_house_changelist")
    assert sorted(House.objects.values_list("account_no", flat=True)) == ["GX0001", "GX0002"]
    entry = AuditEntry.objects.get(action="estates.houses_import")
    assert entry.actor == admin_user
    assert entry.after["created"] == 2
    assert SESSION_KEY not in client.session
    # and the same confirmation cannot be replayed
    again = client.post(IMPORT_URL, {"action": "confirm", "token": token})
    assert again.status_code == 302
    assert AuditEntry.objects.filter(action="estates.houses_import").count() == 1


def test_a_preview_with_errors_shows_every_error_and_cannot_be_confirmed(admin_user):
    client = _client(admin_user)
    bad = [
        row("GX0001", phone="123"),
        row("", room="102"),
        row("GX0003", room="103", heated_area="-5"),
    ]
    # when
    preview = client.post(IMPORT_URL, {"file": _upload("houses.csv", csv_bytes(bad))})
    # then
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "发现 3 处错误，未导入任何数据" in page
    assert "<td>第2行</td><td>户主电话</td>" in page
    assert "<td>第3行</td><td>户号</td><td>必填。</td>" in page
    assert "<td>第4行</td><td>供热面积</td><td>不能为负数。</td>" in page
    assert "确认导入" not in page
    assert SESSION_KEY not in client.session
    refused = client.post(IMPORT_URL, {"action": "confirm", "token": "guess"})
    assert refused.status_code == 302
    assert _counts() == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (_upload("houses.xlsx", b"not a workbook at all"), "无法读取该Excel文件"),
        (_upload("houses.pdf", b"%PDF-1.4"), "只支持 .xlsx 或 .csv"),
        (_upload("houses.csv", csv_bytes(ROWS, header=["名称", "地址", "电话"])), "缺少必需的列"),
        (_upload("houses.csv", b""), "所提交的是空文件"),
        (None, "这个字段是必填项"),
    ],
)
def test_an_unusable_upload_is_refused_with_400_and_nothing_changes(admin_user, upload, message):
    client = _client(admin_user)
    before = _counts()
    # when
    response = client.post(IMPORT_URL, {"file": upload} if upload else {})
    # then
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _counts() == before
    assert SESSION_KEY not in client.session


def test_only_the_latest_preview_can_be_confirmed(admin_user):
    client = _client(admin_user)
    first = client.post(IMPORT_URL, {"file": _upload("a.xlsx", xlsx_bytes(ROWS[:1]))})
    client.post(IMPORT_URL, {"file": _upload("b.xlsx", xlsx_bytes(ROWS[1:]))})
    # when: the first preview, left open in another tab, is confirmed
    response = client.post(IMPORT_URL, {"action": "confirm", "token": first.context["token"]})
    # then
    assert response.status_code == 302
    assert _counts() == (0, 0, 0, 0, 0)


def test_cancelling_a_preview_writes_nothing(admin_user):
    client = _client(admin_user)
    client.post(IMPORT_URL, {"file": _upload("houses.xlsx", xlsx_bytes(ROWS))})
    token = client.session[SESSION_KEY]["token"]
    # when
    cancelled = client.post(IMPORT_URL, {"action": "cancel", "token": token})
    confirmed = client.post(IMPORT_URL, {"action": "confirm", "token": token})
    # then
    assert (cancelled.status_code, confirmed.status_code) == (302, 302)
    assert _counts() == (0, 0, 0, 0, 0)


def test_a_house_taken_between_preview_and_confirmation_is_reported_and_nothing_written(
    admin_user,
):
    client = _client(admin_user)
    preview = client.post(IMPORT_URL, {"file": _upload("houses.xlsx", xlsx_bytes(ROWS))})
    make_house(account_no="GX0002")  # registered elsewhere meanwhile
    before = _counts()
    # when
    response = client.post(IMPORT_URL, {"action": "confirm", "token": preview.context["token"]})
    # then
    assert response.status_code == 409
    assert "<td>第3行</td><td>户号</td>" in response.content.decode()
    assert _counts() == before


def test_an_admin_downloads_the_export_and_it_is_audited(admin_user, house_a):
    client = _client(admin_user)
    # when
    response = client.get(EXPORT_URL, {"fmt": "csv"})
    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="houses-')
    rows = read_csv(response.content)
    assert rows[0] == HEADER
    assert [r[6] for r in rows[1:]] == [house_a.account_no]
    entry = AuditEntry.objects.get(action="estates.houses_export")
    assert entry.actor == admin_user
    assert entry.after["rows"] == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [({"fmt": "pdf"}, "选择一个有效的选项"), ({"fmt": "csv", "communities": "NOPE"}, "NOPE")],
)
def test_a_bad_export_request_is_refused_with_400(admin_user, house_a, query, message):
    response = _client(admin_user).get(EXPORT_URL, query)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AuditEntry.objects.filter(action="estates.houses_export").exists()


def test_the_house_list_offers_import_only_to_those_allowed(admin_user, collector, house_a):
    admin_page = _client(admin_user).get("/admin/estates/house/")
    collector_page = _client(collector).get("/admin/estates/house/")
    assert admin_page.status_code == collector_page.status_code == 200
    assert IMPORT_URL in admin_page.content.decode()
    assert IMPORT_URL not in collector_page.content.decode()


# -- houses in the admin ------------------------------------------------------------------


def test_the_house_list_shows_owners_masked_and_finds_by_account_or_phone(collector, house_a):
    client = _client(collector)
    # when
    listing = client.get("/admin/estates/house/").content.decode()
    by_account = client.get("/admin/estates/house/", {"q": house_a.account_no})
    by_phone = client.get("/admin/estates/house/", {"q": "139 1111 2222"})
    by_other_phone = client.get("/admin/estates/house/", {"q": "13900000000"})
    # then
    assert "139****2222" in listing
    assert "王**" in listing
    assert "13911112222" not in listing
    assert "王秀英" not in listing
    assert list(by_account.context["cl"].result_list) == [house_a]
    assert list(by_phone.context["cl"].result_list) == [house_a]
    assert list(by_other_phone.context["cl"].result_list) == []


def test_a_read_only_house_page_shows_owners_masked(collector, house_a):
    page = _client(collector).get(reverse("admin:estates_house_change", args=[house_a.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "139****2222" in content
    assert "13911112222" not in content
    assert "王秀英" not in content


def _change_form(house: House, **changes: str) -> dict[str, str]:
    data = {
        "account_no": house.account_no,
        "unit": str(house.unit_id),
        "room": house.room,
        "floor": "",
        "building_area": str(house.building_area),
        "heated_area": str(house.heated_area),
        "usage_type": house.usage_type,
        "user_type": house.user_type,
        "heating_status": house.heating_status,
        "meter_id": house.meter_id,
        "owner_name": "",
        "owner_phone": "",
    }
    data.update(changes)
    return data


def test_the_edit_form_never_shows_the_owner_in_clear_and_blank_keeps_it(admin_user, house_a):
    client = _client(admin_user)
    url = reverse("admin:estates_house_change", args=[house_a.pk])
    # when
    form_page = client.get(url).content.decode()
    saved = client.post(url, _change_form(house_a, heated_area="80.00"))
    # then
    assert "13911112222" not in form_page
    assert "王秀英" not in form_page
    assert "当前：139****2222" in form_page
    assert saved.status_code == 302
    house_a.refresh_from_db()
    assert str(house_a.heated_area) == "80.00"
    assert (house_a.owner_name, house_a.owner_phone) == ("王秀英", "13911112222")
    entry = AuditEntry.objects.get(action="house.update")
    assert entry.actor == admin_user
    assert entry.before == {"heated_area": "85.00"}
    assert entry.after == {"heated_area": "80.00"}


def test_the_edit_form_changes_and_clears_the_owner_with_the_phone_hash(admin_user, house_a):
    client = _client(admin_user)
    url = reverse("admin:estates_house_change", args=[house_a.pk])
    # when
    client.post(url, _change_form(house_a, owner_name="王建国", owner_phone="137-0000-1111"))
    house_a.refresh_from_db()
    changed = (house_a.owner_name, house_a.owner_phone, house_a.owner_phone_hash)
    client.post(url, _change_form(house_a, clear_owner_phone="on"))
    house_a.refresh_from_db()
    # then
    assert changed == ("王建国", "13700001111", phone_hash("13700001111"))
    assert (house_a.owner_name, house_a.owner_phone, house_a.owner_phone_hash) == ("王建国", "", "")
    first, second = AuditEntry.objects.filter(action="house.update").order_by("id")
    assert first.after == {"owner_name": "王**", "owner_phone": "137****1111"}
    assert second.before == {"owner_phone": "137****1111"}


def test_a_bad_phone_in_the_edit_form_is_refused_and_nothing_changes(admin_user, house_a):
    url = reverse("admin:estates_house_change", args=[house_a.pk])
    response = _client(admin_user).post(url, _change_form(house_a, owner_phone="2391111222"))
    assert response.status_code == 200  # the form again, with its error
    assert "须为以1开头的11位手机号码" in response.content.decode()
    house_a.refresh_from_db()
    assert house_a.owner_phone == "13911112222"
    assert not AuditEntry.objects.exists()


def test_an_admin_adds_a_house_with_the_phone_hash_and_an_audit_entry(admin_user, house_a):
    data = _change_form(house_a, account_no="HT20000001", room="909", owner_phone="13655556666")
    response = _client(admin_user).post(reverse("admin:estates_house_add"), data)
    assert response.status_code == 302
    house = House.objects.get(account_no="HT20000001")
    assert house.owner_phone_hash == phone_hash("13655556666")
    entry = AuditEntry.objects.get(action="house.create")
    assert entry.object_id == str(house.pk)
    assert entry.after["owner_phone"] == "136****6666"


@pytest.mark.parametrize(
    "url", ["/admin/estates/community/", "/admin/estates/building/", "/admin/estates/unit/"]
)
def test_the_estate_lists_open_for_an_admin(admin_user, house_a, url):
    response = _client(admin_user).get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


# -- bindings in the admin ----------------------------------------------------------------


@pytest.fixture
def binding(resident, house_a):
    return HouseBinding.objects.create(user=resident, house=house_a, relation="owner")


def _end(client: Client, binding: HouseBinding, **extra: str):
    data = {"action": "end_bindings", "_selected_action": [str(binding.pk)], **extra}
    return client.post("/admin/estates/housebinding/", data)


@pytest.mark.parametrize("persona", ["admin_user", "agent"])
def test_staff_who_manage_bindings_end_one_with_a_reason_through_the_audit_log(
    request, binding, persona
):
    staff = request.getfixturevalue(persona)
    client = _client(staff)
    # when: the action asks for a reason first
    asked = _end(client, binding)
    binding.refresh_from_db()
    assert asked.status_code == 200
    assert "解除原因" in asked.content.decode()
    assert binding.ended_at is None
    # when: confirmed with a reason
    done = _end(client, binding, confirm="yes", reason="房屋已过户")
    # then
    assert done.status_code == 302
    binding.refresh_from_db()
    assert binding.ended_at is not None
    assert binding.ended_by == staff
    entry = AuditEntry.objects.get(action="house.unbind")
    assert (entry.actor, entry.reason) == (staff, "房屋已过户")


def test_ending_a_binding_without_a_reason_is_refused(admin_user, binding):
    response = _end(_client(admin_user), binding, confirm="yes", reason="")
    assert response.status_code == 400
    binding.refresh_from_db()
    assert binding.ended_at is None
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("persona", ["collector", "finance"])
def test_staff_without_binding_rights_cannot_list_or_end_bindings(request, binding, persona):
    client = _client(request.getfixturevalue(persona))
    assert client.get("/admin/estates/housebinding/").status_code == 403
    assert _end(client, binding, confirm="yes", reason="x").status_code == 403
    binding.refresh_from_db()
    assert binding.ended_at is None


def test_the_binding_list_is_read_only_and_masks_the_resident(admin_user, binding):
    client = _client(admin_user)
    listing = client.get("/admin/estates/housebinding/")
    assert listing.status_code == 200
    content = listing.content.decode()
    assert "138****5678" in content
    assert "13812345678" not in content
    assert client.get("/admin/estates/housebinding/add/").status_code == 403
    change = client.post(
        reverse("admin:estates_housebinding_change", args=[binding.pk]), {"relation": "tenant"}
    )
    assert change.status_code == 403
    binding.refresh_from_db()
    assert binding.relation == "owner"
