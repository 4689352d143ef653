"""Back office for billing runs: start one from a season, watch its progress, commit, resume,
cancel. Every write goes through `billing.services.runs`."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from heatdesk.billing import run_plan
from heatdesk.billing.models import BillingRun, HeatingSeason
from heatdesk.billing.selectors.runs import run_anomalies, run_totals
from heatdesk.billing.services import runs
from heatdesk.core.errors import ApplicationError
from heatdesk.core.money import format_fen

PERMISSION = "billing.run_billing"
REFRESH_SECONDS = 3


def start_run_action(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[HeatingSeason]
) -> None:
    """A season admin action: start a run (its dry run) for each selected season."""
    for season in queryset.order_by("pk"):
        try:
            run = runs.billing_run_start(season=season, by=request.user)  # type: ignore[arg-type]
        except ApplicationError as exc:
            model_admin.message_user(request, f"{season}：{exc.message}", messages.ERROR)
        else:
            model_admin.message_user(
                request,
                f"{season}：已开始开账批次 {run.public_id}，正在预览，可在“开账批次”查看进度。",
            )


def _progress(run: BillingRun) -> str:
    return format_html(
        '<progress value="{}" max="100" style="width:12em"></progress> {}%（{}/{} 户）',
        run.progress_percent,
        run.progress_percent,
        f"{run.processed:,}",
        f"{run.total:,}",
    )


def _tally_html(run: BillingRun, tally: dict[str, Any]) -> str:
    counts = tally.get("counts", {})
    count_rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td></tr>",
        (
            (label, format_fen(counts[key]) if key == "amount_fen" else f"{counts[key]:,}")
            for key, label in run_plan.COUNT_LABELS.items()
            if key in counts
        ),
    )
    total_rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (r["community"], r["usage_label"], f"{r['houses']:,}", format_fen(r["amount_fen"]))
            for r in run_totals(run=run, tally=tally)
        ),
    )
    anomaly_rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                a["label"],
                f"{a['count']:,}",
                "；".join(f"{s['account_no']} {s['address']}" for s in a["samples"][:20]),
            )
            for a in run_anomalies(run=run, tally=tally)
            if a["count"]
        ),
    )
    return format_html(
        "<table><tbody>{}</tbody></table>"
        "<h4>按小区、用热性质</h4><table><thead><tr><th>小区</th><th>用热性质</th><th>户数</th>"
        "<th>金额</th></tr></thead><tbody>{}</tbody></table>"
        "<h4>异常</h4><table><thead><tr><th>类型</th><th>户数</th><th>示例</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        count_rows,
        total_rows,
        anomaly_rows or mark_safe("<tr><td colspan=3>无</td></tr>"),  # noqa: S308 - fixed text
    )


@admin.register(BillingRun)
class BillingRunAdmin(admin.ModelAdmin):
    list_display = ("public_id", "season", "status", "progress", "created_at", "finished_at")
    list_filter = ("season", "status")
    list_select_related = ("season",)
    actions = ["commit_selected", "resume_selected", "cancel_selected"]
    readonly_fields = (
        "public_id",
        "season",
        "status",
        "phase",
        "progress",
        "batch_size",
        "error",
        "preview_table",
        "result_table",
        "started_by",
        "created_at",
        "previewed_at",
        "committed_by",
        "commit_started_at",
        "finished_at",
        "heartbeat_at",
    )
    fields = readonly_fields

    @admin.display(description="进度")
    def progress(self, run: BillingRun) -> str:
        return _progress(run)

    @admin.display(description="预览结果")
    def preview_table(self, run: BillingRun) -> str:
        return _tally_html(run, run.preview)

    @admin.display(description="开账结果")
    def result_table(self, run: BillingRun) -> str:
        if run.phase != BillingRun.Phase.COMMIT:
            return "—"
        return _tally_html(run, run.result)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a run starts from a season (admin action), the API or the command

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        run = BillingRun.objects.filter(pk=object_id).first()
        if run is not None and run.status in BillingRun.ACTIVE:
            response["Refresh"] = str(REFRESH_SECONDS)  # the page follows the progress
        return response

    def _each(
        self, request: HttpRequest, queryset: QuerySet[BillingRun], act: Any, done: str
    ) -> None:
        for run in queryset.order_by("pk"):
            try:
                act(run=run, by=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{run.public_id}：{exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{run.public_id}：{done}")

    @admin.action(description="提交所选批次（正式开账）", permissions=["run"])
    def commit_selected(self, request: HttpRequest, queryset: QuerySet[BillingRun]) -> None:
        self._each(request, queryset, runs.billing_run_commit, "已开始开账")

    @admin.action(description="继续所选批次（从中断处）", permissions=["run"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[BillingRun]) -> None:
        self._each(request, queryset, runs.billing_run_resume, "已继续")

    @admin.action(description="取消所选批次", permissions=["run"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[BillingRun]) -> None:
        self._each(request, queryset, runs.billing_run_cancel, "已取消")
