"""One batch of a billing run, decided in Python: which houses get a bill with which lines, and
what the preview counts (totals per community and usage type, anomalies). No writes.

A house's season lines depend only on its tariff, its chargeable area and whether it is stopped,
so they are computed once per combination (a table per tariff's terms; a city has far fewer
distinct areas than houses) by the same calculator `bill_issue` uses.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from heatdesk.billing.calculation import (
    ChargeableArea,
    DraftLine,
    SeasonDates,
    TariffTerms,
    season_fee_lines,
)
from heatdesk.billing.choices import AreaBasis
from heatdesk.estates.models import House

SAMPLES_PER_ANOMALY = 50
_DISCONNECTED = House.HeatingStatus.DISCONNECTED.value
_STOPPED = House.HeatingStatus.STOPPED.value

# Outcomes of one house in a run. The anomalies are the ones staff must look at.
BILL = "bills"
EXISTING = "existing"
EXCLUDED = "excluded"
NO_TARIFF = "no_tariff"
NO_AREA = "no_area"
ZERO_AMOUNT = "zero_amount"
DUPLICATE_METER = "duplicate_meter"
ANOMALIES = {
    NO_AREA: "无计费面积（不开账）",
    NO_TARIFF: "未设置热价（不开账）",
    ZERO_AMOUNT: "应收为零（不开账）",
    DUPLICATE_METER: "热表编号与其他房屋重复（照常开账，请核对）",
}
COUNT_LABELS = {
    "houses": "处理户数",
    BILL: "开账户数",
    "amount_fen": "开账金额（分）",
    EXISTING: "本季已有账单（跳过）",
    EXCLUDED: "停供/拆网（不开账）",
    **ANOMALIES,
}


class HouseRow(NamedTuple):
    id: int
    account_no: str
    room: str
    building_area: Decimal
    heated_area: Decimal
    usage_type: str
    user_type: str
    heating_status: str
    meter_id: str
    unit: str
    building: str
    community_id: int
    community: str
    unit_id: int


HOUSE_COLUMNS = (
    "id",
    "account_no",
    "room",
    "building_area",
    "heated_area",
    "usage_type",
    "user_type",
    "heating_status",
    "meter_id",
    "unit__name",
    "unit__building__name",
    "unit__building__community_id",
    "unit__building__community__name",
    "unit_id",
)
# What a house's plan depends on (and where its tally counts it): a batch planned ahead from
# rows read without locks is used only if these are the same once the houses are locked.
VERSION_COLUMNS = (
    "id",
    "building_area",
    "heated_area",
    "usage_type",
    "user_type",
    "heating_status",
    "meter_id",
    "unit_id",
)


def house_version(house: HouseRow) -> tuple[object, ...]:
    return (
        house.id,
        house.building_area,
        house.heated_area,
        house.usage_type,
        house.user_type,
        house.heating_status,
        house.meter_id,
        house.unit_id,
    )


@dataclass(frozen=True)
class TariffPick:
    id: int
    version: int
    area_basis: str
    terms: TariffTerms
    # Lines per (chargeable area, stopped), shared by every batch of every run on these terms.
    plans: dict[tuple[Decimal, bool], tuple[tuple[DraftLine, ...], int]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )


class Planned(NamedTuple):  # a tuple: one is made per house, a million per run
    house: HouseRow
    outcome: str
    tariff: TariffPick | None = None
    area: Decimal = Decimal(0)
    lines: tuple[DraftLine, ...] = ()
    total_fen: int = 0
    duplicate_meter: bool = False


_PLANS: dict[tuple[SeasonDates, TariffTerms, str], dict[tuple[Decimal, bool], Any]] = {}
MAX_TERMS_CACHED = 256


def tariff_pick(
    *, id: int, version: int, area_basis: str, terms: TariffTerms, season: SeasonDates
) -> TariffPick:
    """A tariff as a run uses it, with the table of its season lines (computed on first use,
    kept across batches and runs for as long as the terms and dates are the same)."""
    if len(_PLANS) >= MAX_TERMS_CACHED:
        _PLANS.clear()
    plans = _PLANS.setdefault((season, terms, area_basis), {})
    return TariffPick(id=id, version=version, area_basis=area_basis, terms=terms, plans=plans)


def _season_lines(
    tariff: TariffPick, season: SeasonDates, value: Decimal, stopped: bool
) -> tuple[tuple[DraftLine, ...], int]:
    key = (value, stopped)
    found = tariff.plans.get(key)
    if found is None:
        area = ChargeableArea(value=value, label=str(AreaBasis(tariff.area_basis).label))
        lines = season_fee_lines(
            season=season,
            terms=tariff.terms,
            area=area,
            stopped_from=season.start if stopped else None,
        )
        found = tariff.plans[key] = (tuple(lines), sum(line.amount_fen for line in lines))
    return found


def plan_house(
    *,
    house: HouseRow,
    season: SeasonDates,
    tariffs: dict[str, TariffPick],
    billed: set[int],
    duplicate_meters: frozenset[str],
) -> Planned:
    """What the run does with one house; the same rules as `services.bill_issue` for a whole
    season (a house marked 报停 pays the stop fee for all of it)."""
    status = house.heating_status
    if status == _DISCONNECTED:
        return Planned(house, EXCLUDED)
    if house.id in billed:
        return Planned(house, EXISTING)
    tariff = tariffs.get(f"{house.usage_type}/{house.user_type}")
    if tariff is None:
        return Planned(house, NO_TARIFF)
    value = house.heated_area if tariff.area_basis == AreaBasis.HEATED else house.building_area
    if value <= 0:
        return Planned(house, NO_AREA, tariff)
    lines, total = _season_lines(tariff, season, value, status == _STOPPED)
    if total == 0:
        return Planned(house, ZERO_AMOUNT, tariff, value)
    duplicate = bool(house.meter_id) and house.meter_id in duplicate_meters
    return Planned(house, BILL, tariff, value, lines, total, duplicate)


def address(house: HouseRow) -> str:
    return f"{house.community}{house.building}{house.unit}{house.room}室"


def _sample(house: HouseRow) -> dict[str, Any]:
    return {"house_id": house.id, "account_no": house.account_no, "address": address(house)}


def tally_add(tally: dict[str, Any], planned: Iterable[Planned], written: set[int] | None) -> None:
    """Add a batch to a run's tally. `written` are the houses the commit actually billed (None
    in a preview, where every billable house counts); a billable house the database refused
    was billed meanwhile by someone else, and counts as existing."""
    counts: dict[str, int] = tally.setdefault("counts", {})
    totals: dict[str, Any] = tally.setdefault("totals", {})
    anomalies: dict[str, list[dict[str, Any]]] = tally.setdefault("anomalies", {})

    def note(kind: str, house: HouseRow) -> None:
        counts[kind] = counts.get(kind, 0) + 1
        if kind in ANOMALIES:
            samples = anomalies.setdefault(kind, [])
            if len(samples) < SAMPLES_PER_ANOMALY:
                samples.append(_sample(house))

    for plan in planned:
        house = plan.house
        counts["houses"] = counts.get("houses", 0) + 1
        outcome = plan.outcome
        if outcome == BILL and written is not None and house.id not in written:
            outcome = EXISTING
        note(outcome, house)
        if outcome != BILL:
            continue
        if plan.duplicate_meter:
            note(DUPLICATE_METER, house)
        counts["amount_fen"] = counts.get("amount_fen", 0) + plan.total_fen
        community = totals.setdefault(str(house.community_id), {"name": house.community})
        usage = community.setdefault(house.usage_type, {"houses": 0, "amount_fen": 0})
        usage["houses"] += 1
        usage["amount_fen"] += plan.total_fen
