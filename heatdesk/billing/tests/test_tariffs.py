from decimal import Decimal as D

import pytest

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import services
from heatdesk.billing.models import Bill, BillLine, Tariff
from heatdesk.billing.tests.factories import make_season
from heatdesk.core.errors import Conflict, ValidationFailed

pytestmark = pytest.mark.django_db

AREA_24 = {"pricing": "area", "area_price": D("24.00")}


def test_versions_count_up_per_season_usage_and_user_type(admin_user):
    season = make_season()
    # when
    first = services.tariff_create(
        season=season, usage_type="residential", user_type="normal", by=admin_user, **AREA_24
    )
    second = services.tariff_create(
        season=season,
        usage_type="residential",
        user_type="normal",
        by=admin_user,
        pricing="area",
        area_price=D("25.00"),
    )
    other = services.tariff_create(
        season=season,
        usage_type="non_residential",
        user_type="normal",
        by=admin_user,
        pricing="area",
        area_price=D("45.00"),
    )
    # then
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert Tariff.objects.count() == 3
    entry = AuditEntry.objects.filter(action="billing.tariff_create").order_by("id").last()
    assert entry.object_id == str(other.pk)
    assert entry.after["area_price"] == "45.0000"
    assert entry.after["version"] == 1


@pytest.mark.parametrize(
    ("usage_type", "user_type", "terms"),
    [
        # A residential tariff cannot carry the non-residential surcharge.
        ("residential", "normal", {**AREA_24, "surcharge_ratio": D("0.10")}),
        # Relief only for low-income users, and always with its funding source.
        (
            "residential",
            "normal",
            {**AREA_24, "relief_ratio": D("0.85"), "relief_funding_source": "民政局"},
        ),
        ("residential", "low_income", {**AREA_24, "relief_ratio": D("0.85")}),
        (
            "residential",
            "low_income",
            {**AREA_24, "relief_ratio": D("1.20"), "relief_funding_source": "民政局"},
        ),
        # Two-part needs its basic part (one of price or ratio) and its metered price.
        (
            "residential",
            "normal",
            {
                "pricing": "two_part",
                "area_price": D("24"),
                "metered_price": D("0.16"),
                "metered_unit": "kWh",
            },
        ),
        (
            "residential",
            "normal",
            {"pricing": "two_part", "area_price": D("24"), "basic_ratio": D("0.5")},
        ),
        (
            "residential",
            "normal",
            {
                "pricing": "two_part",
                "area_price": D("24"),
                "basic_ratio": D("0.5"),
                "basic_price": D("12"),
                "metered_price": D("0.16"),
                "metered_unit": "kWh",
            },
        ),
        # Area pricing carries no two-part terms.
        ("residential", "normal", {**AREA_24, "basic_ratio": D("0.5")}),
        # Refund-only needs a cap of at least 100%; refund-and-top-up has none.
        ("residential", "normal", {**AREA_24, "settlement_mode": "refund_only"}),
        (
            "residential",
            "normal",
            {**AREA_24, "settlement_mode": "refund_only", "settlement_cap_ratio": D("0.9")},
        ),
        ("residential", "normal", {**AREA_24, "settlement_cap_ratio": D("1.15")}),
        # Ratios stay within 0–100%; prices are not negative.
        ("residential", "normal", {**AREA_24, "stop_basic_ratio": D("1.5")}),
        ("residential", "normal", {"pricing": "area", "area_price": D("-1")}),
    ],
    ids=[
        "surcharge-residential",
        "relief-normal-user",
        "relief-without-source",
        "relief-over-100pct",
        "two-part-no-basic",
        "two-part-no-metered",
        "two-part-both-basics",
        "area-with-basic",
        "refund-only-no-cap",
        "cap-below-100pct",
        "cap-without-refund-only",
        "stop-ratio-over-100pct",
        "negative-price",
    ],
)
def test_inconsistent_tariffs_are_refused(admin_user, usage_type, user_type, terms):
    season = make_season()
    with pytest.raises(ValidationFailed) as refused:
        services.tariff_create(
            season=season, usage_type=usage_type, user_type=user_type, by=admin_user, **terms
        )
    assert refused.value.fields
    assert Tariff.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_a_closed_season_takes_no_new_tariff(admin_user):
    season = make_season(status="closed")
    with pytest.raises(Conflict) as refused:
        services.tariff_create(
            season=season, usage_type="residential", user_type="normal", by=admin_user, **AREA_24
        )
    assert refused.value.code == "season_closed"
    assert Tariff.objects.count() == 0


def test_an_unused_tariff_can_be_corrected_with_an_audit_row(admin_user):
    season = make_season()
    tariff = services.tariff_create(
        season=season, usage_type="residential", user_type="normal", by=admin_user, **AREA_24
    )
    # when
    services.tariff_update(tariff=tariff, by=admin_user, area_price=D("24.50"))
    # then
    assert Tariff.objects.get(pk=tariff.pk).area_price == D("24.50")
    entry = AuditEntry.objects.get(action="billing.tariff_update")
    assert (entry.before, entry.after) == ({"area_price": "24.0000"}, {"area_price": "24.5000"})


def test_a_tariff_used_by_a_bill_cannot_be_edited_and_a_new_version_takes_over(
    admin_user, house_a, house_b
):
    # given: a bill issued at 24 元/㎡
    season = make_season()
    v1 = services.tariff_create(
        season=season, usage_type="residential", user_type="normal", by=admin_user, **AREA_24
    )
    first = services.bill_issue(house=house_a, season=season, issued_by=admin_user)
    audit_rows = AuditEntry.objects.count()
    # when: someone tries to change the price of that version
    with pytest.raises(Conflict) as refused:
        services.tariff_update(tariff=v1, by=admin_user, area_price=D("30.00"))
    # then: refused, and nothing changed
    assert refused.value.code == "tariff_in_use"
    assert Tariff.objects.get(pk=v1.pk).area_price == D("24.00")
    assert AuditEntry.objects.count() == audit_rows
    # when: a new version is made instead
    v2 = services.tariff_new_version(tariff=v1, by=admin_user, area_price=D("30.00"))
    second = services.bill_issue(house=house_b, season=season, issued_by=admin_user)
    # then: new bills use it; the first bill still says what it said
    assert (v2.version, v2.pricing, v2.area_price) == (2, "area", D("30.00"))
    assert Tariff.objects.get(pk=v2.pk).in_use_since is not None
    assert (second.tariff_id, second.tariff_version, second.total_fen) == (v2.pk, 2, 268500)
    first_row = Bill.objects.get(pk=first.pk)
    assert (first_row.tariff_id, first_row.tariff_version, first_row.area_price) == (
        v1.pk,
        1,
        D("24.0000"),
    )
    assert list(BillLine.objects.filter(bill=first).values_list("amount_fen", flat=True)) == [
        214800
    ]


def test_new_version_refuses_unknown_terms(admin_user):
    season = make_season()
    v1 = services.tariff_create(
        season=season, usage_type="residential", user_type="normal", by=admin_user, **AREA_24
    )
    with pytest.raises(TypeError):
        services.tariff_new_version(tariff=v1, by=admin_user, version=7)
    assert Tariff.objects.count() == 1
