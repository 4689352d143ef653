"""Roles are groups with permissions, declared here once and synced after every migrate."""

from typing import Any

ROLE_RESIDENT = "resident"
ROLE_COLLECTOR = "collector"
ROLE_TECHNICIAN = "technician"
ROLE_AGENT = "agent"
ROLE_FINANCE = "finance"
ROLE_ADMIN = "admin"

ROLE_LABELS = {
    ROLE_RESIDENT: "供暖用户",
    ROLE_COLLECTOR: "收费员",
    ROLE_TECHNICIAN: "维修员",
    ROLE_AGENT: "客服",
    ROLE_FINANCE: "财务",
    ROLE_ADMIN: "系统管理员",
}

# "app_label.codename" permissions per role; later apps add theirs here.
ROLE_PERMISSIONS: dict[str, set[str]] = {
    ROLE_RESIDENT: set(),
    ROLE_COLLECTOR: {"estates.view_house", "estates.view_community"},
    ROLE_TECHNICIAN: {"estates.view_house", "estates.view_community"},
    ROLE_AGENT: {
        "estates.view_house",
        "estates.view_community",
        "estates.view_housebinding",
        "estates.manage_bindings",
    },
    ROLE_FINANCE: {"estates.view_house", "estates.view_community", "audit.view_auditentry"},
    ROLE_ADMIN: {
        "estates.view_house",
        "estates.add_house",
        "estates.change_house",
        "estates.view_community",
        "estates.add_community",
        "estates.change_community",
        "estates.view_building",
        "estates.add_building",
        "estates.change_building",
        "estates.view_unit",
        "estates.add_unit",
        "estates.change_unit",
        "estates.view_housebinding",
        "estates.manage_bindings",
        "estates.import_houses",
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "audit.view_auditentry",
    },
}
BILLING_VIEW = {
    "billing.view_heatingseason",
    "billing.view_tariff",
    "billing.view_bill",
    "billing.view_billline",
}
ROLE_PERMISSIONS[ROLE_COLLECTOR] |= {"billing.view_bill", "billing.view_billline"}
ROLE_PERMISSIONS[ROLE_AGENT] |= {"billing.view_bill", "billing.view_billline"}
ROLE_PERMISSIONS[ROLE_FINANCE] |= BILLING_VIEW | {"billing.adjust_bill", "billing.void_bill"}
ROLE_PERMISSIONS[ROLE_ADMIN] |= BILLING_VIEW | {
    "billing.add_heatingseason",
    "billing.change_heatingseason",
    "billing.open_close_season",
    "billing.add_tariff",
    "billing.change_tariff",
    "billing.issue_bill",
    "billing.void_bill",
}
_BOOKINGS_TECH = {
    "bookings.view_booking",
    "bookings.view_service",
    "bookings.view_resource",
    "bookings.record_booking_outcome",
}
_BOOKINGS_AGENT = {
    f"bookings.{c}"
    for c in (
        "view_booking",
        "view_bookingevent",
        "view_service",
        "view_resource",
        "view_workinghours",
        "view_dayexception",
        "view_calendarday",
        "book_on_behalf",
        "approve_booking",
        "assign_booking",
        "cancel_any_booking",
        "reschedule_any_booking",
    )
}
ROLE_PERMISSIONS[ROLE_TECHNICIAN] |= _BOOKINGS_TECH
ROLE_PERMISSIONS[ROLE_COLLECTOR] |= _BOOKINGS_TECH | {"bookings.book_on_behalf"}
ROLE_PERMISSIONS[ROLE_AGENT] |= _BOOKINGS_AGENT
ROLE_PERMISSIONS[ROLE_ADMIN] |= _BOOKINGS_AGENT | {
    f"bookings.{c}"
    for c in (
        "add_service",
        "change_service",
        "add_resource",
        "change_resource",
        "change_workinghours",
        "add_dayexception",
        "delete_dayexception",
        "change_calendarday",
        "view_slot",
        "view_housequota",
        "record_booking_outcome",
    )
}
ROLE_PERMISSIONS[ROLE_ADMIN] |= {
    f"billing.{c}"
    for c in (
        "run_billing",
        "view_billingrun",
        "decide_heating_change",
        "view_heatingchange",
        "import_meter_readings",
        "settle_metered",
        "view_meterreading",
        "view_ledgerentry",
        "view_allocation",
    )
}
ROLE_PERMISSIONS[ROLE_FINANCE] |= {
    f"billing.{c}"
    for c in (
        "view_billingrun",
        "settle_metered",
        "view_meterreading",
        "view_ledgerentry",
        "view_allocation",
        "view_heatingchange",
    )
}
ROLE_PERMISSIONS[ROLE_AGENT] |= {
    "billing.decide_heating_change",
    "billing.view_heatingchange",
    "billing.view_ledgerentry",
}
ROLE_PERMISSIONS[ROLE_COLLECTOR] |= {"billing.view_ledgerentry", "billing.view_heatingchange"}
_PAYMENTS_VIEW = {
    "payments.view_paymentorder",
    "payments.view_paymentorderitem",
    "payments.view_refund",
}
ROLE_PERMISSIONS[ROLE_COLLECTOR] |= _PAYMENTS_VIEW | {
    "payments.take_counter_payment",
    "payments.view_countershift",
    "payments.request_refund",
}
ROLE_PERMISSIONS[ROLE_AGENT] |= _PAYMENTS_VIEW | {"payments.request_refund"}
_PAYMENTS_FINANCE = _PAYMENTS_VIEW | {
    f"payments.{c}"
    for c in (
        "view_countershift",
        "view_providernotify",
        "view_reconciliationreport",
        "view_reconciliationitem",
        "view_paymentalert",
        "request_refund",
        "approve_refund",
        "reconcile",
        "void_counter_payment",
    )
}
ROLE_PERMISSIONS[ROLE_FINANCE] |= _PAYMENTS_FINANCE
# Refund approval and reconciliation stay with finance: whoever configures the system does not
# also approve money going out.
ROLE_PERMISSIONS[ROLE_ADMIN] |= _PAYMENTS_FINANCE - {
    "payments.approve_refund",
    "payments.reconcile",
}
# 滞纳金减免: customer service and finance ask; finance approves (never the asker).
ROLE_PERMISSIONS[ROLE_AGENT] |= {"billing.request_late_fee_waiver", "billing.view_latefeewaiver"}
ROLE_PERMISSIONS[ROLE_FINANCE] |= {
    "billing.request_late_fee_waiver",
    "billing.approve_late_fee_waiver",
    "billing.view_latefeewaiver",
}
ROLE_PERMISSIONS[ROLE_ADMIN] |= {"billing.view_latefeewaiver"}
STAFF_ROLES = [r for r in ROLE_PERMISSIONS if r != ROLE_RESIDENT]


def sync_roles() -> None:
    """Create the role groups and set their permissions to exactly what ROLE_PERMISSIONS says."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for dotted in sorted(perms):
            app_label, codename = dotted.split(".", 1)
            found = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found is not None:
                wanted.append(found)
        group.permissions.set(wanted)


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    # Permissions of later apps appear as their own post_migrate runs; syncing each time is cheap.
    sync_roles()
