"""SLA compliance reports: numbers against hand-computed values, who sees which organisation,
the API's validation, the CSV and XLSX downloads (formula injection neutralised) and the page.

Every verdict comes from the real write path: tickets created, answered and resolved through the
ticket services with the clock frozen (time_machine), breaches recorded by the sweep.

The seeded "Standard" service level runs on the Moscow calendar (Monday to Friday 09:00-18:00):
a medium ticket must be answered within 120 business minutes. Beta LLC has a "Gold" agreement:
a critical ticket answered within 15 minutes and resolved within 240.

All on Monday 2025-06-02, every ticket created at 10:00 Moscow time:

* Alpha Ltd, 11 medium tickets: 9 answered after 10, 20, ... 90 minutes (met); one found
  breached by the sweep at 12:05 and answered at 13:00 (180 minutes, breached, timed); one
  breached and never answered (no time). First response: 11 verdicts, 9 met (81.8 %), 10
  timed — 630 minutes, average 63.0; nearest-rank 90th percentile of 10 times is the 9th: 90.
* Beta LLC, 2 critical tickets: one answered after 5 minutes on L1; one escalated to L2 at once,
  answered after 12 minutes and resolved at 11:00 (60 minutes). First response: 2 met, average
  8.5, 90th percentile (the 2nd of 2) 12; resolution: 1 met, 60.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from defusedxml import ElementTree
from django.test import Client
from django.urls import reverse

from tests.factories import World
from tierdesk.orgs.services import create_contact, create_organisation
from tierdesk.sla import reports
from tierdesk.sla import selectors as sla_selectors
from tierdesk.sla import services as sla_services
from tierdesk.sla.api import neutralise
from tierdesk.sla.choices import TargetKind
from tierdesk.sla.models import ServiceAgreement, SlaOutcome, SlaPolicy, SlaTarget
from tierdesk.sla.reports import ComplianceRow
from tierdesk.tickets import services
from tierdesk.tickets.choices import Impact, Priority, Status, Urgency

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
MONDAY = dt.date(2025, 6, 2)
MONDAY_10 = dt.datetime(2025, 6, 2, 10, 0, tzinfo=MSK)
URL = "sla/compliance"
PAGE = reverse("sla:compliance")
ONE_DAY = {"start": "2025-06-02", "end": "2025-06-02"}
FR, RES = TargetKind.FIRST_RESPONSE, TargetKind.RESOLUTION


def at(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def minutes(n: int) -> dt.datetime:
    return MONDAY_10 + dt.timedelta(minutes=n)


@pytest.fixture(autouse=True)
def _fresh_service_levels() -> Iterator[None]:
    sla_selectors.forget_service_levels()
    yield
    sla_selectors.forget_service_levels()


@dataclass
class Desk:
    world: World
    gold: SlaPolicy


@pytest.fixture
def desk(world: World) -> Desk:
    """The verdicts described in the module's docstring."""
    gold = SlaPolicy(name="Gold")
    sla_services.save_service_level(gold, actor=world.admin)
    sla_services.save_service_level(
        SlaTarget(policy=gold, priority=Priority.CRITICAL, first_response_minutes=15, resolution_minutes=240),
        actor=world.admin,
    )
    sla_services.save_service_level(
        ServiceAgreement(organisation=world.org_b, policy=gold), actor=world.admin
    )
    critical = {"impact": Impact.HIGH, "urgency": Urgency.HIGH}
    with at(MONDAY_10):
        alpha = [world.ticket() for _ in range(11)]
        b_first = world.ticket(requester=world.customer_b, **critical)
        b_second = world.ticket(requester=world.customer_b, **critical)
        services.escalate_ticket(b_second, to_line=world.lines["L2"], actor=world.admin, reason="Expert")
    with at(minutes(5)):
        services.add_public_reply(b_first, actor=world.admin, body="On it")
    with at(minutes(12)):
        services.add_public_reply(b_second, actor=world.admin, body="On it")
    for index, ticket in enumerate(alpha[:9], start=1):
        with at(minutes(10 * index)):
            services.add_public_reply(ticket, actor=world.admin, body="On it")
    with at(minutes(60)):
        services.transition_ticket(b_second, to_status=Status.RESOLVED, actor=world.admin)
    with at(minutes(125)):
        assert sla_services.sweep_due_tickets().breaches == 2
    with at(minutes(180)):
        services.add_public_reply(alpha[9], actor=world.admin, body="Sorry for the wait")
    assert SlaOutcome.objects.count() == 11 + 2 + 1
    return Desk(world=world, gold=gold)


def report(user: Any, group_by: str = "organisation", **kwargs: Any) -> list[ComplianceRow]:
    span = reports.period(MONDAY, MONDAY)
    return reports.compliance(user, start=span.start, end=span.end, group_by=group_by, **kwargs)


def summary(rows: list[ComplianceRow]) -> list[tuple[Any, ...]]:
    return [
        (
            r.group,
            r.target,
            r.count,
            r.met,
            r.breached,
            r.measured,
            r.percent_met,
            r.average_minutes,
            r.p90_minutes,
        )
        for r in rows
    ]


# --- The numbers ------------------------------------------------------------------------------


def test_compliance_per_organisation_matches_hand_computed_values(desk: Desk) -> None:
    assert summary(report(desk.world.admin)) == [
        ("Alpha Ltd", FR, 11, 9, 2, 10, 81.8, 63.0, 90.0),
        ("Beta LLC", FR, 2, 2, 0, 2, 100.0, 8.5, 12.0),
        ("Beta LLC", RES, 1, 1, 0, 1, 100.0, 60.0, 60.0),
    ]


def test_the_90th_percentile_is_a_time_one_of_the_targets_took(desk: Desk) -> None:
    # Alpha's ten times are 10, 20, ..., 90 and 180 minutes. Nine of ten (90 %) came within 90
    # minutes; interpolating (PostgreSQL's PERCENTILE_CONT) would say 99, which none took.
    [alpha] = report(desk.world.admin, target=FR, organisation=desk.world.org_a.pk)
    assert alpha.p90_seconds == 90 * 60


def test_compliance_per_line_priority_and_policy(desk: Desk) -> None:
    admin = desk.world.admin
    # L1: Alpha's eleven (recorded on L1, the late one by the sweep before it escalated the
    # ticket) and Beta's first; 11 timed: 5, 10, 20 ... 90, 180 = 635 min; the 10th of 11 is 90.
    assert summary(report(admin, "line")) == [
        ("L1 First line", FR, 12, 10, 2, 11, 83.3, 57.7, 90.0),
        ("L2 Second line", FR, 1, 1, 0, 1, 100.0, 12.0, 12.0),
        ("L2 Second line", RES, 1, 1, 0, 1, 100.0, 60.0, 60.0),
    ]
    assert summary(report(admin, "priority")) == [
        ("Critical", FR, 2, 2, 0, 2, 100.0, 8.5, 12.0),
        ("Critical", RES, 1, 1, 0, 1, 100.0, 60.0, 60.0),
        ("Medium", FR, 11, 9, 2, 10, 81.8, 63.0, 90.0),
    ]
    rows = report(admin, "policy")
    assert [(r.group, r.group_id, r.target) for r in rows] == [
        ("Gold", desk.gold.pk, FR),
        ("Gold", desk.gold.pk, RES),
        ("Standard", SlaPolicy.objects.get(name="Standard").pk, FR),
    ]


def test_one_target_and_one_organisation(desk: Desk) -> None:
    admin = desk.world.admin
    assert summary(report(admin, target=RES)) == [("Beta LLC", RES, 1, 1, 0, 1, 100.0, 60.0, 60.0)]
    assert [r.group for r in report(admin, organisation=desk.world.org_a.pk)] == ["Alpha Ltd"]


def test_only_verdicts_recorded_in_the_period_count(desk: Desk) -> None:
    later = reports.period(MONDAY + dt.timedelta(days=1), MONDAY + dt.timedelta(days=30))
    assert reports.compliance(desk.world.admin, start=later.start, end=later.end, group_by="line") == []


@pytest.mark.parametrize(("zone", "day"), [("Europe/Moscow", MONDAY), ("UTC", MONDAY - dt.timedelta(days=1))])
def test_days_are_counted_in_the_desk_time_zone(world: World, settings: Any, zone: str, day: dt.date) -> None:
    """A verdict taken on Monday at 00:30 in Moscow is Sunday 21:30 in UTC."""
    with at(dt.datetime(2025, 5, 30, 17, 0, tzinfo=MSK)):  # Friday, an hour before closing
        ticket = world.ticket()
    with at(dt.datetime(2025, 6, 2, 0, 30, tzinfo=MSK)):
        services.add_public_reply(ticket, actor=world.admin, body="Good morning")
    settings.TIME_ZONE = zone
    span = reports.period(day, day)
    assert span.start == dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(zone))
    [row] = reports.compliance(world.admin, start=span.start, end=span.end, group_by="organisation")
    assert (row.count, row.met, row.average_minutes) == (1, 1, 60.0)  # Friday 17:00-18:00
    other = reports.period(day + dt.timedelta(days=1), day + dt.timedelta(days=1))
    assert reports.compliance(world.admin, start=other.start, end=other.end, group_by="organisation") == []


def test_a_period_is_whole_days_in_the_desk_time_zone(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Moscow"
    span = reports.period(MONDAY, MONDAY)
    assert span.start == dt.datetime(2025, 6, 2, tzinfo=MSK)
    assert span.end == dt.datetime(2025, 6, 3, tzinfo=MSK)
    assert span.days == 1


# --- Who sees what ----------------------------------------------------------------------------


def test_an_agent_of_beta_only_never_sees_alpha(desk: Desk) -> None:
    world = desk.world
    assert {r.group for r in report(world.l1_b_only)} == {"Beta LLC"}
    for group_by in reports.GroupBy.values:
        rows = report(world.l1_b_only, group_by)
        assert sum(r.count for r in rows) == 3, group_by  # Beta's three verdicts, nothing of Alpha's
    assert report(world.l1_b_only, organisation=world.org_a.pk) == []
    assert {r.group for r in report(world.l1)} == {"Alpha Ltd", "Beta LLC"}


def test_an_organisation_manager_sees_his_own_and_other_customers_nothing(desk: Desk) -> None:
    world = desk.world
    assert {r.group for r in report(world.manager_a)} == {"Alpha Ltd"}
    assert {r.group for r in report(world.manager_b, "line")} == {"L1 First line", "L2 Second line"}
    assert sum(r.count for r in report(world.manager_b, "line")) == 3
    assert report(world.customer_a) == []
    assert report(None) == []


def test_outcomes_restrict_like_every_tenant_scoped_model(desk: Desk) -> None:
    """``SlaOutcome.objects.restrict`` is what the reports count from."""
    world = desk.world

    def orgs(user: Any) -> set[int]:
        return set(SlaOutcome.objects.restrict(user).values_list("organisation_id", flat=True))

    everyone = {world.org_a.pk, world.org_b.pk}
    assert orgs(world.admin) == orgs(world.l1) == everyone
    assert orgs(world.l1_b_only) == orgs(world.manager_b) == {world.org_b.pk}
    assert orgs(world.manager_a) == {world.org_a.pk}
    assert orgs(world.customer_a) == orgs(None) == set()
    assert SlaOutcome.objects.restrict(world.l1_b_only).count() == 3


# --- The API ----------------------------------------------------------------------------------


def test_api_returns_the_report(desk: Desk, api: Any) -> None:
    response = api(desk.world.admin).get(
        URL, {**ONE_DAY, "group_by": "organisation", "target": "first_response"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["start"], body["end"], body["group_by"], body["target"]) == (
        "2025-06-02",
        "2025-06-02",
        "organisation",
        "first_response",
    )
    assert body["rows"][0] == {
        "group_id": desk.world.org_a.pk,
        "group": "Alpha Ltd",
        "target": "first_response",
        "count": 11,
        "met": 9,
        "breached": 2,
        "measured": 10,
        "percent_met": 81.8,
        "average_minutes": 63.0,
        "p90_minutes": 90.0,
    }
    assert [r["group"] for r in body["rows"]] == ["Alpha Ltd", "Beta LLC"]


def test_api_keeps_tenants_apart(desk: Desk, api: Any) -> None:
    world = desk.world
    body = api(world.l1_b_only).get(URL, ONE_DAY).json()
    assert {r["group"] for r in body["rows"]} == {"Beta LLC"}
    assert "Alpha" not in str(body)
    # Alpha is as unknown to him as an organisation that does not exist.
    for org_id in (world.org_a.pk, 999_999):
        response = api(world.l1_b_only).get(URL, {**ONE_DAY, "organisation": org_id})
        assert response.status_code == 400
        assert response.json()["code"] == "unknown_reference"
        assert response.json()["field"] == "organisation"
    assert api(world.customer_b).get(URL, ONE_DAY).json()["rows"] == []
    assert [r["group"] for r in api(world.manager_b).get(URL, ONE_DAY).json()["rows"]] == ["Beta LLC"] * 2
    assert api(None).get(URL, ONE_DAY).status_code == 401


@pytest.mark.parametrize(
    ("params", "status", "where"),
    [
        ({"start": "2025-13-01", "end": "2025-06-30"}, 422, "start"),
        ({"start": "yesterday", "end": "2025-06-30"}, 422, "start"),
        ({"start": "2025-06-01"}, 422, "end"),
        ({"start": "2025-06-01", "end": "2025-06-30", "group_by": "team"}, 422, "group_by"),
        ({"start": "2025-06-01", "end": "2025-06-30", "target": "lunch"}, 422, "target"),
        ({"start": "2025-06-01", "end": "2025-06-30", "format": "pdf"}, 422, "format"),
        ({"start": "2025-06-01", "end": "2025-06-30", "organisation": 0}, 422, "organisation"),
    ],
)
def test_api_refuses_malformed_parameters(
    world: World, api: Any, params: dict[str, Any], status: int, where: str
) -> None:
    response = api(world.admin).get(URL, params)
    assert response.status_code == status
    [error] = response.json()["errors"]
    assert error["loc"] == ["query", where]
    assert response.json()["field"] == where


@pytest.mark.parametrize(
    ("start", "end", "code", "message"),
    [
        (
            "2025-06-30",
            "2025-06-01",
            "invalid_period",
            "The end date 2025-06-01 is before the start date 2025-06-30.",
        ),
        (
            "2024-01-01",
            "2025-01-01",
            "period_too_long",
            "The period is 367 days long; a report covers at most 366 days.",
        ),
        ("1999-12-31", "2000-01-31", "invalid_date", "1999-12-31 is outside the dates reports cover"),
        ("9999-12-31", "9999-12-31", "invalid_date", "9999-12-31 is outside the dates reports cover"),
    ],
)
def test_api_explains_a_wrong_period(
    world: World, api: Any, start: str, end: str, code: str, message: str
) -> None:
    response = api(world.admin).get(URL, {"start": start, "end": end})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body["detail"].startswith(message)


def test_a_leap_year_is_the_longest_period(world: World, api: Any) -> None:
    response = api(world.admin).get(URL, {"start": "2024-01-01", "end": "2024-12-31"})
    assert response.status_code == 200
    assert response.json()["rows"] == []
    same_day = api(world.admin).get(URL, {"start": "2024-02-29", "end": "2024-02-29"})
    assert same_day.status_code == 200


def test_selector_refuses_unknown_groupings_and_periods(world: World) -> None:
    from tierdesk.common.errors import DomainError

    span = reports.period(MONDAY, MONDAY)
    with pytest.raises(DomainError, match="Unknown grouping team"):
        reports.compliance(world.admin, start=span.start, end=span.end, group_by="team")
    with pytest.raises(DomainError, match="Unknown target lunch"):
        reports.compliance(world.admin, start=span.start, end=span.end, group_by="line", target="lunch")
    with pytest.raises(DomainError, match="from one to 366 days"):
        reports.compliance(world.admin, start=span.end, end=span.start, group_by="line")


# --- Downloads --------------------------------------------------------------------------------


def read_csv(response: Any) -> list[list[str]]:
    content = response.content
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM that tells Excel it is UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_csv_download(desk: Desk, api: Any) -> None:
    response = api(desk.world.admin).get(URL, {**ONE_DAY, "group_by": "priority", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="sla-compliance-priority-2025-06-02-2025-06-02.csv"'
    )
    assert read_csv(response) == [
        [
            "Priority",
            "Target",
            "Verdicts",
            "Met",
            "Breached",
            "Met, %",
            "Average, business minutes",
            "90th percentile, business minutes",
        ],
        ["Critical", "First response", "2", "2", "0", "100.0", "8.5", "12.0"],
        ["Critical", "Resolution", "1", "1", "0", "100.0", "60.0", "60.0"],
        ["Medium", "First response", "11", "9", "2", "81.8", "63.0", "90.0"],
    ]


def sheet_cells(content: bytes) -> dict[str, tuple[str, bool]]:
    """Cell reference -> (value, quote-prefixed) of the first sheet of an XLSX file."""
    ns = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
        shared = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
        styles = ElementTree.fromstring(book.read("xl/styles.xml"))
    strings = ["".join(t.text or "" for t in si.iter(f"{{{ns['x']}}}t")) for si in shared.findall("x:si", ns)]
    quoted = [xf.get("quotePrefix") == "1" for xf in styles.findall("x:cellXfs/x:xf", ns)]
    cells = {}
    for cell in sheet.iter(f"{{{ns['x']}}}c"):
        value = cell.findtext("x:v", default="", namespaces=ns)
        if cell.get("t") == "s":
            value = strings[int(value)]
        assert cell.find("x:f", ns) is None, "no formulas in an export"
        cells[cell.get("r")] = (value, quoted[int(cell.get("s", "0"))])
    return cells


def test_xlsx_download(desk: Desk, api: Any) -> None:
    response = api(desk.world.admin).get(URL, {**ONE_DAY, "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].endswith('sla-compliance-organisation-2025-06-02-2025-06-02.xlsx"')
    cells = sheet_cells(response.content)
    assert cells["A1"][0] == "Organisation" and cells["H1"][0] == "90th percentile, business minutes"
    row = [cells[f"{column}2"][0] for column in "ABCDEFGH"]
    assert row == ["Alpha Ltd", "First response", "11", "9", "2", "81.8", "63", "90"]
    assert [cells[f"{column}4"][0] for column in "ABFGH"] == ["Beta LLC", "Resolution", "100", "60", "60"]


def test_downloads_keep_tenants_apart(desk: Desk, api: Any) -> None:
    client = api(desk.world.l1_b_only)
    csv_text = client.get(URL, {**ONE_DAY, "format": "csv"}).content.decode("utf-8-sig")
    assert "Beta LLC" in csv_text and "Alpha" not in csv_text
    cells = sheet_cells(client.get(URL, {**ONE_DAY, "format": "xlsx"}).content)
    assert "Alpha Ltd" not in {value for value, _quoted in cells.values()}


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ('=HYPERLINK("http://evil.test")', '\'=HYPERLINK("http://evil.test")'),
        ("+7 Telecom", "'+7 Telecom"),
        ("-1 Ltd", "'-1 Ltd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTabbed", "'\tTabbed"),
        ("Alpha = Ltd", "Alpha = Ltd"),
        ("", ""),
    ],
)
def test_formula_starts_are_neutralised(text: str, safe: str) -> None:
    assert neutralise(text) == safe


def test_an_organisation_named_like_a_formula_stays_text(world: World, api: Any) -> None:
    evil_name = '=HYPERLINK("http://evil.test","Click")'
    evil = create_organisation(actor=world.admin, name=evil_name, short_name="evil")
    contact = create_contact(evil, actor=world.admin, email="eve@evil.test", first_name="Eve")
    with at(MONDAY_10):
        ticket = world.ticket(requester=contact)
    with at(minutes(30)):
        services.add_public_reply(ticket, actor=world.admin, body="Hello")
    client = api(world.admin)
    rows = read_csv(client.get(URL, {**ONE_DAY, "format": "csv"}))
    assert rows[1][0] == "'" + evil_name
    cells = sheet_cells(client.get(URL, {**ONE_DAY, "format": "xlsx"}).content)
    assert cells["A2"] == (evil_name, True)  # a string cell Excel shows as typed '=...
    assert cells["B2"] == ("First response", False)
    assert client.get(URL, ONE_DAY).json()["rows"][0]["group"] == evil_name  # JSON is data, unchanged


# --- The page ---------------------------------------------------------------------------------


def test_page_shows_the_report_with_its_downloads(desk: Desk, client: Client) -> None:
    client.force_login(desk.world.admin)
    response = client.get(PAGE, {**ONE_DAY, "group_by": "organisation", "target": ""})
    assert response.status_code == 200
    assert summary(response.context["rows"])[0] == ("Alpha Ltd", FR, 11, 9, 2, 10, 81.8, 63.0, 90.0)
    html = response.content.decode()
    assert "81.8" in html and "63.0" in html and 'aria-current="page"' in html
    downloads = response.context["downloads"]
    assert downloads["csv"].startswith("/api/v1/sla/compliance?") and "format=csv" in downloads["csv"]
    # The links work with the browser's session.
    assert read_csv(client.get(downloads["csv"]))[1][0] == "Alpha Ltd"
    assert client.get(downloads["xlsx"])["Content-Type"].endswith("spreadsheetml.sheet")


def test_page_keeps_tenants_apart_and_customers_out(desk: Desk, client: Client) -> None:
    params = {**ONE_DAY, "group_by": "organisation"}
    assert client.get(PAGE, params).status_code == 302
    client.force_login(desk.world.l1_b_only)
    response = client.get(PAGE, params)
    assert {r.group for r in response.context["rows"]} == {"Beta LLC"}
    assert "Alpha" not in response.content.decode()
    client.force_login(desk.world.manager_a)
    assert client.get(PAGE, params).status_code == 404


def test_page_defaults_to_the_last_30_days_and_explains_errors(world: World, client: Client) -> None:
    client.force_login(world.l1)
    with time_machine.travel(dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC), tick=False):
        response = client.get(PAGE)
    form = response.context["form"]
    assert (form.cleaned_data["start"], form.cleaned_data["end"]) == (
        dt.date(2025, 6, 1),
        dt.date(2025, 6, 30),
    )
    assert response.context["rows"] == []
    assert "No SLA verdicts were recorded in this period." in response.content.decode()
    wrong = client.get(PAGE, {"start": "2025-06-30", "end": "2025-06-01", "group_by": "line"})
    assert wrong.context["rows"] is None
    assert wrong.context["form"].errors["end"] == [
        "The end date 2025-06-01 is before the start date 2025-06-30."
    ]
    assert "before the start date" in wrong.content.decode()


def test_page_is_linked_from_the_workspace(world: World, client: Client) -> None:
    client.force_login(world.l1)
    assert PAGE in client.get(reverse("workspace:queue")).content.decode()


def test_page_query_count_is_bounded(desk: Desk, client: Client, django_assert_max_num_queries: Any) -> None:
    client.force_login(desk.world.l1)
    params = {**ONE_DAY, "group_by": "organisation"}
    # Session, user, the agent's scope, the grouped counts and the percentiles.
    with django_assert_max_num_queries(5) as few:
        client.get(PAGE, params)
    gamma = create_organisation(actor=desk.world.admin, name="Gamma", short_name="gamma")
    services.set_team_organisations(
        desk.world.teams["L1"],
        organisations=[desk.world.org_a, desk.world.org_b, gamma],
        actor=desk.world.admin,
    )
    contact = create_contact(gamma, actor=desk.world.admin, email="g@gamma.test", first_name="G")
    for _ in range(3):
        with at(MONDAY_10):
            ticket = desk.world.ticket(requester=contact)
        with at(minutes(30)):
            services.add_public_reply(ticket, actor=desk.world.admin, body="Hello")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(PAGE, params)
    assert len(response.context["rows"]) == 4
