"""Back-office pages to import the house list (preview, then confirm) and to download it.

The previewed file waits in the staff member's session (the database-backed session, so any
web process can take the confirmation) until it is confirmed or cancelled.
"""

import base64
import re
import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError
from heatdesk.estates import importing, tabular
from heatdesk.estates.exports import CONTENT_TYPES, FORMATS, houses_export
from heatdesk.estates.imports import houses_import

PERMISSION = "estates.import_houses"
SESSION_KEY = "estates.house_import"
ERRORS_SHOWN = 1000


class UploadForm(forms.Form):
    file = forms.FileField(
        label="房屋清单文件", help_text="支持 .xlsx 与 .csv（UTF-8 或 GBK 编码）。"
    )


class ExportForm(forms.Form):
    fmt = forms.ChoiceField(label="格式", choices=[(f, f".{f}") for f in FORMATS], initial="xlsx")
    communities = forms.CharField(
        label="小区编码", required=False, help_text="可选，多个用逗号或空格分隔；不填导出全部。"
    )


def _require_permission(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied


def _render(
    request: HttpRequest, model_admin: admin.ModelAdmin, status: int = 200, **context: Any
) -> TemplateResponse:
    context.setdefault("form", UploadForm())
    context.setdefault("export_form", ExportForm())
    report = context.get("report")
    if report is not None:
        context["errors_shown"] = report.errors[:ERRORS_SHOWN]
        context["errors_hidden"] = max(len(report.errors) - ERRORS_SHOWN, 0)
    return TemplateResponse(
        request,
        "admin/estates/house/import.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": "导入与导出房屋",
            "headers": [c.header for c in importing.COLUMNS],
            "required_headers": [c.header for c in importing.COLUMNS if c.required],
            "max_rows": importing.MAX_HOUSE_ROWS,
            "max_mb": tabular.MAX_FILE_BYTES // (1024 * 1024),
            **context,
        },
        status=status,
    )


def import_page(request: HttpRequest, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    _require_permission(request)
    if request.method != "POST":
        return _render(request, model_admin)
    action = request.POST.get("action", "preview")
    if action == "preview":
        return _preview(request, model_admin)
    pending = request.session.pop(SESSION_KEY, None)
    if action != "confirm":
        messages.info(request, "已取消导入，未写入任何数据。")
        return HttpResponseRedirect(request.path)
    if not pending or not secrets.compare_digest(pending["token"], request.POST.get("token", "")):
        messages.error(request, "导入预览已失效，请重新上传文件。")
        return HttpResponseRedirect(request.path)
    try:
        report = houses_import(
            file_name=pending["file_name"],
            data=base64.b64decode(pending["data"]),
            imported_by=request.user,  # type: ignore[arg-type]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(request.path)
    if not report.committed:  # the houses changed between preview and confirmation
        return _render(request, model_admin, status=409, report=report)
    messages.success(
        request,
        f"导入完成：新增 {report.created} 户，更新 {report.updated} 户，"
        f"{report.unchanged} 户无变化。",
    )
    return HttpResponseRedirect(reverse("admin:estates_house_changelist"))


def _preview(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(request, model_admin, status=400, form=form)
    upload = form.cleaned_data["file"]
    try:
        tabular.check_size(upload.size)  # before reading a huge upload into memory
        data = upload.read()
        report = houses_import(
            file_name=upload.name,
            data=data,
            imported_by=request.user,  # type: ignore[arg-type]
            dry_run=True,
        )
    except ApplicationError as exc:
        form.add_error("file", exc.message)
        return _render(request, model_admin, status=400, form=form)
    token = ""
    if report.ok:
        token = secrets.token_urlsafe(16)
        request.session[SESSION_KEY] = {
            "token": token,
            "file_name": upload.name,
            "data": base64.b64encode(data).decode("ascii"),
        }
    else:
        request.session.pop(SESSION_KEY, None)
    return _render(request, model_admin, report=report, token=token)


def export_download(request: HttpRequest, *, model_admin: admin.ModelAdmin) -> HttpResponse:
    _require_permission(request)
    form = ExportForm(request.GET)
    if not form.is_valid():
        return _render(request, model_admin, status=400, export_form=form)
    fmt = form.cleaned_data["fmt"]
    codes = [c for c in re.split(r"[\s,，、]+", form.cleaned_data["communities"]) if c]
    try:
        data = houses_export(
            fmt=fmt,
            community_codes=codes or None,
            exported_by=request.user,  # type: ignore[arg-type]
        )
    except ApplicationError as exc:
        form.add_error("communities", exc.message)
        return _render(request, model_admin, status=400, export_form=form)
    response = HttpResponse(data, content_type=CONTENT_TYPES[fmt])
    file_name = f"houses-{clock.local_today():%Y%m%d}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response
