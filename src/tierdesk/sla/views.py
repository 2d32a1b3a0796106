"""Pages of the SLA app in the agent workspace: the compliance report.

The page shows the table; its CSV and XLSX downloads are the API's (``/api/v1/sla/compliance``
with ``format=``), which the signed-in browser session may call, so there is one export.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from tierdesk.common.errors import DomainError
from tierdesk.sla import reports
from tierdesk.sla.choices import TargetKind
from tierdesk.sla.reports import GroupBy
from tierdesk.workspace.access import staff, staff_required

# Without a period chosen, the page shows the last 30 days up to today.
DEFAULT_DAYS = 30
ISO_DATE = "%Y-%m-%d"


class ComplianceForm(forms.Form):
    """The report's period, grouping and target, read from the query string."""

    start = forms.DateField(
        label=_("From"),
        input_formats=[ISO_DATE],
        widget=forms.DateInput(attrs={"type": "date"}, format=ISO_DATE),
    )
    end = forms.DateField(
        label=_("To (included)"),
        input_formats=[ISO_DATE],
        widget=forms.DateInput(attrs={"type": "date"}, format=ISO_DATE),
    )
    group_by = forms.ChoiceField(label=_("Group by"), choices=GroupBy.choices)
    target = forms.ChoiceField(
        label=_("Target"), choices=[("", _("All targets")), *TargetKind.choices], required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("start") and data.get("end"):
            try:
                data["period"] = reports.period(data["start"], data["end"])
            except DomainError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


def _default_query() -> dict[str, str]:
    today = timezone.localdate()
    return {
        "start": (today - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        "end": today.isoformat(),
        "group_by": GroupBy.ORGANISATION.value,
    }


@staff_required
@require_GET
def compliance_report(request: HttpRequest) -> HttpResponse:
    """SLA compliance for a period: share of targets met, average and 90th percentile business
    time per organisation, service level, line or priority, with CSV and Excel downloads."""
    form = ComplianceForm(request.GET or _default_query())
    context: dict[str, Any] = {"form": form, "rows": None, "downloads": {}}
    if form.is_valid():
        data = form.cleaned_data
        span: reports.Period = data["period"]
        rows = reports.compliance(
            staff(request),
            start=span.start,
            end=span.end,
            group_by=data["group_by"],
            target=data["target"] or None,
        )
        params = {
            "start": span.first_day.isoformat(),
            "end": span.last_day.isoformat(),
            "group_by": data["group_by"],
        }
        if data["target"]:
            params["target"] = data["target"]
        api_url = reverse("api-v1:sla_compliance")
        context["downloads"] = {
            file_format: f"{api_url}?{urlencode({**params, 'format': file_format})}"
            for file_format in ("csv", "xlsx")
        }
        context |= {"rows": rows, "header": reports.table_header(data["group_by"]), "period": span}
    return render(request, "sla/compliance.html", context)
