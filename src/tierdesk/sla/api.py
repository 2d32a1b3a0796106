"""HTTP API of the SLA app: compliance reports as JSON, CSV or an Excel workbook."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema

from tierdesk.common.api import Id, caller, unknown_reference
from tierdesk.sla import reports
from tierdesk.sla.choices import TargetKind
from tierdesk.sla.reports import ComplianceRow, GroupBy, Period

router = Router(tags=["sla"])


class ComplianceRowOut(Schema):
    group_id: int
    group: str
    target: TargetKind
    count: int
    met: int
    breached: int
    measured: int
    percent_met: float
    average_minutes: float | None
    p90_minutes: float | None


class ComplianceOut(Schema):
    start: dt.date
    end: dt.date
    group_by: GroupBy
    target: TargetKind | None
    organisation: int | None
    rows: list[ComplianceRowOut]


@router.get(
    "/compliance",
    response=ComplianceOut,
    summary="SLA compliance for a period",
    url_name="sla_compliance",
)
def compliance(
    request: HttpRequest,
    start: dt.date,
    end: dt.date,
    group_by: GroupBy = GroupBy.ORGANISATION,
    target: TargetKind | None = None,
    organisation: Id | None = None,
    file_format: Literal["json", "csv", "xlsx"] = Query("json", alias="format"),
) -> Any:
    """Targets met and breached from `start` to `end` (both days included, at most 366 days,
    midnight to midnight in the desk's time zone), per organisation, service level, support
    line or priority as the tickets were when each verdict was recorded; one row per group and
    target, or only `target`'s. Times are business minutes: the average and the 90th
    percentile (nearest rank: 90 % of the achieved targets took at most this long), over the
    targets achieved (`measured`); `null` when none was.

    Administrators see every organisation, agents those their teams serve, an organisation's
    manager his own. `format=csv` (UTF-8) or `format=xlsx` download the same table.
    """
    user = caller(request)
    span = reports.period(start, end)
    if organisation is not None and not reports.may_report_on(user, organisation):
        raise unknown_reference("organisation", organisation)
    target_code = None if target is None else str(target)
    rows = reports.compliance(
        user,
        start=span.start,
        end=span.end,
        group_by=str(group_by),
        target=target_code,
        organisation=organisation,
    )
    if file_format == "csv":
        return _csv_response(rows, group_by=str(group_by), span=span)
    if file_format == "xlsx":
        return _xlsx_response(rows, group_by=str(group_by), span=span)
    return {
        "start": span.first_day,
        "end": span.last_day,
        "group_by": group_by,
        "target": target_code,
        "organisation": organisation,
        "rows": [_row_out(row) for row in rows],
    }


def _row_out(row: ComplianceRow) -> dict[str, Any]:
    return {
        "group_id": row.group_id,
        "group": row.group,
        "target": row.target,
        "count": row.count,
        "met": row.met,
        "breached": row.breached,
        "measured": row.measured,
        "percent_met": row.percent_met,
        "average_minutes": row.average_minutes,
        "p90_minutes": row.p90_minutes,
    }


# --- Downloads --------------------------------------------------------------------------------

# A text cell starting with one of these is a formula to Excel and LibreOffice, so an
# organisation named "=HYPERLINK(...)" would run as one when the export is opened (CSV
# injection). CSV has no cell types: such text gets a leading apostrophe, as OWASP advises.
# XLSX has them: the text is written as a string cell and marked "quote prefix", which is what
# Excel itself does for text typed as '=...; the name shows unchanged and stays text if edited.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _filename(group_by: str, span: Period, extension: str) -> str:
    return f"sla-compliance-{group_by}-{span.first_day:%Y-%m-%d}-{span.last_day:%Y-%m-%d}.{extension}"


def _download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def neutralise(text: str) -> str:
    """Text for a CSV cell that a spreadsheet will not run as a formula."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _csv_response(rows: list[ComplianceRow], *, group_by: str, span: Period) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(title) for title in reports.table_header(group_by)])
    for cells in reports.table_rows(rows):
        writer.writerow([neutralise(c) if isinstance(c, str) else ("" if c is None else c) for c in cells])
    # With the byte order mark Excel reads the file as UTF-8 (Cyrillic names stay readable)
    # instead of the system's ANSI code page.
    return _download(
        buffer.getvalue().encode("utf-8-sig"),
        "text/csv; charset=utf-8",
        _filename(group_by, span, "csv"),
    )


def _xlsx_response(rows: list[ComplianceRow], *, group_by: str, span: Period) -> HttpResponse:
    import xlsxwriter  # type: ignore[import-untyped]  # XlsxWriter ships no type hints

    buffer = io.BytesIO()
    # Strings are never read as formulas or numbers, whatever write method is used.
    workbook = xlsxwriter.Workbook(
        buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False}
    )
    title = _("SLA compliance %(start)s to %(end)s") % {
        "start": span.first_day.isoformat(),
        "end": span.last_day.isoformat(),
    }
    workbook.set_properties({"title": title})
    sheet = workbook.add_worksheet(_("SLA compliance")[:31])
    bold = workbook.add_format({"bold": True})
    quoted = workbook.add_format({"quote_prefix": True})
    header = reports.table_header(group_by)
    for column, text in enumerate(header):
        sheet.write_string(0, column, text, bold)
    widths = [len(text) for text in header]
    for line, cells in enumerate(reports.table_rows(rows), start=1):
        for column, cell in enumerate(cells):
            if cell is None:
                sheet.write_blank(line, column, None)
            elif isinstance(cell, str):
                sheet.write_string(line, column, cell, quoted if cell.startswith(FORMULA_STARTS) else None)
                widths[column] = max(widths[column], len(cell))
            else:
                sheet.write_number(line, column, cell)
    for column, width in enumerate(widths):
        sheet.set_column(column, column, min(width + 2, 60))
    sheet.freeze_panes(1, 0)
    workbook.close()
    return _download(
        buffer.getvalue(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _filename(group_by, span, "xlsx"),
    )
