"""Admin for users and API tokens; saves go through the audited services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tierdesk.accounts import services
from tierdesk.accounts.models import ApiToken, User
from tierdesk.common.admin import admin_actor


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "first_name", "last_name", "role", "organisation", "is_active"]
    list_filter = ["role", "is_active", "organisation"]
    search_fields = ["username", "email", "first_name", "last_name"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,  # type: ignore[misc]
        (
            gettext_lazy("Service desk"),
            {"fields": ("role", "organisation", "is_org_manager", "phone", "job_title", "language")},
        ),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("username", "role", "organisation", "password1", "password2")},
        ),
    )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate people instead: tickets and history refer to them

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm[Any], change: bool) -> None:
        services.save_user(obj, actor=admin_actor(request))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    fields = ["user", "name", "expires_at"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiToken, form: ModelForm[Any], change: bool) -> None:
        token, raw_key = services.create_api_token(
            obj.user,
            actor=admin_actor(request),
            name=obj.name,
            expires_at=obj.expires_at,
        )
        obj.pk = token.pk
        messages.warning(
            request, _("Copy the token now, it will not be shown again: %(key)s") % {"key": raw_key}
        )

    @admin.action(description=gettext_lazy("Revoke the selected tokens"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            services.revoke_api_token(token, actor=admin_actor(request))
