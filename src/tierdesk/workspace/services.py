"""Writes of the agent workspace: canned answers, saved views, phone intake, version guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tierdesk.audit.choices import EventType
from tierdesk.audit.services import diff, record_event
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.common.limits import BODY_MAX_CHARS, clean_text
from tierdesk.orgs.services import create_contact
from tierdesk.tickets.choices import Channel
from tierdesk.tickets.models import Ticket
from tierdesk.tickets.services import create_ticket
from tierdesk.workspace.models import CannedAnswer, SavedView

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.orgs.models import Organisation

T = TypeVar("T")

# The audit registry (audit.choices.EventType) has no workspace entries yet; these values are
# stored as they are and should be added to the registry by its owner.
CANNED_ANSWER_SAVED = EventType.CANNED_ANSWER_SAVED
CANNED_ANSWER_DELETED = EventType.CANNED_ANSWER_DELETED
SAVED_VIEW_SAVED = EventType.SAVED_VIEW_SAVED
SAVED_VIEW_DELETED = EventType.SAVED_VIEW_DELETED


def stale_ticket_error() -> Conflict:
    """The error shown when a form was filled in on an older version of the ticket."""
    return Conflict(_("This ticket was changed by someone else meanwhile."), code="stale_version")


def apply_if_current(ticket: Ticket, *, expected_version: int | None, change: Callable[[], T]) -> T:
    """Run ``change`` (one or more ticket services) only if the ticket still has the version the
    user's form was built from; all in one transaction, so nothing is applied on a conflict."""
    with transaction.atomic():
        current = (
            Ticket.objects.select_for_update().filter(pk=ticket.pk).values_list("version", flat=True).first()
        )
        if expected_version is None or current != expected_version:
            raise stale_ticket_error()
        return change()


def _ensure_may_manage(actor: User, team_id: int | None) -> None:
    if actor.is_admin:
        return
    if team_id is None or not actor.is_staff_member or not actor.led_teams.filter(pk=team_id).exists():
        raise NotPermitted(_("Only administrators and the team's lead can manage its canned answers."))


@transaction.atomic
def save_canned_answer(answer: CannedAnswer, *, actor: User) -> CannedAnswer:
    """Create or change a canned answer; administrators manage all, team leads their team's."""
    answer.title = clean_text(answer.title, field="title", max_chars=100)
    answer.body = clean_text(answer.body, field="body", max_chars=BODY_MAX_CHARS)
    before: dict[str, Any] = {}
    if answer.pk:
        stored = CannedAnswer.objects.select_for_update().get(pk=answer.pk)
        _ensure_may_manage(actor, stored.team_id)
        before = stored.audit_snapshot()
    _ensure_may_manage(actor, answer.team_id)
    answer.updated_at = timezone.now()
    answer.save()
    old, new = diff(before, answer.audit_snapshot())
    record_event(answer, event_type=CANNED_ANSWER_SAVED, actor=actor, organisation=None, old=old, new=new)
    return answer


@transaction.atomic
def delete_canned_answer(answer: CannedAnswer, *, actor: User) -> None:
    """Remove a canned answer (administrators, or the lead of its team)."""
    _ensure_may_manage(actor, answer.team_id)
    record_event(
        answer, event_type=CANNED_ANSWER_DELETED, actor=actor, organisation=None, old=answer.audit_snapshot()
    )
    answer.delete()


@transaction.atomic
def save_view(*, actor: User, name: str, query: str) -> SavedView:
    """Bookmark a queue (its query string) under a name; the same name again replaces it."""
    name = clean_text(name, field="name", max_chars=80)
    query = clean_text(query.lstrip("?"), field="query", max_chars=1000, required=False)
    try:
        with transaction.atomic():
            view, _created = SavedView.objects.update_or_create(
                user=actor, name=name, defaults={"query": query}
            )
    except IntegrityError:  # a concurrent save of the same name
        raise DomainError(_("A view with this name already exists."), field="name") from None
    record_event(
        view, event_type=SAVED_VIEW_SAVED, actor=actor, organisation=None, new={"name": name, "query": query}
    )
    return view


@transaction.atomic
def delete_view(view: SavedView, *, actor: User) -> None:
    """Forget one of the actor's own saved views."""
    if view.user_id != actor.pk:
        raise NotPermitted(_("You can only delete your own views."))
    record_event(view, event_type=SAVED_VIEW_DELETED, actor=actor, organisation=None, old={"name": view.name})
    view.delete()


@transaction.atomic
def register_phone_ticket(
    *,
    actor: User,
    organisation: Organisation,
    requester: User | None,
    new_contact: dict[str, str] | None,
    ticket_fields: dict[str, Any],
) -> Ticket:
    """A ticket taken at the phone: for an existing contact or one registered on the spot
    (both audited by their own services), with channel "phone"."""
    if not actor.is_staff_member:
        raise NotPermitted(_("Only agents and administrators can do this."))
    if requester is None:
        if not new_contact:
            raise DomainError(_("Pick a contact or enter a new one."), field="contact")
        requester = create_contact(
            organisation,
            actor=actor,
            email=new_contact.get("email", ""),
            first_name=new_contact.get("first_name", ""),
            last_name=new_contact.get("last_name", ""),
            phone=new_contact.get("phone", ""),
        )
    elif requester.organisation_id != organisation.pk:
        raise DomainError(
            _("%(person)s is not a contact of %(org)s.") % {"person": requester, "org": organisation},
            field="organisation",
        )
    return create_ticket(
        actor=actor, organisation=organisation, requester=requester, channel=Channel.PHONE, **ticket_fields
    )
