"""Signing in by SMS code with privacy consent, signing out, and consenting to a new policy."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from heatdesk.accounts.models import SmsCode, User
from heatdesk.accounts.services import (
    privacy_accept,
    privacy_consent_current,
    resident_get_or_create_by_phone,
    sms_code_request,
    sms_code_verify,
)
from heatdesk.core.errors import ApplicationError, RateLimited
from heatdesk.core.http import client_ip
from heatdesk.resident.access import resident_of
from heatdesk.resident.errors import add_service_error, describe_errors
from heatdesk.resident.forms import ConsentForm, LoginForm

SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"
# Refusals that carry no field of their own, and the field they are about.
SEND_ERROR_FIELD = {
    "sms_too_soon": "phone",
    "sms_daily_limited": "phone",
    "sms_ip_limited": "phone",
}
VERIFY_ERROR_FIELD = {"sms_locked": "code", "account_disabled": "phone"}


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing in: a local page asked for by `next`, else the home page."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("resident:home")


def _consent_checked(form: LoginForm | ConsentForm) -> bool:
    """The consent box is ticked for the policy version in force; adds the error if not."""
    if not form.cleaned_data.get("agree"):
        form.add_error("agree", _("请阅读并同意隐私政策。"))
        return False
    if form.cleaned_data.get("privacy_version") != settings.PRIVACY_POLICY_VERSION:
        form.add_error("agree", _("隐私政策已更新，请阅读最新版本后再同意。"))
        return False
    return True


def _send_code(request: HttpRequest, form: LoginForm) -> int:
    """Ask for a login code; returns the seconds to wait before asking again (0 on failure)."""
    phone = form.cleaned_data.get("phone", "")
    if not phone:
        if "phone" not in form.errors:
            form.add_error("phone", _("请输入手机号。"))
        return 0
    try:
        sms_code_request(phone=phone, purpose=SmsCode.Purpose.LOGIN, ip=client_ip(request))
    except ApplicationError as exc:
        add_service_error(form, exc, field_for_code=SEND_ERROR_FIELD)
        return exc.retry_after if isinstance(exc, RateLimited) and exc.code == "sms_too_soon" else 0
    messages.success(request, _("验证码已发送"))
    return settings.SMS_CODE_INTERVAL_SECONDS


def _sign_in(request: HttpRequest, form: LoginForm) -> User | None:
    """Check everything the page can before the code is spent, then verify it and record consent."""
    if form.errors:
        return None
    phone = form.cleaned_data["phone"]
    code = form.cleaned_data["code"]
    if not phone:
        form.add_error("phone", _("请输入手机号。"))
    if not code:
        form.add_error("code", _("请输入验证码。"))
    if not _consent_checked(form) or form.errors:
        return None
    try:
        verified_phone = sms_code_verify(phone=phone, purpose=SmsCode.Purpose.LOGIN, code=code)
        user = resident_get_or_create_by_phone(phone=verified_phone)
        if not user.is_active:
            raise ApplicationError("账户已停用，请联系客服。", code="account_disabled")
        privacy_accept(user=user, version=settings.PRIVACY_POLICY_VERSION, ip=client_ip(request))
    except ApplicationError as exc:
        add_service_error(form, exc, field_for_code=VERIFY_ERROR_FIELD)
        return None
    return user


def _sandbox_inbox_url(form: LoginForm) -> str:
    """In sandbox mode no SMS leaves the machine: where the code can be read instead (the
    inbox filtered to the number typed), so a first-time user of the demo is not stuck."""
    if not settings.SANDBOX:
        return ""
    try:
        url = reverse("sandbox:sms-inbox")
    except NoReverseMatch:  # the simulators are not mounted in this process
        return ""
    phone = form.cleaned_data.get("phone", "") if form.is_bound else ""
    return f"{url}?{urlencode({'phone': phone})}" if phone else url


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    if request.method == "GET" and resident_of(request) is not None:
        return redirect(next_url)
    form = LoginForm(request.POST if request.method == "POST" else None)
    resend_wait = 0
    if request.method == "POST":
        form.is_valid()
        if request.POST.get("action") == "send":
            resend_wait = _send_code(request, form)
        else:
            user = _sign_in(request, form)
            if user is not None:
                login(request, user, backend=SESSION_BACKEND)
                return redirect(next_url)
    describe_errors(form)
    context = {
        "form": form,
        "next": next_url,
        "resend_wait": resend_wait,
        "privacy_version": settings.PRIVACY_POLICY_VERSION,
        "sms_inbox_url": _sandbox_inbox_url(form),
    }
    return render(request, "resident/login.html", context, status=200)


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("已退出登录"))
    return redirect("resident:login")


@require_http_methods(["GET", "POST"])
def consent_page(request: HttpRequest) -> HttpResponse:
    """A signed-in resident accepts the privacy policy in force (after it changed)."""
    user = resident_of(request)
    next_url = _next_url(request)
    if user is None:
        return redirect_to_login(next_url, reverse("resident:login"))
    if request.method == "GET" and privacy_consent_current(user):
        return redirect(next_url)
    form = ConsentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid() and _consent_checked(form):
        try:
            privacy_accept(
                user=user, version=form.cleaned_data["privacy_version"], ip=client_ip(request)
            )
        except ApplicationError as exc:
            add_service_error(form, exc, rename={"version": "agree"})
        else:
            return redirect(next_url)
    describe_errors(form)
    context = {"form": form, "next": next_url, "privacy_version": settings.PRIVACY_POLICY_VERSION}
    return render(request, "resident/consent.html", context)
