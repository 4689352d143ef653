"""Service appointments: what can be booked, who does it and when, and the bookings themselves.

Two shapes of resource, two guards, both decided by the database:

- a technician team (`Resource.Kind.TEAM`) does one job at a time: its bookings are
  `exclusive` and their `blocked_from..blocked_until` ranges (visit plus travel buffers) must
  not overlap. On PostgreSQL an exclusion constraint (created by the migration, PostgreSQL only)
  enforces it; on SQLite the IMMEDIATE transaction serialises writers and the service checks for
  an overlap inside it.
- a service-hall window (`Resource.Kind.WINDOW`) takes N appointments per slot: each booking
  takes one place of a `Slot` counter by a conditional UPDATE, and a CheckConstraint keeps
  `0 <= booked <= capacity` on both databases.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from heatdesk.core.fields import EncryptedTextField
from heatdesk.core.ids import new_public_id, new_short_code


def _booking_public_id() -> str:
    return new_public_id("bk")


class Resource(models.Model):
    """Who serves an appointment: a technician team (维修班组) or a service-hall window (窗口)."""

    class Kind(models.TextChoices):
        TEAM = "team", "维修班组"
        WINDOW = "window", "营业厅窗口"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    capacity_per_slot = models.PositiveSmallIntegerField(
        "每时段可约人数", default=1, help_text="维修班组一次只做一单，固定为1。"
    )
    location = models.CharField("地点", max_length=200, blank=True)
    communities = models.ManyToManyField(
        "estates.Community", blank=True, related_name="booking_resources", verbose_name="服务小区"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="booking_teams", verbose_name="成员"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="window", capacity_per_slot__gte=1) | Q(capacity_per_slot=1),
                name="resource_capacity_valid",
            ),
        ]
        verbose_name = "服务资源"
        verbose_name_plural = "服务资源"

    def __str__(self) -> str:
        return self.name

    @property
    def exclusive(self) -> bool:
        return self.kind == self.Kind.TEAM


class Service(models.Model):
    """服务项目: what a resident can book, with its timing and booking rules."""

    class Kind(models.TextChoices):
        VISIT = "visit", "上门服务"
        COUNTER = "counter", "营业厅办理"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    duration_minutes = models.PositiveSmallIntegerField("时长（分钟）")
    buffer_before_minutes = models.PositiveSmallIntegerField("前置缓冲（分钟）", default=0)
    buffer_after_minutes = models.PositiveSmallIntegerField("后置缓冲（分钟）", default=0)
    slot_interval_minutes = models.PositiveSmallIntegerField("时段间隔（分钟）", default=30)
    capacity_per_slot = models.PositiveSmallIntegerField("每时段容量", default=1)
    min_notice_minutes = models.PositiveIntegerField("最短提前（分钟）", default=120)
    max_days_ahead = models.PositiveSmallIntegerField("最多提前（天）", default=14)
    cancel_deadline_minutes = models.PositiveIntegerField("取消截止（开始前分钟）", default=120)
    reschedule_deadline_minutes = models.PositiveIntegerField("改约截止（开始前分钟）", default=120)
    requires_house = models.BooleanField("需绑定房屋", default=True)
    requires_approval = models.BooleanField("需人工审核", default=False)
    max_active_per_house = models.PositiveSmallIntegerField(
        "每户有效预约上限", null=True, blank=True, default=1, help_text="留空表示不限。"
    )
    hold_minutes = models.PositiveSmallIntegerField("保留时长（分钟）", default=10)
    reminder_hours_before = models.PositiveSmallIntegerField(
        "提前提醒（小时）", default=24, help_text="0 表示不发送提醒。"
    )
    resources = models.ManyToManyField(Resource, blank=True, related_name="services")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(duration_minutes__gte=1), name="service_duration"),
            models.CheckConstraint(
                condition=Q(slot_interval_minutes__gte=5), name="service_slot_interval"
            ),
            models.CheckConstraint(condition=Q(capacity_per_slot__gte=1), name="service_capacity"),
            models.CheckConstraint(condition=Q(hold_minutes__gte=1), name="service_hold_minutes"),
        ]
        verbose_name = "服务项目"
        verbose_name_plural = "服务项目"

    def __str__(self) -> str:
        return self.name


class WorkingHours(models.Model):
    """One working period of a resource's weekly plan; breaks are the gaps between periods."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField("星期（0=周一）")
    starts = models.TimeField()
    ends = models.TimeField()

    class Meta:
        ordering = ["resource_id", "weekday", "starts"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="working_hours_weekday"),
            models.CheckConstraint(
                condition=Q(starts__lt=models.F("ends")), name="working_hours_order"
            ),
            models.UniqueConstraint(
                fields=["resource", "weekday", "starts"], name="working_hours_unique"
            ),
        ]
        verbose_name = "每周工作时间"
        verbose_name_plural = "每周工作时间"

    def __str__(self) -> str:
        return f"{self.resource} {self.weekday} {self.starts:%H:%M}-{self.ends:%H:%M}"


class DayException(models.Model):
    """A day on which a resource does not follow its weekly plan: closed, or other hours.

    Several open rows for one day give several periods; one closed row closes the whole day.
    Exceptions win over public holidays and make-up days.
    """

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="exceptions")
    date = models.DateField()
    is_closed = models.BooleanField(default=True)
    starts = models.TimeField(null=True, blank=True)
    ends = models.TimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["resource_id", "date", "starts"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_closed=True, starts=None, ends=None)
                | Q(is_closed=False, starts__lt=models.F("ends")),
                name="day_exception_hours",
            ),
        ]
        indexes = [models.Index(fields=["resource", "date"], name="day_exception_lookup")]
        verbose_name = "排班例外"
        verbose_name_plural = "排班例外"

    def __str__(self) -> str:
        return f"{self.resource} {self.date}"


class CalendarDay(models.Model):
    """A public holiday (no appointments) or a make-up working day (调休上班), set per year."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", "法定节假日"
        WORKDAY = "workday", "调休上班"

    date = models.DateField(unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=50, blank=True)
    works_as_weekday = models.PositiveSmallIntegerField(
        "按星期几排班（0=周一）", default=0, help_text="调休上班日使用哪一天的每周工作时间。"
    )

    class Meta:
        ordering = ["date"]
        constraints = [
            models.CheckConstraint(condition=Q(works_as_weekday__lte=6), name="calendar_weekday"),
        ]
        verbose_name = "节假日与调休"
        verbose_name_plural = "节假日与调休"

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()}"


class Slot(models.Model):
    """The place counter of one window slot for one service. `booked` counts active bookings."""

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="slots")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="slots")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveSmallIntegerField()
    booked = models.IntegerField(default=0)

    class Meta:
        ordering = ["starts_at", "resource_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["resource", "service", "starts_at"], name="slot_unique"
            ),
            models.CheckConstraint(
                condition=Q(booked__gte=0, booked__lte=models.F("capacity")),
                name="slot_booked_within_capacity",
            ),
        ]
        verbose_name = "预约时段"
        verbose_name_plural = "预约时段"

    def __str__(self) -> str:
        return f"{self.resource} {self.starts_at:%Y-%m-%d %H:%M} {self.booked}/{self.capacity}"


class HouseQuota(models.Model):
    """How many active bookings of a service a house has; taken with a conditional UPDATE."""

    house = models.ForeignKey("estates.House", on_delete=models.PROTECT, related_name="+")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="+")
    active = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["house", "service"], name="house_quota_unique"),
            models.CheckConstraint(condition=Q(active__gte=0), name="house_quota_nonneg"),
        ]
        verbose_name = "每户预约计数"
        verbose_name_plural = "每户预约计数"

    def __str__(self) -> str:
        return f"{self.house_id}/{self.service_id}={self.active}"


class Booking(models.Model):
    """One appointment. Moves through `Status` by compare-and-set transitions only."""

    class Status(models.TextChoices):
        HELD = "held", "保留中"
        PENDING = "pending", "待审核"
        CONFIRMED = "confirmed", "已确认"
        COMPLETED = "completed", "已完成"
        NO_SHOW = "no_show", "未到场"
        CANCELLED = "cancelled", "已取消"
        EXPIRED = "expired", "已失效"

    public_id = models.CharField(
        max_length=24, unique=True, default=_booking_public_id, editable=False
    )
    code = models.CharField("预约号", max_length=12, unique=True, default=new_short_code)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="bookings")
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="bookings")
    slot = models.ForeignKey(
        Slot, null=True, blank=True, on_delete=models.PROTECT, related_name="bookings"
    )
    exclusive = models.BooleanField()
    resident = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bookings",
    )
    house = models.ForeignKey(
        "estates.House", null=True, blank=True, on_delete=models.PROTECT, related_name="bookings"
    )
    contact_name = EncryptedTextField(blank=True, default="")
    contact_phone = EncryptedTextField(blank=True, default="")
    note = models.CharField("问题描述", max_length=500, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    blocked_from = models.DateTimeField()
    blocked_until = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices)
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_bookings",
    )
    outcome_notes = models.TextField(blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__lt=models.F("ends_at"))
                & Q(blocked_from__lte=models.F("starts_at"))
                & Q(blocked_until__gte=models.F("ends_at")),
                name="booking_times_ordered",
            ),
            models.CheckConstraint(
                condition=Q(exclusive=True, slot=None) | Q(exclusive=False, slot__isnull=False),
                name="booking_slot_matches_kind",
            ),
            models.CheckConstraint(
                condition=~Q(status="held") | Q(hold_expires_at__isnull=False),
                name="booking_hold_has_expiry",
            ),
            models.UniqueConstraint(
                fields=["resident", "slot"],
                condition=Q(status__in=["held", "pending", "confirmed"]),
                name="booking_one_active_per_resident_slot",
            ),
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="booking_idempotency_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["resource", "starts_at"], name="booking_resource_time"),
            models.Index(fields=["status", "hold_expires_at"], name="booking_holds"),
            models.Index(fields=["status", "remind_at"], name="booking_reminders"),
            models.Index(fields=["resident", "starts_at"], name="booking_resident"),
            models.Index(fields=["technician", "starts_at"], name="booking_technician"),
        ]
        permissions = [
            ("approve_booking", "Can approve bookings that need approval"),
            ("assign_booking", "Can assign a technician to a booking"),
            ("record_booking_outcome", "Can mark bookings completed or no-show"),
            ("cancel_any_booking", "Can cancel any booking with a reason"),
            ("reschedule_any_booking", "Can reschedule any booking"),
            ("book_on_behalf", "Can book on behalf of a caller"),
        ]
        verbose_name = "预约"
        verbose_name_plural = "预约"

    def __str__(self) -> str:
        return f"{self.code} {self.service} {self.starts_at:%Y-%m-%d %H:%M}"


ACTIVE_STATUSES = (Booking.Status.HELD, Booking.Status.PENDING, Booking.Status.CONFIRMED)

# The state machine, declared once: from-status → the statuses it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    Booking.Status.HELD: frozenset(
        {
            Booking.Status.PENDING,
            Booking.Status.CONFIRMED,
            Booking.Status.CANCELLED,
            Booking.Status.EXPIRED,
        }
    ),
    Booking.Status.PENDING: frozenset(
        {Booking.Status.CONFIRMED, Booking.Status.CANCELLED, Booking.Status.EXPIRED}
    ),
    Booking.Status.CONFIRMED: frozenset(
        {Booking.Status.COMPLETED, Booking.Status.NO_SHOW, Booking.Status.CANCELLED}
    ),
    Booking.Status.COMPLETED: frozenset(),
    Booking.Status.NO_SHOW: frozenset(),
    Booking.Status.CANCELLED: frozenset(),
    Booking.Status.EXPIRED: frozenset(),
}


class BookingEvent(models.Model):
    """The history of a booking: every transition and change, with who, when and why."""

    class Kind(models.TextChoices):
        CREATED = "created", "创建"
        STATUS = "status", "状态变更"
        RESCHEDULED = "rescheduled", "改约"
        ASSIGNED = "assigned", "指派维修员"
        REMINDED = "reminded", "已提醒"

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="events")
    occurred_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    data = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name = "预约记录"
        verbose_name_plural = "预约记录"

    def __str__(self) -> str:
        return f"{self.booking_id} {self.kind} {self.from_status}→{self.to_status}"
