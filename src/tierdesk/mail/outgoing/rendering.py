"""Notification templates: the shipped defaults, the administrators' versions, and rendering a
message of the outbox in its recipient's language.

Shipped defaults live in ``mail/templates/mail/notifications/<kind>_subject.txt`` and
``<kind>.txt``, written in English with ``{% translate %}`` (the Russian text comes from the
message catalogue). An active ``NotificationTemplate`` row for the kind and language replaces
them; an inactive one switches that notification off for that language.

Administrators' templates are rendered by their own ``Engine``: no loaders (nothing to include
or extend from disk), only the built-in tags and filters, no autoescaping (plain text), and an
unknown variable renders as nothing. Their context is plain values (strings in dicts), never
model instances, so a template cannot walk from the ticket to anything else. A template that
does not compile, or fails on a sample context, is refused when saved; one that fails at send
time anyway falls back to the shipped text, logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.template import Context, Engine
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from tierdesk.accounts.choices import Language
from tierdesk.audit.choices import EventType
from tierdesk.audit.services import record_config_change, record_event, stored_snapshot
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.common.limits import BODY_MAX_CHARS, clean_text
from tierdesk.mail.choices import NotificationKind
from tierdesk.mail.models import NotificationTemplate, OutboundMessage
from tierdesk.mail.outgoing.outbox import CUSTOMER_KINDS
from tierdesk.mail.outgoing.rating import rating_token

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.tickets.models import Ticket

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
SUBJECT_MAX_CHARS = OutboundMessage._meta.get_field("subject").max_length or 255

# The shipped defaults: the mail app's template directory, with {% translate %}.
_SHIPPED = Engine(
    dirs=[str(TEMPLATE_DIR)],
    libraries={"i18n": "django.templatetags.i18n"},
    autoescape=False,
    string_if_invalid="",
)
# Administrators' templates: built-ins only, nothing from disk.
_ADMIN = Engine(loaders=[], libraries={}, autoescape=False, string_if_invalid="")


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def render_message(message: OutboundMessage, *, template: NotificationTemplate | None) -> Rendered:
    """Subject and text of ``message`` in its language: from ``template`` (the administrators'
    active row for its kind and language) if it renders, else from the shipped default. The
    subject always carries the ticket number in brackets, whatever the template says, so
    replies thread by number even after an edit."""
    ticket = message.ticket
    with translation.override(message.language or settings.LANGUAGE_CODE):
        context = notification_context(message)
        rendered = None
        if template is not None:
            try:
                rendered = Rendered(
                    subject=_render_admin(template.subject, context),
                    body=_render_admin(template.body, context),
                )
            except Exception:
                logger.warning(
                    "Notification template %s (%s) failed; the shipped one is used instead.",
                    template.kind,
                    template.language,
                    exc_info=True,
                )
        if rendered is None:
            rendered = Rendered(
                subject=_SHIPPED.get_template(f"mail/notifications/{message.kind}_subject.txt").render(
                    Context(context, autoescape=False)
                ),
                body=_SHIPPED.get_template(f"mail/notifications/{message.kind}.txt").render(
                    Context(context, autoescape=False)
                ),
            )
    number = ticket.number if ticket is not None else ""
    return Rendered(subject=numbered_subject(rendered.subject, number), body=rendered.body.strip() + "\n")


def numbered_subject(subject: str, number: str) -> str:
    """One line (a header cannot hold a line break) that carries ``[number]``, at most as long
    as the outbox column."""
    subject = " ".join(subject.split())
    if not number:
        return subject[:SUBJECT_MAX_CHARS]
    tag = f"[{number}]"
    if tag not in subject:
        subject = f"{tag} {subject}".strip()
    if len(subject) > SUBJECT_MAX_CHARS:
        if subject.index(tag) + len(tag) > SUBJECT_MAX_CHARS - 1:
            subject = f"{tag} " + " ".join(subject.replace(tag, " ").split())
        subject = subject[: SUBJECT_MAX_CHARS - 1] + "…"
    return subject


def notification_context(message: OutboundMessage) -> dict[str, Any]:
    """The variables of every notification, as plain values in the active language:
    ``ticket`` (number, subject, status, priority, type, organisation, line), ``recipient``
    (name, first_name, email), ``reply`` and ``reply_author`` (the conversation entry),
    ``ticket_url`` (the portal for customers, the workspace for staff), ``rating_url`` (resolved
    notices), and for SLA notices ``target``, ``percent`` and ``deadline``."""
    ticket = message.ticket
    person = message.recipient
    context: dict[str, Any] = {
        "recipient": {
            "name": (person.get_full_name() or person.email) if person else message.to_address,
            "first_name": (person.first_name if person else "") or "",
            "email": message.to_address,
        },
        "ticket": _ticket_values(ticket) if ticket is not None else {},
        "reply": "",
        "reply_author": "",
        "ticket_url": "",
        "rating_url": "",
        "deadline": "",
        "target": "",
        "percent": "",
    }
    if ticket is not None:
        for_customer = message.kind in CUSTOMER_KINDS
        page = "portal:ticket" if for_customer else "workspace:ticket"
        context["ticket_url"] = absolute_url(reverse(page, args=[ticket.number]))
        if message.kind == NotificationKind.RESOLVED and person is not None and for_customer:
            context["rating_url"] = absolute_url(
                reverse("portal:rate_by_link", args=[rating_token(ticket.pk, person.pk)])
            )
    if message.entry is not None:
        context["reply"] = message.entry.body
        author = message.entry.author
        context["reply_author"] = (author.get_full_name() or author.username) if author else ""
    if message.kind in (NotificationKind.SLA_WARNING, NotificationKind.SLA_BREACHED):
        context.update(_sla_values(message.context))
    return context


def absolute_url(path: str) -> str:
    return f"{settings.TIERDESK_BASE_URL}{path}"


def _ticket_values(ticket: Ticket) -> dict[str, str]:
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": str(ticket.get_status_display()),
        "priority": str(ticket.get_priority_display()),
        "type": str(ticket.get_type_display()),
        "organisation": ticket.organisation.name,
        "line": str(ticket.current_line),
    }


def _sla_values(data: dict[str, Any]) -> dict[str, str]:
    from tierdesk.sla.choices import TargetKind

    target = data.get("target") or ""
    label = str(TargetKind(target).label).lower() if target in TargetKind.values else target
    deadline = parse_datetime(data.get("deadline") or "")
    when = ""
    if deadline is not None:
        local = timezone.localtime(deadline)
        when = f"{formats.date_format(local, 'SHORT_DATETIME_FORMAT')} {local.tzname()}"
    return {"target": label, "percent": str(data.get("percent") or ""), "deadline": when}


def _render_admin(source: str, context: dict[str, Any]) -> str:
    return _ADMIN.from_string(source).render(Context(context, autoescape=False))


# --- Administrators' templates --------------------------------------------------------------------

# What a template is tried on when saved: every variable a notification may have.
_SAMPLE_CONTEXT: dict[str, Any] = {
    "recipient": {"name": "Alex Example", "first_name": "Alex", "email": "alex@example.com"},
    "ticket": {
        "number": "TD-000001",
        "subject": "Printer problem",
        "status": "Resolved",
        "priority": "Medium",
        "type": "Incident",
        "organisation": "Example Ltd",
        "line": "L1 First line",
    },
    "reply": "Hello,\nit works again.",
    "reply_author": "Agent Example",
    "ticket_url": "http://desk.example.com/portal/r/TD-000001/",
    "rating_url": "http://desk.example.com/portal/rating/x/",
    "deadline": "01.01.2026 12:00 UTC",
    "target": "resolution",
    "percent": "75",
}


def check_notification_template(source: str, *, field: str) -> None:
    """Refuse a template that does not compile or fails on a sample of its variables, saying
    where; the mail would otherwise fall back to the shipped text without anyone noticing."""
    try:
        _render_admin(source, _SAMPLE_CONTEXT)
    except Exception as exc:
        raise DomainError(
            _("The template cannot be used: %(error)s") % {"error": exc}, field=field, code="bad_template"
        ) from None


@transaction.atomic
def save_notification_template(template: NotificationTemplate, *, actor: User | None) -> NotificationTemplate:
    """Create or change an administrator's version of a notification in one language, audited.

    Subject and text are Django templates with the variables of ``notification_context``;
    one that does not work is refused (nothing saved). Switching the row off (``is_active``)
    stops that notification in that language; deleting the row brings the shipped text back.
    """
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change notification templates."))
    if template.kind not in NotificationKind.values:
        raise DomainError(_("Unknown notification."), field="kind")
    if template.language not in Language.values:
        raise DomainError(_("Unknown language."), field="language")
    template.subject = clean_text(template.subject, field="subject", max_chars=SUBJECT_MAX_CHARS)
    template.body = clean_text(template.body, field="body", max_chars=BODY_MAX_CHARS)
    check_notification_template(template.subject, field="subject")
    check_notification_template(template.body, field="body")
    duplicate = NotificationTemplate.objects.filter(kind=template.kind, language=template.language)
    if template.pk:
        duplicate = duplicate.exclude(pk=template.pk)
    if duplicate.exists():
        raise DomainError(
            _("There is already a template for this notification in this language."), field="language"
        )
    before = stored_snapshot(template, lock=True)
    content = ("kind", "language", "subject", "body", "is_active")
    if not before or any(before.get(name) != getattr(template, name) for name in content):
        template.updated_at = timezone.now()
    template.save()
    record_config_change(
        template,
        before=before,
        actor=actor,
        created=EventType.NOTIFICATION_TEMPLATE_CREATED,
        updated=EventType.NOTIFICATION_TEMPLATE_UPDATED,
    )
    return template


@transaction.atomic
def delete_notification_template(template: NotificationTemplate, *, actor: User | None) -> None:
    """Remove an administrator's version: the shipped text is used again for that kind and
    language. Audited with the deleted values."""
    if actor is not None and not actor.is_admin:
        raise NotPermitted(_("Only administrators can change notification templates."))
    before = stored_snapshot(template, lock=True)
    if not before:
        return
    record_event(
        template,
        event_type=EventType.NOTIFICATION_TEMPLATE_DELETED,
        actor=actor,
        organisation=None,
        old=before,
    )
    template.delete()
