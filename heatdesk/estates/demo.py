"""The demo city that `heatdesk demo` loads for `make run`.

Four 小区 with 2,044 houses, owners with Chinese names and mobile numbers, demo residents who
log in by SMS code, and one staff login per role. Everything is drawn from one seeded random
generator, so every run produces the same people, rooms, phones and areas.
"""

import random
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from heatdesk.accounts import services as account_services
from heatdesk.accounts.models import User
from heatdesk.accounts.roles import (
    ROLE_ADMIN,
    ROLE_AGENT,
    ROLE_COLLECTOR,
    ROLE_FINANCE,
    ROLE_LABELS,
    ROLE_TECHNICIAN,
    sync_roles,
)
from heatdesk.estates.models import Building, Community, House, HouseBinding, Unit
from heatdesk.estates.services import house_bind

SEED = 20261124
CENT = Decimal("0.01")


@dataclass(frozen=True)
class CommunityPlan:
    number: int
    code: str
    name: str
    district: str
    address: str
    buildings: int
    units: int
    floors: int
    rooms_per_floor: int
    metered: bool  # newer estates have a heat meter in every home


COMMUNITIES = (
    CommunityPlan(1, "JXHY", "锦绣花园", "新华区", "新华区建设北路168号", 12, 3, 6, 2, False),
    CommunityPlan(2, "YGXC", "阳光新城", "开发区", "开发区长江路88号", 14, 2, 11, 2, False),
    CommunityPlan(3, "XFLI", "幸福里", "桥西区", "桥西区和平西路27号", 10, 3, 7, 2, False),
    CommunityPlan(4, "CHMY", "翠湖名苑", "城东区", "城东区湖滨路9号", 8, 2, 18, 2, True),
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
)
# Common surnames come up more often, as they do in a real register.
SURNAME_WEIGHTS = tuple(max(1, 30 - i // 3) for i in range(len(SURNAMES)))
# Given names as people carry them: one character or a common two-character name, by gender.
GIVEN_NAMES = (
    (
        "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "刚", "辉", "斌", "鹏", "飞",
        "峰", "波", "亮", "宁", "东", "建国", "建军", "志强", "志明", "国强", "海涛", "俊杰",
        "浩然", "子轩", "宇航", "文博", "明辉", "永刚", "立新", "德华", "振华", "晓东", "家豪",
        "伟东", "玉龙", "建华", "国庆", "红军", "春生", "福生", "宏伟", "天宇", "思远", "博文",
        "嘉懿",
    ),
    (
        "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "玲", "燕", "萍", "红", "梅", "琳", "婷",
        "颖", "慧", "洁", "倩", "璐", "秀英", "桂英", "秀兰", "玉兰", "丽华", "淑珍", "美玲",
        "晓燕", "雪梅", "婷婷", "欣怡", "诗涵", "梓涵", "雨欣", "佳怡", "丽娟", "红梅", "海燕",
        "静怡", "文静", "春梅", "桂兰", "凤英", "玉梅", "淑芬", "晓丽", "思雨", "可馨", "若曦",
        "一诺",
    ),
)  # fmt: skip
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "156", "157", "158", "159", "166", "173", "176", "177", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "198", "199",
)  # fmt: skip
SHOP_NAMES = ("便民超市", "社区卫生服务站", "烟酒副食店", "洗衣店", "大药房", "早餐店", "理发店")


@dataclass(frozen=True)
class HousePlan:
    community_code: str
    building: str
    unit: str
    floor: int
    room: str
    account_no: str
    building_area: Decimal
    heated_area: Decimal
    usage_type: str
    user_type: str
    heating_status: str
    meter_id: str
    owner_name: str
    owner_phone: str


@dataclass(frozen=True)
class DemoOwner:
    """A house whose owner is a demo resident (or their relative)."""

    account_no: str
    name: str
    phone: str


@dataclass(frozen=True)
class DemoResident:
    phone: str
    display_name: str
    bindings: tuple[tuple[str, str], ...]  # (account_no, relation)
    note: str


@dataclass(frozen=True)
class DemoStaff:
    username: str
    password: str
    role: str
    display_name: str


# Account numbers spell the address: community, building, unit, room (HT 01 03 2 0502).
DEMO_OWNERS = (
    DemoOwner("HT010320502", "张伟", "13800000001"),
    DemoOwner("HT020611101", "张建国", "13904711235"),
    DemoOwner("HT030230301", "王芳", "13800000002"),
    DemoOwner("HT040511602", "刘洋", "13800000003"),
)
DEMO_RESIDENTS = (
    DemoResident(
        "13800000001",
        "张伟",
        (
            ("HT010320502", HouseBinding.Relation.OWNER),
            ("HT020611101", HouseBinding.Relation.FAMILY),
        ),
        "已绑定 2 户：锦绣花园3号楼2单元502室（户主）、阳光新城6号楼1单元1101室（家庭成员）",
    ),
    DemoResident(
        "13800000002",
        "王芳",
        (("HT030230301", HouseBinding.Relation.OWNER),),
        "已绑定 1 户：幸福里2号楼3单元301室（户主）",
    ),
    DemoResident(
        "13800000003",
        "刘洋",
        (),
        "未绑定房屋：可用户号 HT040511602 + 户主姓名“刘洋”自助绑定",
    ),
)
DEMO_ADMIN = "admin"  # the staff login that sets up the demo's bookable services
DEMO_STAFF = (
    DemoStaff("collector", "heatdesk-collector", ROLE_COLLECTOR, "陈静"),
    DemoStaff("technician", "heatdesk-technician", ROLE_TECHNICIAN, "赵磊"),
    DemoStaff("agent", "heatdesk-agent", ROLE_AGENT, "孙丽"),
    DemoStaff("finance", "heatdesk-finance", ROLE_FINANCE, "周敏"),
    DemoStaff("admin", "heatdesk-admin", ROLE_ADMIN, "系统管理员"),
)


def account_no_for(plan: CommunityPlan, building: int, unit: int, room: str) -> str:
    return f"HT{plan.number:02d}{building:02d}{unit}{room:0>4}"


def _person_name(rng: random.Random) -> str:
    surname = rng.choices(SURNAMES, weights=SURNAME_WEIGHTS)[0]
    return surname + rng.choice(GIVEN_NAMES[rng.randrange(2)])


def _mobile(rng: random.Random) -> str:
    while True:
        phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if not phone.startswith("1380000"):  # the demo residents' own range
            return phone


def _area(rng: random.Random, low: int, high: int) -> Decimal:
    return (Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(CENT)


def city_plan(seed: int = SEED) -> list[HousePlan]:
    """Every house of the demo city, the same list for the same seed."""
    rng = random.Random(seed)  # noqa: S311 - demo data must be repeatable, not secret
    owners = {owner.account_no: owner for owner in DEMO_OWNERS}
    houses: list[HousePlan] = []
    meter_seq = 0
    for plan in COMMUNITIES:
        for b in range(1, plan.buildings + 1):
            for u in range(1, plan.units + 1):
                # One layout per stack of rooms: the same area on every floor.
                layouts = []
                for _ in range(plan.rooms_per_floor):
                    area = _area(rng, 50, 160)
                    ratio = Decimal(rng.randint(880, 960)) / 1000
                    layouts.append((area, (area * ratio).quantize(CENT)))
                for floor in range(1, plan.floors + 1):
                    for i in range(1, plan.rooms_per_floor + 1):
                        room = f"{floor}{i:02d}"
                        account_no = account_no_for(plan, b, u, room)
                        shop = b == 1 and u == 1 and floor == 1
                        area, heated = layouts[i - 1]
                        if shop:
                            area = _area(rng, 60, 150)
                            heated = (area * Decimal("0.95")).quantize(CENT)
                        owner_name = (
                            plan.name + rng.choice(SHOP_NAMES) if shop else _person_name(rng)
                        )
                        owner_phone = _mobile(rng) if rng.random() < 0.97 else ""
                        low_income = not shop and rng.random() < 0.015
                        stopped = rng.random() < 0.02
                        metered = plan.metered or rng.random() < 0.05
                        meter_id = ""
                        if metered:
                            meter_seq += 1
                            meter_id = f"RB{plan.number:02d}{meter_seq:07d}"
                        demo = owners.get(account_no)
                        if demo is not None:
                            owner_name, owner_phone = demo.name, demo.phone
                            low_income, stopped = False, False
                        houses.append(
                            HousePlan(
                                community_code=plan.code,
                                building=f"{b}号楼",
                                unit=f"{u}单元",
                                floor=floor,
                                room=room,
                                account_no=account_no,
                                building_area=area,
                                heated_area=heated,
                                usage_type=(
                                    House.UsageType.NON_RESIDENTIAL
                                    if shop
                                    else House.UsageType.RESIDENTIAL
                                ),
                                user_type=(
                                    House.UserType.LOW_INCOME
                                    if low_income
                                    else House.UserType.NORMAL
                                ),
                                heating_status=(
                                    House.HeatingStatus.STOPPED
                                    if stopped
                                    else House.HeatingStatus.HEATING
                                ),
                                meter_id=meter_id,
                                owner_name=owner_name,
                                owner_phone=owner_phone,
                            )
                        )
    return houses


def demo_loaded() -> bool:
    """The demo city is in the database (its communities are the marker)."""
    return Community.objects.filter(code__in=[plan.code for plan in COMMUNITIES]).exists()


@dataclass(frozen=True)
class DemoResult:
    created: bool
    communities: int = 0
    houses: int = 0
    residents: int = 0
    staff_created: tuple[str, ...] = ()
    staff_kept: tuple[str, ...] = ()


def demo_load() -> DemoResult:
    """Load the demo city, residents and staff once; a second call changes nothing.

    Everything goes in one transaction, so an interrupted load leaves no half city behind.
    """
    if settings.PRODUCTION:
        raise RuntimeError("refusing to load demo data in production")
    if demo_loaded():
        return DemoResult(created=False)
    houses = city_plan()
    with transaction.atomic():
        sync_roles()
        _create_estates(houses)
        residents = _create_residents()
        created, kept = _create_staff()
    return DemoResult(
        created=True,
        communities=len(COMMUNITIES),
        houses=len(houses),
        residents=residents,
        staff_created=created,
        staff_kept=kept,
    )


def _create_estates(houses: list[HousePlan]) -> None:
    Community.objects.bulk_create(
        [
            Community(code=p.code, name=p.name, district=p.district, address=p.address)
            for p in COMMUNITIES
        ]
    )
    communities = {
        c.code: c for c in Community.objects.filter(code__in=[p.code for p in COMMUNITIES])
    }
    Building.objects.bulk_create(
        [
            Building(community=communities[p.code], name=f"{b}号楼")
            for p in COMMUNITIES
            for b in range(1, p.buildings + 1)
        ]
    )
    buildings = {
        (b.community.code, b.name): b
        for b in Building.objects.filter(community__in=communities.values()).select_related(
            "community"
        )
    }
    Unit.objects.bulk_create(
        [
            Unit(building=buildings[(p.code, f"{b}号楼")], name=f"{u}单元")
            for p in COMMUNITIES
            for b in range(1, p.buildings + 1)
            for u in range(1, p.units + 1)
        ]
    )
    units = {
        (u.building.community.code, u.building.name, u.name): u
        for u in Unit.objects.filter(building__community__in=communities.values()).select_related(
            "building__community"
        )
    }
    House.objects.bulk_create(
        [
            House(
                account_no=h.account_no,
                unit=units[(h.community_code, h.building, h.unit)],
                floor=h.floor,
                room=h.room,
                building_area=h.building_area,
                heated_area=h.heated_area,
                usage_type=h.usage_type,
                user_type=h.user_type,
                heating_status=h.heating_status,
                meter_id=h.meter_id,
                owner_name=h.owner_name,
                owner_phone=h.owner_phone,
                owner_phone_hash=account_services.phone_hash(h.owner_phone)
                if h.owner_phone
                else "",
            )
            for h in houses
        ],
        batch_size=500,
    )


def _create_residents() -> int:
    owner_names = {owner.account_no: owner.name for owner in DEMO_OWNERS}
    for resident in DEMO_RESIDENTS:
        user = account_services.resident_get_or_create_by_phone(phone=resident.phone)
        User.objects.filter(pk=user.pk, display_name="").update(display_name=resident.display_name)
        account_services.privacy_accept(
            user=user, version=settings.PRIVACY_POLICY_VERSION, ip="127.0.0.1"
        )
        for account_no, relation in resident.bindings:
            house_bind(
                user=user,
                account_no=account_no,
                relation=relation,
                owner_name=owner_names[account_no],
                ip="127.0.0.1",
            )
    return len(DEMO_RESIDENTS)


def _create_staff() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """One login per role; an existing user of the same name is left exactly as it is."""
    created, kept = [], []
    for staff in DEMO_STAFF:
        if User.objects.filter(username=staff.username).exists():
            kept.append(staff.username)
            continue
        user = User.objects.create_user(
            staff.username,
            staff.password,
            display_name=staff.display_name,
            is_staff=True,
            is_superuser=staff.role == ROLE_ADMIN,
        )
        user.groups.add(Group.objects.get(name=staff.role))
        created.append(staff.username)
    return tuple(created), tuple(kept)


def demo_logins() -> list[str]:
    """The demo logins, as lines for people (printed by `heatdesk demo` and `heatdesk serve`)."""
    lines = [
        "居民（用手机打开首页 / ，输入下列手机号获取验证码；"
        "验证码不发真短信，在沙箱短信收件箱 /sandbox/sms/ 查看）：",
    ]
    lines += [f"  {r.phone}  {r.display_name}  {r.note}" for r in DEMO_RESIDENTS]
    lines += [
        "居民可以：",
        "  缴费：已绑定的每户都有本采暖季待缴账单（阳光新城那户另有上季欠费和滞纳金，"
        "幸福里那户已在柜台缴过一部分）；打开账单选微信支付或支付宝，"
        "在沙箱收银台确认付款，结果页自动变为已支付。",
        "  预约：上门维修、入户测温、阀门调节（维修班组上门）或营业厅办理，"
        "可选今后两周内的空闲时段，预约后可改约或取消。",
    ]
    lines.append("员工（用户名 / 密码，登录 /console/ 或 /admin/）：")
    for s in DEMO_STAFF:
        label = ROLE_LABELS[s.role] + ("，超级用户" if s.role == ROLE_ADMIN else "")
        lines.append(f"  {s.username} / {s.password}  （{label}）")
    return lines
