"""Admin of the e-mail channel. Every save goes through a service (validated, audited)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tierdesk.common.admin import NoDeleteAdmin, ReadOnlyAdmin, admin_actor
from tierdesk.common.errors import DomainError
from tierdesk.mail.models import (
    FailingAddress,
    InboundMessage,
    Mailbox,
    NotificationTemplate,
    OutboundMessage,
)
from tierdesk.mail.outgoing import (
    check_notification_template,
    delete_notification_template,
    save_notification_template,
)
from tierdesk.mail.services import (
    clear_failing_address,
    discard_message,
    retry_message,
    save_mailbox,
)

# --- Notification templates (outgoing mail) ------------------------------------------------------

TEMPLATE_HELP = _(
    "Django template syntax, plain text. Variables: {{ ticket.number }}, {{ ticket.subject }}, "
    "{{ ticket.status }}, {{ ticket.priority }}, {{ ticket.type }}, {{ ticket.organisation }}, "
    "{{ ticket.line }}, {{ recipient.name }}, {{ recipient.first_name }}, {{ reply }}, "
    "{{ reply_author }}, {{ ticket_url }}, {{ rating_url }} (resolved requests), and for deadline "
    "notices {{ target }}, {{ percent }}, {{ deadline }}. The subject always gets the ticket "
    "number in brackets, added if the template leaves it out."
)


class NotificationTemplateForm(forms.ModelForm):
    class Meta:
        model = NotificationTemplate
        fields = ["kind", "language", "is_active", "subject", "body"]
        help_texts = {"body": TEMPLATE_HELP}
        widgets = {"body": forms.Textarea(attrs={"rows": 16, "cols": 90})}

    def clean(self) -> dict[str, Any]:
        # The service checks again when saving; here a broken template comes back as a form error.
        data = super().clean() or {}
        for name in ("subject", "body"):
            if data.get(name):
                try:
                    check_notification_template(data[name], field=name)
                except DomainError as exc:
                    self.add_error(name, ValidationError(exc.message))
        return data


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    form = NotificationTemplateForm
    list_display = ["kind", "language", "is_active", "subject", "updated_at"]
    list_filter = ["kind", "language", "is_active"]
    search_fields = ["subject", "body"]

    def save_model(self, request: HttpRequest, obj: NotificationTemplate, form: Any, change: bool) -> None:
        save_notification_template(obj, actor=admin_actor(request))

    def delete_model(self, request: HttpRequest, obj: NotificationTemplate) -> None:
        delete_notification_template(obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[NotificationTemplate]) -> None:
        for obj in queryset:
            delete_notification_template(obj, actor=admin_actor(request))


# --- Mailboxes and received mail ---------------------------------------------------------------


class MailboxForm(forms.ModelForm):
    # The stored password is never sent back to the browser; an empty field keeps it.
    imap_password = forms.CharField(
        label=_("IMAP password"), required=False, widget=forms.PasswordInput(render_value=False)
    )

    class Meta:
        model = Mailbox
        fields = [
            "name",
            "address",
            "is_active",
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_username",
            "imap_password",
            "imap_folder",
            "processed_folder",
            "default_organisation",
            "team",
            "line",
            "category",
        ]

    def clean_imap_password(self) -> str:
        password: str = self.cleaned_data.get("imap_password") or ""
        if not password and self.instance.pk:
            return self.instance.imap_password
        return password


@admin.register(Mailbox)
class MailboxAdmin(NoDeleteAdmin):
    form = MailboxForm
    list_display = [
        "name",
        "address",
        "imap_host",
        "default_organisation",
        "team",
        "is_active",
        "last_polled_at",
    ]
    list_filter = ["is_active"]
    readonly_fields = ["last_polled_at", "last_error"]

    def save_model(self, request: HttpRequest, obj: Mailbox, form: Any, change: bool) -> None:
        save_mailbox(obj, actor=admin_actor(request))


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    """Received mail, for the record; held and quarantined messages are worked on in the
    workspace (Mail) or with the actions here."""

    list_display = ["received_at", "sender", "subject", "state", "ticket", "transport", "mailbox"]
    list_filter = ["state", "transport", "mailbox"]
    search_fields = ["sender", "subject", "message_id", "key"]
    list_select_related = ["ticket", "mailbox"]
    actions = ["retry", "discard"]

    @admin.action(description=_("Import the selected quarantined messages again"))
    def retry(self, request: HttpRequest, queryset: QuerySet[InboundMessage]) -> None:
        self._each(request, queryset, lambda message: retry_message(message, actor=admin_actor(request)))

    @admin.action(description=_("Discard the selected held or quarantined messages"))
    def discard(self, request: HttpRequest, queryset: QuerySet[InboundMessage]) -> None:
        self._each(request, queryset, lambda message: discard_message(message, actor=admin_actor(request)))

    def _each(self, request: HttpRequest, queryset: QuerySet[InboundMessage], action: Any) -> None:
        for message in queryset:
            try:
                action(message)
            except DomainError as exc:
                self.message_user(request, f"{message}: {exc.message}", level=messages.ERROR)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "to_address", "ticket", "state", "attempts", "sent_at"]
    list_filter = ["state", "kind"]
    search_fields = ["to_address", "message_id", "subject"]
    list_select_related = ["ticket"]


@admin.register(FailingAddress)
class FailingAddressAdmin(ReadOnlyAdmin):
    list_display = ["address", "failures", "reason", "last_failed_at"]
    search_fields = ["address"]
    actions = ["clear"]

    @admin.action(description=_("Mail to the selected addresses works again"))
    def clear(self, request: HttpRequest, queryset: QuerySet[FailingAddress]) -> None:
        for failing in queryset:
            clear_failing_address(failing, actor=admin_actor(request))
