import pytest
from django.test import Client

from heatdesk.accounts.models import User
from heatdesk.bookings import services
from heatdesk.bookings.models import Booking
from heatdesk.bookings.tests.conftest import TUESDAY
from heatdesk.bookings.tests.factories import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(db):
    user = User.objects.create_superuser("root", "correct-horse-battery")
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_lists_and_shows_everything(clock, superuser_client, resident, home, repair):
    booking, _ = services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "14:00"),
        created_by=resident,
        resident=resident,
        house=home,
    )
    for model in ("service", "resource", "booking", "slot", "calendarday", "dayexception"):
        answer = superuser_client.get(f"/admin/bookings/{model}/")
        assert answer.status_code == 200, model
    page = superuser_client.get(f"/admin/bookings/booking/{booking.pk}/change/")
    assert page.status_code == 200
    assert booking.code in page.content.decode()
    assert (
        superuser_client.get(
            f"/admin/bookings/resource/{repair.resources.get().pk}/change/"
        ).status_code
        == 200
    )


def test_the_admin_cancel_action_goes_through_the_service(
    clock, superuser_client, resident, home, repair
):
    booking, _ = services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "14:00"),
        created_by=resident,
        resident=resident,
        house=home,
    )
    answer = superuser_client.post(
        "/admin/bookings/booking/",
        {"action": "cancel_selected", "_selected_action": [booking.pk]},
    )
    assert answer.status_code == 302
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert booking.events.filter(to_status="cancelled", reason="后台取消").count() == 1
