"""Local stand-ins for the Aliyun and Tencent SMS APIs, for tests.

Each stub checks a request the way the real service documents it, with its own code written from
the published rules (nothing is imported from the providers under test): it recomputes the
signature from the bytes it received, records what it saw and answers in the provider's JSON.
"""

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import re
import string
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

# ---------------------------------------------------------------------------------------------
# Shared plumbing


@dataclass
class Seen:
    """One request as the stub received it and judged it."""

    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]  # Aliyun: the decoded query; Tencent: the decoded JSON body
    raw_body: bytes = b""
    string_to_sign: str = ""
    signed_headers: str = ""
    signature_valid: bool = False
    answer_code: str = ""


@dataclass
class Forced:
    """An answer the stub gives instead of judging the business part of a request."""

    code: str
    message: str = "forced by the test"
    status: int = 200


class StubServer:
    """An http.server on 127.0.0.1 with a random port, serving in a daemon thread."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.forced: Forced | None = None
        self.raw_answer: tuple[int, bytes] | None = None  # e.g. a proxy's HTML 502 page
        self.delay = 0.0
        self._release = threading.Event()
        self._ids = itertools.count(1)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub._serve(self)

            def do_POST(self) -> None:
                stub._serve(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        # A short poll interval keeps shutdown() (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> "StubServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # wakes a handler that is holding back its answer
        self.server.shutdown()
        self.server.server_close()

    def next_id(self) -> int:
        return next(self._ids)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        status, answer = self.handle(handler, body)
        if self.delay:
            self._release.wait(self.delay)
        if self.raw_answer is not None:
            status, payload, content_type = *self.raw_answer, "text/html"
        else:
            payload = json.dumps(answer, ensure_ascii=False).encode()
            content_type = "application/json;charset=utf-8"
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the client gave up waiting (the timeout tests)

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# Aliyun Dysmsapi SendSms (2017-05-25), RPC signature v1.0 with HMAC-SHA1

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-_.~")


def aliyun_encode(text: str) -> str:
    """RFC 3986 percent-encoding of UTF-8, upper-case hex, as Aliyun's signature rules say."""
    out = []
    for char in text:
        if char in _UNRESERVED:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def aliyun_string_to_sign(method: str, params: dict[str, str]) -> str:
    pairs = [(aliyun_encode(k), aliyun_encode(v)) for k, v in params.items() if k != "Signature"]
    canonical = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    return f"{method}&{aliyun_encode('/')}&{aliyun_encode(canonical)}"


MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class AliyunStub(StubServer):
    def __init__(self) -> None:
        super().__init__()
        self.access_keys = {"LTAI-stub": "stub-secret"}
        self.approved_signs = {"供热服务"}
        self.approved_templates = {"SMS_480001": ["code"]}
        self._nonces: set[str] = set()

    def _error(self, status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
        body = {
            "RequestId": str(uuid.uuid4()).upper(),
            "HostId": "dysmsapi.aliyuncs.com",
            "Code": code,
            "Message": message,
        }
        if self.requests:
            self.requests[-1].answer_code = code
        return status, body

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, Any]]:
        path, _, query = handler.path.partition("?")
        params: dict[str, str] = {}
        for part in query.split("&"):
            if part:
                key, _, value = part.partition("=")
                params[unquote(key)] = unquote(value)
        seen = Seen(
            method=handler.command, path=path, headers=dict(handler.headers.items()), params=params
        )
        self.requests.append(seen)
        if handler.command != "GET" or path != "/":
            return self._error(404, "InvalidAction.NotFound", "Specified api is not found")
        for name in ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp", "TemplateCode"):
            if name not in params:
                return self._error(400, "MissingParameter", f"{name} is mandatory")
        if params.get("Action") != "SendSms" or params.get("Version") != "2017-05-25":
            return self._error(404, "InvalidAction.NotFound", "Specified api is not found")
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            return self._error(400, "InvalidSignatureMethod", "Specified method is not supported")
        if params.get("Format") != "JSON":
            return self._error(400, "InvalidParameter", "Format must be JSON for this client")
        secret = self.access_keys.get(params["AccessKeyId"])
        if secret is None:
            return self._error(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            )
        try:
            sent_at = dt.datetime.strptime(params["Timestamp"] + "+0000", "%Y-%m-%dT%H:%M:%SZ%z")
        except ValueError:
            return self._error(400, "InvalidTimeStamp.Format", "Specified time stamp is not valid.")
        if abs(time.time() - sent_at.timestamp()) > 15 * 60:
            return self._error(400, "InvalidTimeStamp.Expired", "Specified time stamp is expired.")
        seen.string_to_sign = aliyun_string_to_sign("GET", params)
        expected = base64.b64encode(
            hmac.new(f"{secret}&".encode(), seen.string_to_sign.encode(), hashlib.sha1).digest()
        ).decode()
        seen.signature_valid = hmac.compare_digest(expected, params["Signature"])
        if not seen.signature_valid:
            # Like the real service, the message quotes the server's string to sign.
            return self._error(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{seen.string_to_sign}",
            )
        if params["SignatureNonce"] in self._nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used.")
        self._nonces.add(params["SignatureNonce"])
        if self.forced is not None:
            return self._error(self.forced.status, self.forced.code, self.forced.message)
        return self._send_sms(params)

    def _send_sms(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not MAINLAND_MOBILE.match(params.get("PhoneNumbers", "")):
            return self._error(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params.get("SignName") not in self.approved_signs:
            return self._error(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        names = self.approved_templates.get(params["TemplateCode"])
        if names is None:
            return self._error(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            values = json.loads(params.get("TemplateParam", ""))
        except ValueError:
            return self._error(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not isinstance(values, dict) or sorted(values) != sorted(names):
            return self._error(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        request_id = str(uuid.uuid4()).upper()
        biz_id = f"{900619746936498000 + self.next_id()}^0"
        self.requests[-1].answer_code = "OK"
        return 200, {"Message": "OK", "RequestId": request_id, "BizId": biz_id, "Code": "OK"}


# ---------------------------------------------------------------------------------------------
# Tencent Cloud SMS SendSms (2021-01-11), TC3-HMAC-SHA256

_AUTHORIZATION = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)
E164_MAINLAND = re.compile(r"^\+861[3-9]\d{9}$")


def tencent_signature(
    *, secret_key: str, date: str, service: str, timestamp: str, canonical_request: str
) -> tuple[str, str]:
    """(string to sign, hex signature) per the TC3-HMAC-SHA256 rules."""
    scope = f"{date}/{service}/tc3_request"
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{digest}"
    key = ("TC3" + secret_key).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return to_sign, hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class TencentStub(StubServer):
    def __init__(self) -> None:
        super().__init__()
        self.secrets = {"AKID-stub": "stub-tencent-key"}
        self.sdk_app_id = "1400800001"
        self.approved_signs = {"供热服务"}
        self.approved_templates = {"1860001": 1}  # template id -> number of parameters
        self.forced_status: Forced | None = None  # a per-number answer in SendStatusSet

    def _error(self, code: str, message: str, status: int = 200) -> tuple[int, dict[str, Any]]:
        self.requests[-1].answer_code = code
        request_id = str(uuid.uuid4())
        return status, {
            "Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}
        }

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, Any]]:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        seen = Seen(
            method=handler.command, path=handler.path, headers=headers, params={}, raw_body=body
        )
        self.requests.append(seen)
        if handler.command != "POST" or handler.path != "/":
            return self._error("InvalidAction", "only POST / is served here")
        match = _AUTHORIZATION.match(headers.get("authorization", ""))
        if match is None:
            return self._error("AuthFailure.InvalidAuthorization", "Authorization is invalid")
        secret = self.secrets.get(match["id"])
        if secret is None:
            return self._error("AuthFailure.SecretIdNotFound", "The SecretId is not found")
        timestamp = headers.get("x-tc-timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return self._error("AuthFailure.SignatureExpire", "Signature expired")
        utc_date = dt.datetime.fromtimestamp(int(timestamp), dt.UTC).strftime("%Y-%m-%d")
        if match["date"] != utc_date or match["service"] != "sms":
            return self._error("AuthFailure.SignatureFailure", "credential scope is wrong")
        seen.signed_headers = match["signed"]
        names = seen.signed_headers.split(";")
        if (
            names != sorted(names)
            or not {"content-type", "host"} <= set(names)
            or any(name not in headers for name in names)
        ):
            return self._error("AuthFailure.SignatureFailure", "signed headers are wrong")
        canonical_headers = "".join(f"{n}:{headers[n].strip().lower()}\n" for n in names)
        canonical_request = "\n".join(
            [
                "POST",
                "/",
                "",
                canonical_headers,
                seen.signed_headers,
                hashlib.sha256(body).hexdigest(),
            ]
        )
        seen.string_to_sign, expected = tencent_signature(
            secret_key=secret,
            date=utc_date,
            service="sms",
            timestamp=timestamp,
            canonical_request=canonical_request,
        )
        seen.signature_valid = hmac.compare_digest(expected, match["signature"])
        if not seen.signature_valid:
            return self._error(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. "
                "Please check your signature is correct.",
            )
        if headers.get("x-tc-action") != "SendSms" or headers.get("x-tc-version") != "2021-01-11":
            return self._error("InvalidAction", "The action or version does not exist")
        if not headers.get("x-tc-region"):
            return self._error("MissingParameter", "The Region parameter is missing")
        try:
            seen.params = json.loads(body)
        except ValueError:
            return self._error("FailedOperation.FailResolvePacket", "could not parse the body")
        if self.forced is not None:
            return self._error(self.forced.code, self.forced.message, self.forced.status)
        return self._send_sms(seen.params)

    def _send_sms(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if params.get("SmsSdkAppId") != self.sdk_app_id:
            return self._error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId does not exist")
        if params.get("SignName") not in self.approved_signs:
            return self._error(
                "FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批或格式错误"
            )
        expected_count = self.approved_templates.get(str(params.get("TemplateId")))
        if expected_count is None:
            return self._error(
                "FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批或内容不匹配"
            )
        values = params.get("TemplateParamSet")
        if (
            not isinstance(values, list)
            or len(values) != expected_count
            or not all(isinstance(v, str) for v in values)
        ):
            return self._error(
                "InvalidParameterValue.TemplateParameterFormatError", "验证码模板参数格式错误"
            )
        phones = params.get("PhoneNumberSet")
        if not isinstance(phones, list) or not phones:
            return self._error("MissingParameter", "PhoneNumberSet is missing")
        statuses = []
        for phone in phones:
            if self.forced_status is not None:
                code, message = self.forced_status.code, self.forced_status.message
            elif not E164_MAINLAND.match(str(phone)):
                code, message = "InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误"
            else:
                code, message = "Ok", "send success"
            statuses.append(
                {
                    "SerialNo": f"2645:{104571066915705365784949 + self.next_id()}"
                    if code == "Ok"
                    else "",
                    "PhoneNumber": phone,
                    "Fee": 1 if code == "Ok" else 0,
                    "SessionContext": "",
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN",
                }
            )
        self.requests[-1].answer_code = statuses[0]["Code"]
        return 200, {"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}}
