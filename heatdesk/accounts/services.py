"""Sign-in for residents (SMS code, WeChat) and API tokens."""

import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Field

from heatdesk.accounts.models import ApiToken, PrivacyConsent, SmsCode, User, WechatIdentity
from heatdesk.accounts.roles import ROLE_RESIDENT
from heatdesk.accounts.wechat import WechatSession
from heatdesk.core import clock, crypto, ratelimit, rows
from heatdesk.core.errors import ApplicationError, RateLimited, ValidationFailed
from heatdesk.notifications.services import sms_queue

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
CODE_RE = re.compile(r"^\d{6}$")

SMS_TEMPLATE_FOR = {
    SmsCode.Purpose.LOGIN: "login_code",
    SmsCode.Purpose.BIND_PHONE: "bind_phone_code",
}


def normalize_phone(raw: str) -> str:
    """Mainland mobile numbers only: strips spaces, dashes and a +86 prefix; else a 422."""
    phone = re.sub(r"[\s-]", "", raw or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    if not PHONE_RE.match(phone):
        raise ValidationFailed("手机号格式不正确。", fields={"phone": ["请输入11位手机号码。"]})
    return phone


def phone_hash(phone: str) -> str:
    return crypto.blind_index(phone, purpose="phone")


def _code_hash(*, phone_digest: str, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"sms:{phone_digest}:{code}".encode(), hashlib.sha256).hexdigest()


def sms_code_request(*, phone: str, purpose: str, ip: str) -> None:
    """Send a 6-digit code to `phone`. Same answer whether or not the phone has an account.

    Limits: one code per phone per SMS_CODE_INTERVAL_SECONDS, SMS_CODE_DAILY_LIMIT per phone per
    local day, SMS_CODE_IP_HOURLY_LIMIT per IP per hour. Sending replaces earlier codes.
    """
    phone = normalize_phone(phone)
    if purpose not in SmsCode.Purpose.values:
        raise ValidationFailed("用途不正确。", fields={"purpose": ["不支持的用途。"]})
    digest = phone_hash(phone)

    ip_window = ratelimit.fixed_window(f"sms-ip:{ip}", seconds=3600)
    if ratelimit.hit(ip_window) > settings.SMS_CODE_IP_HOURLY_LIMIT:
        raise RateLimited(
            "请求过于频繁，请稍后再试。",
            code="sms_ip_limited",
            retry_after=ratelimit.seconds_until(ip_window.expires_at),
        )
    day = ratelimit.local_day_window(f"sms-day:{digest}")
    # Checked before the interval starts, so a refusal for the day does not also hold the
    # phone back for an interval; the hit below is what holds under races.
    if ratelimit.peek(day) >= settings.SMS_CODE_DAILY_LIMIT:
        raise _daily_limited(day)
    wait = ratelimit.cooldown_start(
        f"sms-phone:{digest}", seconds=settings.SMS_CODE_INTERVAL_SECONDS
    )
    if wait:
        raise RateLimited(
            f"验证码已发送，请{wait}秒后再试。", code="sms_too_soon", retry_after=wait
        )
    if ratelimit.hit(day) > settings.SMS_CODE_DAILY_LIMIT:
        raise _daily_limited(day)

    code = f"{secrets.randbelow(10**6):06d}"
    now = clock.now()
    with transaction.atomic():
        SmsCode.objects.filter(phone_hash=digest, purpose=purpose, consumed_at=None).update(
            consumed_at=now
        )
        SmsCode.objects.create(
            phone_hash=digest,
            purpose=purpose,
            code_hash=_code_hash(phone_digest=digest, code=code),
            expires_at=now + dt.timedelta(seconds=settings.SMS_CODE_TTL_SECONDS),
            ip=ip or None,
        )
        sms_queue(
            phone=phone, template=SMS_TEMPLATE_FOR[SmsCode.Purpose(purpose)], params={"code": code}
        )


def _daily_limited(day: ratelimit.Window) -> RateLimited:
    return RateLimited(
        "今日验证码次数已用完，请明天再试。",
        code="sms_daily_limited",
        retry_after=ratelimit.seconds_until(day.expires_at),
    )


def sms_code_verify(*, phone: str, purpose: str, code: str) -> str:
    """Consume a valid code and return the phone; wrong tries count towards a lock-out."""
    phone = normalize_phone(phone)
    digest = phone_hash(phone)
    locked = ratelimit.cooldown_remaining(f"sms-lock:{digest}")
    if locked:
        raise RateLimited("错误次数过多，请稍后再试。", code="sms_locked", retry_after=locked)
    if not CODE_RE.match(code or ""):
        raise ValidationFailed("验证码为6位数字。", fields={"code": ["验证码为6位数字。"]})
    # Every try is counted before the code is compared, so concurrent guesses cannot all pass
    # the lock check above and then guess; a right code is taken back below. The count runs
    # from the first wrong try until SMS_CODE_LOCK_SECONDS pass without one, so no stretch of
    # that length allows more than SMS_CODE_MAX_ATTEMPTS wrong codes (a fixed window would
    # allow twice as many across its boundary).
    failures = ratelimit.rolling_window(
        f"sms-fail:{digest}", seconds=settings.SMS_CODE_LOCK_SECONDS
    )
    tries = ratelimit.hit(failures)
    if tries > settings.SMS_CODE_MAX_ATTEMPTS:
        raise RateLimited(
            "错误次数过多，请稍后再试。",
            code="sms_locked",
            retry_after=settings.SMS_CODE_LOCK_SECONDS,
        )
    now = clock.now()
    with transaction.atomic():
        current = (
            SmsCode.objects.select_for_update()
            .filter(phone_hash=digest, purpose=purpose, consumed_at=None, expires_at__gt=now)
            .order_by("-created_at")
            .first()
        )
        expected = _code_hash(phone_digest=digest, code=code)
        matched = current is not None and hmac.compare_digest(current.code_hash, expected)
        if current is not None and matched:
            current.consumed_at = now
            current.save(update_fields=["consumed_at"])
        elif current is not None:
            current.attempts += 1
            current.save(update_fields=["attempts"])
    if matched:
        ratelimit.release(failures)
        return phone
    if tries >= settings.SMS_CODE_MAX_ATTEMPTS:
        SmsCode.objects.filter(phone_hash=digest, consumed_at=None).update(consumed_at=now)
        ratelimit.cooldown_start(f"sms-lock:{digest}", seconds=settings.SMS_CODE_LOCK_SECONDS)
        raise RateLimited(
            "错误次数过多，请稍后再试。",
            code="sms_locked",
            retry_after=settings.SMS_CODE_LOCK_SECONDS,
        )
    raise ApplicationError(
        "验证码错误或已过期。", code="sms_code_invalid", fields={"code": ["验证码错误或已过期。"]}
    )


def resident_get_or_create_by_phone(*, phone: str) -> User:
    """The resident with this verified phone, created on first login."""
    digest = phone_hash(phone)
    user = User.objects.filter(phone_hash=digest).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                phone=phone, phone_hash=digest, phone_verified_at=clock.now()
            )
            from django.contrib.auth.models import Group

            user.groups.add(Group.objects.get_or_create(name=ROLE_RESIDENT)[0])
    except IntegrityError:
        # Two first logins raced; the other one created the user.
        user = User.objects.get(phone_hash=digest)
    return user


def login_with_sms(*, phone: str, code: str, client: str = "") -> tuple[User, str]:
    """Verify the code and issue a token; the user is created on first login."""
    phone = sms_code_verify(phone=phone, purpose=SmsCode.Purpose.LOGIN, code=code)
    user = resident_get_or_create_by_phone(phone=phone)
    _refuse_disabled(user)
    return user, token_issue(user=user, client=client or "sms")


def _refuse_disabled(user: User) -> None:
    if not user.is_active:
        raise ApplicationError("账户已停用，请联系客服。", code="account_disabled")


def token_issue(*, user: User, client: str = "", ttl_hours: int | None = None) -> str:
    """A new opaque token; only its hash is stored. The plain value is shown once."""
    raw = "hd_" + secrets.token_urlsafe(32)
    hours = settings.API_TOKEN_TTL_HOURS if ttl_hours is None else ttl_hours
    ApiToken.objects.create(
        user=user,
        key_hash=hashlib.sha256(raw.encode()).hexdigest(),
        prefix=raw[:10],
        expires_at=clock.now() + dt.timedelta(hours=hours),
        client=client[:40],
    )
    return raw


def token_authenticate(*, raw: str) -> User | None:
    """The active user behind a token that is neither expired nor revoked, else None.

    Asked of the database on every request, so a revoked or expired token, or a disabled user,
    is refused at once in every process. Every API request pays for it, so it is one
    hand-written query, prepared once per connection (see heatdesk.core.rows): the ORM took
    longer to build it than to run it.
    """
    return token_authenticate_with(raw=raw)[0]


TokenRead = Callable[[str], rows.Read]


def token_authenticate_with(
    *, raw: str, read: TokenRead | None = None
) -> tuple[User | None, list[list[Any]]]:
    """`token_authenticate`, plus the rows of `read(token digest)` fetched in the same round
    trip: for an endpoint whose one read can be keyed by the token, so that a request costs a
    single trip to the database. The rows are [] whenever the token authenticates nobody."""
    if not raw or len(raw) > 100:
        return None, []
    digest = hashlib.sha256(raw.encode()).hexdigest()
    sql, fields = _token_user_query()
    check = rows.Read(
        sql,
        [digest, connection.ops.adapt_datetimefield_value(clock.now())],
        fields,
        name="hd_token_user",
    )
    if read is None:
        found, extra = rows.fetch(check.sql, check.params, check.fields, name=check.name), []
    else:
        found, extra = rows.fetch_together([check, read(digest)])
    if not found:
        return None, []
    return User.from_db(connection.alias, [f.attname for f in fields], found[0]), extra


@functools.cache
def _token_user_query() -> tuple[str, list[Field[Any, Any]]]:
    fields: list[Field[Any, Any]] = list(User._meta.concrete_fields)
    q = connection.ops.quote_name
    columns = ", ".join(f"u.{q(f.column)}" for f in fields)
    sql = (
        f"SELECT {columns} FROM {q(ApiToken._meta.db_table)} t "  # noqa: S608 - names only
        f"INNER JOIN {q(User._meta.db_table)} u ON u.{q('id')} = t.{q('user_id')} "
        f"WHERE t.{q('key_hash')} = %s AND t.{q('revoked_at')} IS NULL "
        f"AND t.{q('expires_at')} > %s AND u.{q('is_active')}"
    )
    return sql, fields


def token_revoke(*, raw: str) -> bool:
    digest = hashlib.sha256(raw.encode()).hexdigest()
    return bool(
        ApiToken.objects.filter(key_hash=digest, revoked_at=None).update(revoked_at=clock.now())
    )


def tokens_revoke_all(*, user: User) -> int:
    return ApiToken.objects.filter(user=user, revoked_at=None).update(revoked_at=clock.now())


def privacy_accept(*, user: User, version: str, ip: str) -> User:
    """Record acceptance of the current privacy policy (only the current version is accepted)."""
    if version != settings.PRIVACY_POLICY_VERSION:
        raise ApplicationError(
            "隐私政策已更新，请阅读最新版本后再同意。",
            code="privacy_version_mismatch",
            fields={"version": [f"当前版本为 {settings.PRIVACY_POLICY_VERSION}。"]},
        )
    with transaction.atomic():
        PrivacyConsent.objects.get_or_create(
            user=user, version=version, defaults={"ip": ip or None}
        )
        now = clock.now()
        User.objects.filter(pk=user.pk).update(privacy_version=version, privacy_accepted_at=now)
    user.privacy_version, user.privacy_accepted_at = version, now
    return user


def privacy_consent_current(user: User) -> bool:
    return user.privacy_version == settings.PRIVACY_POLICY_VERSION


def wechat_login(*, code: str, session: WechatSession) -> tuple[User, str]:
    """Sign in with an exchanged wx.login() code; a new openid gets a user without a phone."""
    now = clock.now()
    with transaction.atomic():
        identity = (
            WechatIdentity.objects.select_related("user")
            .filter(appid=session.appid, openid=session.openid)
            .first()
        )
        if identity is None:
            user = User.objects.create_user()
            from django.contrib.auth.models import Group

            user.groups.add(Group.objects.get_or_create(name=ROLE_RESIDENT)[0])
            identity = WechatIdentity.objects.create(
                appid=session.appid,
                openid=session.openid,
                unionid=session.unionid,
                session_key=session.session_key,
                user=user,
                last_login_at=now,
            )
        else:
            identity.session_key = session.session_key
            identity.last_login_at = now
            identity.save(update_fields=["session_key", "last_login_at"])
    _refuse_disabled(identity.user)
    return identity.user, token_issue(user=identity.user, client="wechat")


def wechat_bind_phone(*, user: User, phone: str, code: str) -> User:
    """Give a WeChat user a verified phone. If a resident already owns that phone, the WeChat
    identity moves to that resident (the caller must use the returned user's new token)."""
    phone = sms_code_verify(phone=phone, purpose=SmsCode.Purpose.BIND_PHONE, code=code)
    digest = phone_hash(phone)
    with transaction.atomic():
        owner = User.objects.select_for_update().filter(phone_hash=digest).first()
        if owner is None:
            User.objects.filter(pk=user.pk).update(
                phone=phone, phone_hash=digest, phone_verified_at=clock.now()
            )
            user.refresh_from_db()
            return user
        # Refused before anything moves: joining a disabled account would switch off this
        # WeChat user too and leave the person with no way in.
        _refuse_disabled(owner)
        if owner.pk != user.pk:
            WechatIdentity.objects.filter(user=user).update(user=owner)
            tokens_revoke_all(user=user)
            User.objects.filter(pk=user.pk, phone_hash=None).update(is_active=False)
        return owner


def sms_codes_purge(*, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Delete login codes that expired or were used more than `older_than` ago (a periodic job).

    Nothing reads a dead code again: send and failure limits live in rate counters.
    """
    cutoff = clock.now() - older_than
    dead = SmsCode.objects.filter(expires_at__lt=cutoff) | SmsCode.objects.filter(
        consumed_at__lt=cutoff
    )
    deleted, _ = dead.delete()
    return deleted


def api_tokens_purge(*, older_than: dt.timedelta = dt.timedelta(days=30)) -> int:
    """Delete tokens that expired or were revoked more than `older_than` ago (a periodic job)."""
    cutoff = clock.now() - older_than
    dead = ApiToken.objects.filter(expires_at__lt=cutoff) | ApiToken.objects.filter(
        revoked_at__lt=cutoff
    )
    deleted, _ = dead.delete()
    return deleted
