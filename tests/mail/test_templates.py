"""Notification templates: every kind has its shipped subject and text, administrators' versions
are rendered by a locked-down engine from plain values, a template that does not work is refused
when saved (service and admin), and saving is audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, World
from tierdesk.audit.models import AuditEvent
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.mail.choices import NotificationKind
from tierdesk.mail.models import NotificationTemplate, OutboundMessage
from tierdesk.mail.outgoing import (
    check_notification_template,
    delete_notification_template,
    render_message,
    save_notification_template,
)
from tierdesk.mail.outgoing.rendering import SUBJECT_MAX_CHARS, TEMPLATE_DIR, numbered_subject
from tierdesk.tickets import services

pytestmark = pytest.mark.django_db


def a_message(world: World, kind: str, **extra: Any) -> OutboundMessage:
    ticket = world.ticket(subject="Printer <b> & co")
    entry = services.add_public_reply(ticket, actor=world.l1, body="Try this & that")
    return OutboundMessage(
        ticket=ticket,
        entry=entry,
        kind=kind,
        recipient=world.customer_a,
        to_address=world.customer_a.email,
        language="en",
        context={"target": "resolution", "percent": 80, "deadline": "2026-01-05T12:00:00+00:00"},
        message_id="td.1.x@localhost",
        **extra,
    )


@pytest.mark.parametrize("kind", NotificationKind.values)
def test_every_kind_has_shipped_templates_that_render_in_both_languages(world: World, kind: str) -> None:
    assert (TEMPLATE_DIR / "mail" / "notifications" / f"{kind}_subject.txt").is_file()
    assert (TEMPLATE_DIR / "mail" / "notifications" / f"{kind}.txt").is_file()
    message = a_message(world, kind)
    for language in ("en", "ru"):
        message.language = language
        rendered = render_message(message, template=None)
        assert f"[{message.ticket.number}]" in rendered.subject and "\n" not in rendered.subject
        assert "Printer <b> & co" in rendered.subject  # plain text: nothing escaped
        assert "&amp;" not in rendered.body and "{{" not in rendered.body and "{%" not in rendered.body
        assert rendered.body.endswith("\n") and not rendered.body.startswith("\n")
        if kind in (NotificationKind.AGENT_REPLIED, NotificationKind.CUSTOMER_REPLIED):
            assert "Try this & that" in rendered.body
        if kind == NotificationKind.RESOLVED:
            assert "/portal/rating/" in rendered.body
        if language == "ru":
            # One word for a ticket in every mail, the portal's: «заявка», not «обращение».
            assert "обращени" not in rendered.subject.lower()
            assert "заявк" in (rendered.subject + rendered.body).lower()
        if kind.startswith("sla_"):
            assert "05.01.2026" in rendered.body or "01/05/2026" in rendered.body
            assert ("resolution" if language == "en" else "решени") in rendered.body  # the target's label


def test_administrators_templates_see_plain_values_only(world: World) -> None:
    template = NotificationTemplate(
        kind=NotificationKind.RECEIVED,
        language="en",
        subject="{{ ticket.subject|upper }}",
        # Model attributes that would be reachable from model instances render as nothing.
        body="[{{ ticket.requester.password }}][{{ recipient.password }}][{{ ticket.organisation.pk }}]"
        "{{ ticket.organisation }} {{ ticket.priority }} {{ ticket.status }}",
    )
    rendered = render_message(a_message(world, NotificationKind.RECEIVED), template=template)
    assert rendered.body.strip() == "[][][]Alpha Ltd Medium New"
    assert rendered.subject.endswith("PRINTER <B> & CO")


@pytest.mark.parametrize(
    "source",
    [
        "{% if %}",
        "{% load i18n %}{% translate 'Hello' %}",  # no libraries beyond the built-ins
        "{% include 'mail/notifications/received.txt' %}",  # nothing from disk
        "{% extends 'base.html' %}",
        "{{ ticket.subject|no_such_filter }}",
        "{% for x in %}",
    ],
)
def test_a_template_that_does_not_work_is_refused(world: World, source: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_notification_template(source, field="body")
    assert refused.value.field == "body"
    with pytest.raises(DomainError):
        save_notification_template(
            NotificationTemplate(kind=NotificationKind.CLOSED, language="en", subject="Closed", body=source),
            actor=world.admin,
        )
    assert not NotificationTemplate.objects.exists()
    assert not AuditEvent.objects.filter(event_type__startswith="notification_template").exists()


def test_saving_a_template_is_audited_and_for_administrators_only(world: World) -> None:
    template = NotificationTemplate(
        kind=NotificationKind.CLOSED, language="ru", subject="Закрыта", body="Текст"
    )
    with pytest.raises(NotPermitted):
        save_notification_template(template, actor=world.l1)
    save_notification_template(template, actor=world.admin)
    template.subject = "Заявка закрыта"
    save_notification_template(template, actor=world.admin)
    save_notification_template(template, actor=world.admin)  # nothing changed: no event
    events = list(AuditEvent.objects.filter(event_type__startswith="notification_template").order_by("id"))
    assert [e.event_type for e in events] == [
        "notification_template.created",
        "notification_template.updated",
    ]
    assert events[1].old["subject"] == "Закрыта" and events[1].new["subject"] == "Заявка закрыта"
    assert events[1].actor == world.admin
    duplicate = NotificationTemplate(kind=NotificationKind.CLOSED, language="ru", subject="x", body="y")
    with pytest.raises(DomainError, match="already"):
        save_notification_template(duplicate, actor=world.admin)
    delete_notification_template(template, actor=world.admin)
    assert not NotificationTemplate.objects.exists()
    assert AuditEvent.objects.filter(event_type="notification_template.deleted").count() == 1


def test_the_admin_saves_templates_through_the_service(world: World) -> None:
    client = Client()
    assert client.login(username="admin", password=PASSWORD)
    url = reverse("admin:mail_notificationtemplate_add")
    form = {"kind": "closed", "language": "en", "is_active": "on", "subject": "Closed", "body": "{% if %}"}
    response = client.post(url, form)
    assert response.status_code == 200 and "The template cannot be used" in response.content.decode()
    assert not NotificationTemplate.objects.exists()
    response = client.post(url, {**form, "body": "Bye {{ recipient.first_name }}"})
    assert response.status_code == 302
    assert NotificationTemplate.objects.get().body == "Bye {{ recipient.first_name }}"
    assert AuditEvent.objects.filter(event_type="notification_template.created", actor=world.admin).exists()
    assert client.get(reverse("admin:mail_notificationtemplate_changelist")).status_code == 200


def test_the_subject_always_carries_the_ticket_number() -> None:
    assert numbered_subject("Hello", "TD-000007") == "[TD-000007] Hello"
    assert numbered_subject("Re: [TD-000007] Hello", "TD-000007") == "Re: [TD-000007] Hello"
    assert numbered_subject("Two\n lines ", "TD-000007") == "[TD-000007] Two lines"
    long = numbered_subject("x" * 300 + " [TD-000007]", "TD-000007")
    assert len(long) == SUBJECT_MAX_CHARS and long.startswith("[TD-000007] ")
