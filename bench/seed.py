"""Seed a fresh bench database: the ceilings' 100k rows, and a demo-like city of houses and
residents with bound houses and API tokens.

Runs inside Django with the bench settings (``python -m bench.seed --workdir DIR``, started by
``bench.run``). Rows are written with ``bulk_create`` so they go through the same model fields
as the app's own writes (personal data encrypted, phone blind index), and tokens are issued by
``token_issue``, so only their hashes are stored, exactly as after a real login.
"""

import argparse
import datetime as dt
import json
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕斌建国志强秀云"
COMMUNITIES = [
    "幸福家园",
    "阳光花园",
    "锦绣华庭",
    "滨河小区",
    "翠湖苑",
    "金桥新村",
    "紫荆公寓",
    "和平里",
    "东湖佳园",
    "润泽园",
    "丽景湾",
    "铁路新村",
]
DISTRICTS = ["城关区", "七里河区", "安宁区", "西固区"]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _phone(rng: random.Random, used: set[str]) -> str:
    for _ in range(1000):
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        if phone not in used:
            used.add(phone)
            return phone
    raise RuntimeError("could not draw a fresh phone number")


def residents_create(phones: list[str]) -> list[Any]:
    """Residents, one per phone: verified, the privacy policy accepted, in the resident group."""
    from django.conf import settings
    from django.contrib.auth.models import Group

    from heatdesk.accounts.models import User
    from heatdesk.accounts.roles import ROLE_RESIDENT
    from heatdesk.accounts.services import phone_hash
    from heatdesk.core import clock

    now = clock.now()
    users = []
    for phone in phones:
        user = User(
            phone=phone,
            phone_hash=phone_hash(phone),
            phone_verified_at=now,
            privacy_version=settings.PRIVACY_POLICY_VERSION,
            privacy_accepted_at=now,
        )
        user.set_unusable_password()
        users.append(user)
    users = User.objects.bulk_create(users, batch_size=2000)
    group = Group.objects.get(name=ROLE_RESIDENT)
    User.groups.through.objects.bulk_create(
        (User.groups.through(user_id=u.pk, group_id=group.pk) for u in users), batch_size=2000
    )
    return users


def season_open_with_tariffs(*, dates: dict[str, Any] | None = None) -> Any:
    """An open season with area tariffs for the seeded houses' three kinds: residential 25.00
    元/㎡ (low-income with half of it as relief), non-residential 40.00 元/㎡ with a 5 %
    surcharge. `dates`: the season's code and dates; by default a season that began
    heating ten days ago, bills issued, payment due in a month."""
    from heatdesk.billing import services
    from heatdesk.core import clock

    if dates is None:
        today = clock.local_today()
        start = today - dt.timedelta(days=10)
        dates = {
            "code": f"{start.year}-{start.year + 1}",
            "heating_start": start,
            "heating_end": today + dt.timedelta(days=110),
            "bill_issue_date": today - dt.timedelta(days=40),
            "payment_due_date": today + dt.timedelta(days=30),
            "stop_apply_deadline": today - dt.timedelta(days=50),
        }
    season = services.season_create(by=None, **dates)
    services.season_open(season=season, by=None)
    for usage, user_type, price, extra in (
        ("residential", "normal", "25.00", {}),
        (
            "residential",
            "low_income",
            "25.00",
            {"relief_ratio": Decimal("0.50"), "relief_funding_source": "市民政局"},
        ),
        ("non_residential", "normal", "40.00", {"surcharge_ratio": Decimal("0.05")}),
    ):
        services.tariff_create(
            season=season,
            usage_type=usage,
            user_type=user_type,
            by=None,
            pricing="area",
            area_price=Decimal(price),
            **extra,
        )
    return season


def seed_read_rows(*, rows: int) -> None:
    """`rows` bill-shaped rows for the one-row-read ceiling, in one INSERT … SELECT."""
    from django.db import connection

    from bench.app.models import ReadRow

    table = connection.ops.quote_name(ReadRow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (account_id, period, heat_gj, amount_fen, status, due_date,"  # noqa: S608 - table name from the model
            " issued_at, note)"
            " SELECT g, '2025-01', (g %% 97)::numeric / 3, (g %% 1000) * 100 + 45, 0,"
            " date '2025-02-15', now(), 'seed' FROM generate_series(1, %s) AS g",
            [rows],
        )


def seed_estate(*, residents: int, seed: int, tokens_file: Path) -> dict[str, int]:
    """Communities → buildings → units → houses (encrypted owners), residents who verified a
    phone and accepted the privacy policy, 1–3 active bindings each (some ended ones too), and
    one live API token per resident written to `tokens_file` (plus revoked and expired ones)."""
    import hashlib
    import secrets

    from django.conf import settings
    from django.db import transaction

    from heatdesk.accounts.models import ApiToken, PrivacyConsent
    from heatdesk.accounts.services import phone_hash, token_issue
    from heatdesk.core import clock
    from heatdesk.estates.models import Building, Community, House, HouseBinding, Unit

    rng = random.Random(seed)
    now = clock.now()
    phones: set[str] = set()
    with transaction.atomic():
        communities = Community.objects.bulk_create(
            Community(
                code=f"BC{i + 1:03d}",
                name=name,
                district=rng.choice(DISTRICTS),
                address=f"{rng.choice(DISTRICTS)}{name}路{rng.randint(1, 300)}号",
            )
            for i, name in enumerate(COMMUNITIES)
        )
        buildings = Building.objects.bulk_create(
            Building(community=c, name=f"{b}号楼") for c in communities for b in range(1, 7)
        )
        units = Unit.objects.bulk_create(
            Unit(building=b, name=f"{u}单元") for b in buildings for u in range(1, 4)
        )
        house_objs: list[House] = []
        for unit in units:
            for floor in range(1, 19):
                for room in (1, 2):
                    area = Decimal(rng.randint(5500, 14000)) / 100
                    owner_phone = _phone(rng, phones)
                    house_objs.append(
                        House(
                            account_no=f"HT{len(house_objs) + 1:08d}",
                            unit=unit,
                            floor=floor,
                            room=f"{floor}{room:02d}",
                            building_area=area,
                            heated_area=(area * Decimal("0.95")).quantize(Decimal("0.01")),
                            usage_type=rng.choices(House.UsageType.values, weights=(95, 5), k=1)[0],
                            user_type=rng.choices(House.UserType.values, weights=(93, 7), k=1)[0],
                            heating_status=rng.choices(
                                House.HeatingStatus.values, weights=(90, 8, 2), k=1
                            )[0],
                            meter_id=f"M{rng.randrange(10**10):010d}",
                            owner_name=_name(rng),
                            owner_phone=owner_phone,
                            owner_phone_hash=phone_hash(owner_phone),
                        )
                    )
        houses = House.objects.bulk_create(house_objs, batch_size=2000)

        users = residents_create([_phone(rng, phones) for _ in range(residents)])
        PrivacyConsent.objects.bulk_create(
            PrivacyConsent(user=u, version=settings.PRIVACY_POLICY_VERSION, ip="127.0.0.1")
            for u in users
        )

        bindings: list[HouseBinding] = []
        for user in users:
            count = rng.choices((1, 2, 3), weights=(70, 20, 10), k=1)[0]
            for k, house in enumerate(rng.sample(houses, count + 1)):
                ended = k == count  # the extra one: ended for some residents, skipped for others
                if ended and rng.random() >= 0.2:
                    continue
                bindings.append(
                    HouseBinding(
                        user=user,
                        house=house,
                        relation="owner" if k == 0 else rng.choice(("family", "tenant")),
                        ended_at=now - dt.timedelta(days=rng.randint(1, 400)) if ended else None,
                    )
                )
        HouseBinding.objects.bulk_create(bindings, batch_size=2000)

        old_tokens = []
        for user in users[::2]:
            for revoked in (True, False):
                raw = "hd_" + secrets.token_urlsafe(32)
                old_tokens.append(
                    ApiToken(
                        user=user,
                        key_hash=hashlib.sha256(raw.encode()).hexdigest(),
                        prefix=raw[:10],
                        expires_at=now + dt.timedelta(days=10) if revoked else now,
                        revoked_at=now if revoked else None,
                        client="old",
                    )
                )
        ApiToken.objects.bulk_create(old_tokens, batch_size=2000)
        tokens = [token_issue(user=user, client="bench") for user in users]

    tokens_file.write_text("\n".join(tokens) + "\n")
    return {
        "communities": len(communities),
        "houses": len(houses),
        "residents": len(users),
        "bindings_active": sum(1 for b in bindings if b.ended_at is None),
        "bindings_ended": sum(1 for b in bindings if b.ended_at is not None),
        "tokens": len(tokens) + len(old_tokens),
    }


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--residents", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args(argv)

    import django

    django.setup()
    started = time.monotonic()
    summary: dict[str, Any] = {"read_rows": args.rows}
    seed_read_rows(rows=args.rows)
    summary |= seed_estate(
        residents=args.residents, seed=args.seed, tokens_file=args.workdir / "tokens.txt"
    )
    analyze()
    summary["seconds"] = round(time.monotonic() - started, 1)
    print("SEED " + json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
