from django.urls import path

from heatdesk.resident.views import (
    auth,
    bills,
    booking_link,
    bookings,
    heating,
    houses,
    pages,
    pay,
)

app_name = "resident"

urlpatterns = [
    path("", houses.home, name="home"),
    path("login/", auth.login_page, name="login"),
    path("logout/", auth.logout_page, name="logout"),
    path("consent/", auth.consent_page, name="consent"),
    path("privacy/", pages.privacy, name="privacy"),
    path("houses/bind/", houses.bind, name="bind"),
    path("houses/<str:house_id>/", houses.detail, name="house"),
    path("houses/<str:house_id>/unbind/", houses.unbind, name="unbind"),
    path("houses/<str:house_id>/bills/", bills.bill_list, name="bills"),
    path("houses/<str:house_id>/bills/<str:bill_id>/", bills.bill_detail, name="bill"),
    path("houses/<str:house_id>/bills/<str:bill_id>/pay/", pay.pay_bill, name="pay_bill"),
    path("houses/<str:house_id>/heating/", heating.heating_changes, name="heating"),
    path("pay/records/", pay.pay_records, name="pay_records"),
    path("pay/return", pay.alipay_return, name="pay_return"),  # ALIPAY_RETURN_URL
    path("pay/orders/<str:order_id>/", pay.pay_order, name="pay_order"),
    path("pay/orders/<str:order_id>/prepare/", pay.pay_order_prepare, name="pay_prepare"),
    path("pay/orders/<str:order_id>/status/", pay.order_status, name="pay_status"),
    path("pay/orders/<str:order_id>/receipt/", pay.pay_receipt, name="pay_receipt"),
    path("bookings/", bookings.booking_list, name="bookings"),
    path("bookings/new/", bookings.service_choose, name="booking_new"),
    path("bookings/new/<slug:service_code>/", bookings.slot_choose, name="booking_slots"),
    path(
        "bookings/new/<slug:service_code>/confirm/",
        bookings.booking_confirm,
        name="booking_confirm",
    ),
    path("bookings/<str:booking_id>/", bookings.booking_detail, name="booking"),
    path("bookings/<str:booking_id>/cancel/", bookings.booking_cancel, name="booking_cancel"),
    path(
        "bookings/<str:booking_id>/reschedule/",
        bookings.booking_reschedule,
        name="booking_reschedule",
    ),
    # The booking's SMS self-service link (signed token, no login).
    path("b/<str:token>/", booking_link.link_detail, name="link"),
    path("b/<str:token>/cancel/", booking_link.link_cancel, name="link_cancel"),
    path("b/<str:token>/reschedule/", booking_link.link_reschedule, name="link_reschedule"),
]
