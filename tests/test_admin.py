"""The Django admin manages lines, teams, the matrix, categories, organisations, users and
tokens — and every save there goes through the audited services."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, World
from tierdesk.accounts.models import ApiToken, hash_token_key
from tierdesk.audit.models import AuditEvent
from tierdesk.tickets.models import PriorityMatrixEntry, SupportLine


@pytest.fixture
def admin_client(world: World) -> Client:
    client = Client()
    assert client.login(username="admin", password=PASSWORD)
    return client


@pytest.mark.parametrize(
    "model",
    [
        "tickets/supportline",
        "tickets/team",
        "tickets/prioritymatrixentry",
        "tickets/category",
        "tickets/desksettings",
        "tickets/ticket",
        "orgs/organisation",
        "orgs/site",
        "accounts/user",
        "accounts/apitoken",
        "audit/auditevent",
        "sla/businesscalendar",
        "sla/slapolicy",
        "sla/serviceagreement",
        "sla/escalationrule",
        "sla/slaoutcome",
        "mail/mailbox",
        "mail/inboundmessage",
        "mail/outboundmessage",
        "mail/failingaddress",
        "mail/notificationtemplate",
    ],
)
def test_admin_changelists_open(admin_client: Client, world: World, model: str) -> None:
    world.ticket()
    response = admin_client.get(f"/admin/{model}/")
    assert response.status_code == 200


def test_editing_a_line_in_the_admin_is_audited(admin_client: Client, world: World) -> None:
    line = world.lines["L2"]
    url = reverse("admin:tickets_supportline_change", args=[line.pk])
    response = admin_client.post(
        url,
        {
            "code": "L2",
            "level": 2,
            "name": "Second line",
            "may_contact_customer": "",
            "time_budget_minutes": "30",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    line.refresh_from_db()
    assert line.may_contact_customer is False
    assert line.time_budget_minutes == 30
    event = AuditEvent.objects.filter(event_type="line.updated", target_id=line.pk).get()
    assert event.old == {"may_contact_customer": True, "time_budget_minutes": None}
    assert event.new == {"may_contact_customer": False, "time_budget_minutes": 30}
    assert event.actor == world.admin


def test_priority_matrix_edit_changes_new_tickets(admin_client: Client, world: World) -> None:
    cell = PriorityMatrixEntry.objects.get(impact=3, urgency=3)
    url = reverse("admin:tickets_prioritymatrixentry_change", args=[cell.pk])
    assert admin_client.post(url, {"priority": 2}).status_code == 302
    assert world.ticket(impact=3, urgency=3).priority == 2
    assert AuditEvent.objects.filter(event_type="priority_matrix.changed", target_id=cell.pk).exists()


def test_team_membership_in_the_admin_is_audited(admin_client: Client, world: World) -> None:
    team = world.teams["L2"]
    url = reverse("admin:tickets_team_change", args=[team.pk])
    response = admin_client.post(
        url,
        {
            "name": team.name,
            "line": team.line_id,
            "members": [world.l2.pk, world.l3.pk],
            "organisations": [world.org_a.pk],
            "is_active": "on",
            "lead": "",
        },
    )
    assert response.status_code == 302, response.content
    assert set(team.members.values_list("pk", flat=True)) == {world.l2.pk, world.l3.pk}
    events = AuditEvent.objects.filter(event_type="team.updated", target_id=team.pk, actor=world.admin)
    changed = {key for event in events for key in (event.new or {})}
    assert {"members", "organisations"} <= changed


def test_token_created_in_the_admin_is_shown_once_and_stored_hashed(
    admin_client: Client, world: World
) -> None:
    url = reverse("admin:accounts_apitoken_add")
    response = admin_client.post(
        url, {"user": world.l1.pk, "name": "Zabbix", "expires_at_0": "", "expires_at_1": ""}, follow=True
    )
    assert response.status_code == 200
    match = re.search(r"(tdk_[0-9a-f]{8}_[A-Za-z0-9_-]+)", response.content.decode())
    assert match, "the raw key is shown once"
    token = ApiToken.objects.get(name="Zabbix")
    assert token.key_hash == hash_token_key(match.group(1))
    assert match.group(1) not in token.key_hash
    assert AuditEvent.objects.filter(event_type="token.created", target_id=token.pk).exists()


def test_lines_cannot_be_deleted_in_the_admin(admin_client: Client, world: World) -> None:
    line = SupportLine.objects.get(code="L4")
    response = admin_client.post(reverse("admin:tickets_supportline_delete", args=[line.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert SupportLine.objects.filter(pk=line.pk).exists()


def test_agents_cannot_use_the_admin(world: World) -> None:
    client = Client()
    client.login(username="l1", password=PASSWORD)
    response = client.get("/admin/tickets/ticket/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_service_level_edited_in_the_admin_is_audited_with_its_targets(
    admin_client: Client, world: World
) -> None:
    from tierdesk.sla.models import SlaPolicy, SlaTarget

    policy = SlaPolicy.objects.get(name="Standard")
    targets = list(SlaTarget.objects.filter(policy=policy).order_by("priority"))
    data: dict[str, Any] = {
        "name": "Standard",
        "description": policy.description,
        "calendar": "",
        "pause_statuses": '["waiting_customer"]',
        "excluded_lines": [world.lines["L3"].pk, world.lines["L4"].pk],
        "is_default": "on",
        "is_active": "on",
        "targets-TOTAL_FORMS": str(len(targets)),
        "targets-INITIAL_FORMS": str(len(targets)),
        "targets-MIN_NUM_FORMS": "0",
        "targets-MAX_NUM_FORMS": "1000",
    }
    for i, target in enumerate(targets):
        data |= {
            f"targets-{i}-id": target.pk,
            f"targets-{i}-policy": policy.pk,
            f"targets-{i}-priority": target.priority,
            f"targets-{i}-first_response_minutes": 5
            if target.priority == 1
            else target.first_response_minutes,
            f"targets-{i}-resolution_minutes": target.resolution_minutes,
            f"targets-{i}-next_response_minutes": target.next_response_minutes or "",
        }
    response = admin_client.post(reverse("admin:sla_slapolicy_change", args=[policy.pk]), data)
    assert response.status_code == 302, response.content
    assert SlaTarget.objects.get(policy=policy, priority=1).first_response_minutes == 5
    assert set(policy.excluded_lines.values_list("code", flat=True)) == {"L3", "L4"}
    policy.refresh_from_db()
    assert policy.pause_statuses == ["waiting_customer"]
    types = list(AuditEvent.objects.filter(actor=world.admin).values_list("event_type", flat=True))
    assert types.count("sla_target.changed") == 1  # only the edited row
    assert "sla_policy.updated" in types
    updated = AuditEvent.objects.filter(event_type="sla_policy.updated", actor=world.admin)
    changed = {key for event in updated for key in (event.new or {})}
    assert {"pause_statuses", "excluded_lines"} <= changed


def test_a_mailbox_edited_in_the_admin_keeps_its_password_and_is_audited(
    admin_client: Client, world: World
) -> None:
    from tierdesk.mail.models import Mailbox

    form = {
        "name": "Support",
        "address": "support@desk.test",
        "is_active": "on",
        "imap_host": "imap.desk.test",
        "imap_port": "993",
        "imap_security": "ssl",
        "imap_username": "support",
        "imap_password": "s3cret-pass",
        "imap_folder": "INBOX",
        "processed_folder": "",
    }
    assert admin_client.post("/admin/mail/mailbox/add/", form).status_code == 302
    box = Mailbox.objects.get()
    assert box.imap_password == "s3cret-pass"
    page = admin_client.get(f"/admin/mail/mailbox/{box.pk}/change/").content.decode()
    assert "s3cret-pass" not in page  # never sent back to the browser
    form.update(imap_password="", imap_folder="Support")
    assert admin_client.post(f"/admin/mail/mailbox/{box.pk}/change/", form).status_code == 302
    box.refresh_from_db()
    assert (box.imap_password, box.imap_folder) == ("s3cret-pass", "Support")  # empty keeps it
    events = AuditEvent.objects.filter(event_type__startswith="mailbox.").order_by("id")
    assert [e.event_type for e in events] == ["mailbox.created", "mailbox.updated"]
    assert events[1].new == {"imap_folder": "Support"}
    assert "s3cret-pass" not in repr([(e.old, e.new) for e in events])
