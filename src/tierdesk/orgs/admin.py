"""Admin for organisations and sites; saves go through the audited services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from tierdesk.common.admin import NoDeleteAdmin, admin_actor
from tierdesk.orgs import services
from tierdesk.orgs.models import Organisation, Site


@admin.register(Organisation)
class OrganisationAdmin(NoDeleteAdmin):
    list_display = ["name", "short_name", "is_provider", "account_manager", "is_active"]
    list_filter = ["is_provider", "is_active"]
    search_fields = ["name", "short_name"]
    autocomplete_fields = ["account_manager"]

    def save_model(self, request: HttpRequest, obj: Organisation, form: ModelForm[Any], change: bool) -> None:
        actor = admin_actor(request)
        if change:
            changes = {
                name: form.cleaned_data[name] for name in form.changed_data if name in services.ORG_FIELDS
            }
            stored = Organisation.objects.get(pk=obj.pk)
            services.update_organisation(stored, actor=actor, changes=changes)
            obj.refresh_from_db()
        else:
            created = services.create_organisation(
                actor=actor,
                name=obj.name,
                short_name=obj.short_name,
                is_provider=obj.is_provider,
                account_manager=obj.account_manager,
                email_domains=list(obj.email_domains or []),
                phone=obj.phone,
                notes=obj.notes,
            )
            obj.pk = created.pk


@admin.register(Site)
class SiteAdmin(NoDeleteAdmin):
    list_display = ["name", "organisation"]
    list_filter = ["organisation"]
    search_fields = ["name", "address"]

    def save_model(self, request: HttpRequest, obj: Site, form: ModelForm[Any], change: bool) -> None:
        services.save_site(obj, actor=admin_actor(request))
