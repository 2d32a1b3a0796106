"""Forms of the agent workspace: they validate input; services apply the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.models import User
from tierdesk.common.forms import CachedModelSelect, StaticSelect
from tierdesk.common.limits import BODY_MAX_CHARS, REASON_MAX_CHARS, SUBJECT_MAX_CHARS
from tierdesk.orgs.models import Organisation
from tierdesk.sla.status import SlaFilter
from tierdesk.tickets.choices import Channel, Impact, Priority, Status, TicketType, Urgency
from tierdesk.tickets.models import Category, SupportLine
from tierdesk.workspace.models import CannedAnswer
from tierdesk.workspace.selectors import TAB_KEYS, TABS

ORDERING_CHOICES = [
    ("priority", _("Priority")),
    ("created", _("Oldest first")),
    ("-created", _("Newest first")),
    ("-updated", _("Recently updated")),
    ("due", _("Due first")),  # open tickets by resolution deadline
]


def _blank(choices: Any) -> list[tuple[Any, Any]]:
    return [("", "—"), *list(choices)]


class QueueForm(forms.Form):
    """The queue's tab, filters and sorting, read from the query string."""

    tab = forms.ChoiceField(label=_("Queue"), choices=TABS, required=False, widget=StaticSelect)
    organisation = forms.ModelChoiceField(
        label=_("Organisation"),
        queryset=Organisation.objects.none(),
        required=False,
        widget=CachedModelSelect,
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=_blank(Status.choices), required=False, widget=StaticSelect
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        choices=_blank(Priority.choices),
        coerce=int,
        empty_value=None,
        required=False,
        widget=StaticSelect,
    )
    type = forms.ChoiceField(
        label=_("Type"), choices=_blank(TicketType.choices), required=False, widget=StaticSelect
    )
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.none(), required=False, widget=CachedModelSelect
    )
    channel = forms.ChoiceField(
        label=_("Channel"), choices=_blank(Channel.choices), required=False, widget=StaticSelect
    )
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=User.objects.none(), required=False, widget=CachedModelSelect
    )
    sla = forms.ChoiceField(
        label=_("SLA"), choices=_blank(SlaFilter.choices), required=False, widget=StaticSelect
    )
    q = forms.CharField(label=_("Search"), max_length=200, required=False)
    sort = forms.ChoiceField(
        label=_("Sort by"), choices=ORDERING_CHOICES, required=False, widget=StaticSelect
    )
    cursor = forms.CharField(max_length=500, required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, organisations: Any, categories: Any, agents: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations  # type: ignore[attr-defined]
        self.fields["category"].queryset = categories  # type: ignore[attr-defined]
        self.fields["assignee"].queryset = agents  # type: ignore[attr-defined]

    def current_tab(self) -> str:
        value = self.cleaned_data.get("tab") if self.is_valid() else None
        return value if value in TAB_KEYS else "all"


class BulkForm(forms.Form):
    """An action applied to each checked ticket of a queue."""

    ACTIONS = [
        ("take", _("Assign to me")),
        ("assign", _("Assign to")),
        ("transition", _("Change status to")),
        ("escalate", _("Escalate to")),
    ]
    tickets = forms.TypedMultipleChoiceField(label=_("Tickets"), coerce=int, choices=[])
    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS, widget=StaticSelect)
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=User.objects.none(), required=False, widget=CachedModelSelect
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=_blank(Status.choices), required=False, widget=StaticSelect
    )
    line = forms.ModelChoiceField(
        label=_("Line"), queryset=SupportLine.objects.none(), required=False, widget=CachedModelSelect
    )
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX_CHARS, required=False)
    next = forms.CharField(max_length=1500, required=False)

    def __init__(self, *args: Any, agents: Any, lines: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = agents  # type: ignore[attr-defined]
        self.fields["line"].queryset = lines  # type: ignore[attr-defined]

    def clean_tickets(self) -> list[int]:
        value: list[int] = self.cleaned_data["tickets"]
        if len(value) > 200:
            raise forms.ValidationError(_("Select at most 200 tickets at a time."))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Each row of the queue posts the version of its ticket as it was shown ("version-<id>"),
        # so a ticket someone changed after the queue was rendered is skipped, not overwritten.
        versions: dict[int, int] = {}
        for pk in data.get("tickets") or []:
            raw = str(self.data.get(f"version-{pk}", ""))
            if raw.isascii() and raw.isdigit() and len(raw) <= 10:
                versions[pk] = int(raw)
        if len(versions) != len(data.get("tickets") or []):
            self.add_error("tickets", _("The queue was not sent completely; reload it and try again."))
        data["versions"] = versions
        action = data.get("action")
        if action == "assign" and not data.get("assignee"):
            self.add_error("assignee", _("Choose whom to assign the tickets to."))
        if action == "transition" and not data.get("status"):
            self.add_error("status", _("Choose the new status."))
        if action == "escalate":
            if not data.get("line"):
                self.add_error("line", _("Choose the line to escalate to."))
            if not (data.get("reason") or "").strip():
                self.add_error("reason", _("Say why the tickets are escalated."))
        return data


class SavedViewForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    query = forms.CharField(max_length=1000, required=False, widget=forms.HiddenInput)


class VersionedForm(forms.Form):
    """Every ticket form carries the version of the ticket the user saw."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class ReplyForm(VersionedForm):
    VISIBILITY = [("public", _("Public reply to the customer")), ("internal", _("Internal note"))]
    visibility = forms.ChoiceField(label=_("Visibility"), choices=VISIBILITY, widget=forms.RadioSelect)
    body = forms.CharField(
        label=_("Text"),
        max_length=BODY_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 6, "id": "reply-body"}),
    )
    attachments = MultipleFileField(label=_("Attachments"), required=False)


class AssignForm(VersionedForm):
    assignee = forms.ModelChoiceField(
        label=_("Assignee"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Nobody (back to queue)"),
    )

    def __init__(self, *args: Any, agents: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if agents is not None:
            self.fields["assignee"].queryset = agents  # type: ignore[attr-defined]


class TransitionForm(VersionedForm):
    status = forms.ChoiceField(label=_("New status"), choices=Status.choices)
    comment = forms.CharField(label=_("Comment"), max_length=REASON_MAX_CHARS, required=False)


class LineMoveForm(VersionedForm):
    line = forms.ModelChoiceField(label=_("Line"), queryset=SupportLine.objects.filter(is_active=True))
    reason = forms.CharField(
        label=_("Reason"), max_length=REASON_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 2})
    )


class TicketEditForm(VersionedForm):
    """The ticket's descriptive fields an agent may correct; priority follows impact and urgency."""

    FIELDS = ("subject", "type", "category", "impact", "urgency")
    subject = forms.CharField(label=_("Subject"), max_length=SUBJECT_MAX_CHARS)
    type = forms.ChoiceField(label=_("Type"), choices=TicketType.choices)
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.none(), required=False, widget=CachedModelSelect
    )
    impact = forms.TypedChoiceField(label=_("Impact"), choices=Impact.choices, coerce=int)
    urgency = forms.TypedChoiceField(label=_("Urgency"), choices=Urgency.choices, coerce=int)

    def __init__(self, *args: Any, categories: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if categories is not None:
            self.fields["category"].queryset = categories  # type: ignore[attr-defined]


class UnlinkForm(VersionedForm):
    """Remove the relation to one of the ticket's related tickets (a button next to it)."""

    number = forms.CharField(max_length=30, widget=forms.HiddenInput)


class TicketRefForm(VersionedForm):
    number = forms.CharField(label=_("Ticket number"), max_length=30)
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX_CHARS, required=False)


class IntakeForm(forms.Form):
    """A call taken at the phone: who calls (existing or new contact) and what about."""

    contact = forms.ModelChoiceField(
        label=_("Existing contact"), queryset=User.objects.none(), required=False
    )
    organisation = forms.ModelChoiceField(
        label=_("Organisation"),
        queryset=Organisation.objects.none(),
        required=False,
        widget=CachedModelSelect,
    )
    new_email = forms.EmailField(label=_("E-mail of a new contact"), required=False)
    new_first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    new_last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    new_phone = forms.CharField(label=_("Phone"), max_length=50, required=False)
    type = forms.ChoiceField(label=_("Type"), choices=TicketType.choices, initial=TicketType.INCIDENT)
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.none(), required=False, widget=CachedModelSelect
    )
    impact = forms.TypedChoiceField(
        label=_("Impact"), choices=Impact.choices, coerce=int, initial=Impact.MEDIUM
    )
    urgency = forms.TypedChoiceField(
        label=_("Urgency"), choices=Urgency.choices, coerce=int, initial=Urgency.MEDIUM
    )
    subject = forms.CharField(label=_("Subject"), max_length=SUBJECT_MAX_CHARS)
    description = forms.CharField(
        label=_("Description"), max_length=BODY_MAX_CHARS, required=False, widget=forms.Textarea
    )

    def __init__(self, *args: Any, contacts: Any, organisations: Any, categories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = contacts  # type: ignore[attr-defined]
        self.fields["organisation"].queryset = organisations  # type: ignore[attr-defined]
        self.fields["category"].queryset = categories  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        contact = data.get("contact")
        if contact is None:
            if not data.get("new_email"):
                self.add_error("contact", _("Pick a contact or enter the e-mail of a new one."))
            if not data.get("organisation"):
                self.add_error("organisation", _("Choose the organisation of the new contact."))
        elif data.get("organisation") is None:
            data["organisation"] = contact.organisation
        return data


class CannedAnswerForm(forms.ModelForm):
    class Meta:
        model = CannedAnswer
        fields = ["title", "body", "team"]

    def __init__(self, *args: Any, teams: Any, allow_global: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        field.queryset = teams  # type: ignore[attr-defined]
        field.required = not allow_global
