"""Admin for portal invitations: staff invite a person; the service creates, audits and mails
it. The one-time link is also shown once to the staff member, to pass on should the mail not
arrive (only the token's hash is stored). Account claims and pending registrations can be
looked at, never edited (only their links confirm them)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from tierdesk.common.admin import ReadOnlyAdmin, admin_actor
from tierdesk.common.errors import DomainError
from tierdesk.portal import services
from tierdesk.portal.models import AccountClaim, Invitation, PendingRegistration


class InvitationAdminForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["organisation", "email"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        organisation = data.get("organisation")
        if organisation is not None and (organisation.is_provider or not organisation.is_active):
            raise forms.ValidationError(_("Invitations are for active client organisations."))
        return data


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    form = InvitationAdminForm
    list_display = ["email", "organisation", "created_by", "created_at", "expires_at", "used_at"]
    list_filter = ["organisation"]
    search_fields = ["email"]
    readonly_fields = ["created_by", "created_at", "expires_at", "used_at", "used_by"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Invitation, form: ModelForm[Any], change: bool) -> None:
        try:
            invitation, raw = services.create_invitation(
                obj.organisation,
                actor=admin_actor(request),
                email=obj.email,
                site_url=request.build_absolute_uri("/").rstrip("/"),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = invitation.pk
        link = request.build_absolute_uri(reverse("portal:register_invited", args=[raw]))
        messages.warning(
            request,
            _(
                "The invitation was mailed to %(email)s. Should it not arrive, send this link "
                "(shown only now): %(link)s"
            )
            % {"email": obj.email, "link": link},
        )


@admin.register(AccountClaim)
class AccountClaimAdmin(ReadOnlyAdmin):
    """Who asked to take over an account the desk keeps, and whether the link was followed. The
    chosen password's hash is never shown."""

    list_display = ["user__email", "organisation", "created_at", "last_sent_at", "times_sent", "confirmed_at"]
    list_filter = ["organisation"]
    search_fields = ["user__email"]
    fields = ["user", "organisation", "first_name", "last_name", "phone", "created_at", "last_sent_at"]
    fields += ["times_sent", "confirmed_at"]
    list_select_related = ["user", "organisation"]


@admin.register(PendingRegistration)
class PendingRegistrationAdmin(ReadOnlyAdmin):
    """Self-registrations and whether their address was confirmed."""

    list_display = ["user__email", "created_at", "last_sent_at", "times_sent", "confirmed_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
