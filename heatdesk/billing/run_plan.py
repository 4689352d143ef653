"""One batch of a billing run, decided in Python: which houses get a bill with which lines, and
what the preview counts (totals per community and usage type, anomalies). No writes.

A house's season lines depend only on its tariff, its chargeable area and whether it is stopped,
so they are computed once per combination (`season_lines` is memoized; a city has far fewer
distinct areas than houses) by the same calculator `bill_issue` uses.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass
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
)


@dataclass(frozen=True)
class TariffPick:
    id: int
    version: int
    area_basis: str
    terms: TariffTerms


@dataclass(frozen=True)
class Planned:
    house: HouseRow
    outcome: str
    tariff: TariffPick | None = None
    area: Decimal = Decimal(0)
    lines: tuple[DraftLine, ...] = ()
    total_fen: int = 0
    duplicate_meter: bool = False


@functools.lru_cache(maxsize=200_000)
def season_lines(
    season: SeasonDates, terms: TariffTerms, area: ChargeableArea, stopped: bool
) -> tuple[tuple[DraftLine, ...], int]:
    lines = season_fee_lines(
        season=season, terms=terms, area=area, stopped_from=season.start if stopped else None
    )
    return tuple(lines), sum(line.amount_fen for line in lines)


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
    if house.heating_status == House.HeatingStatus.DISCONNECTED:
        return Planned(house=house, outcome=EXCLUDED)
    if house.id in billed:
        return Planned(house=house, outcome=EXISTING)
    tariff = tariffs.get(f"{house.usage_type}/{house.user_type}")
    if tariff is None:
        return Planned(house=house, outcome=NO_TARIFF)
    heated = tariff.area_basis == AreaBasis.HEATED
    value = house.heated_area if heated else house.building_area
    if value <= 0:
        return Planned(house=house, outcome=NO_AREA, tariff=tariff)
    area = ChargeableArea(value=value, label=str(AreaBasis(tariff.area_basis).label))
    stopped = house.heating_status == House.HeatingStatus.STOPPED
    lines, total = season_lines(season, tariff.terms, area, stopped)
    if total == 0:
        return Planned(house=house, outcome=ZERO_AMOUNT, tariff=tariff, area=value)
    return Planned(
        house=house,
        outcome=BILL,
        tariff=tariff,
        area=value,
        lines=lines,
        total_fen=total,
        duplicate_meter=bool(house.meter_id) and house.meter_id in duplicate_meters,
    )


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
