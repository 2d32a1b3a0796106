"""Canned answers in the admin; saving and deleting go through the workspace services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from tierdesk.common.admin import admin_actor
from tierdesk.workspace import services
from tierdesk.workspace.models import CannedAnswer


@admin.register(CannedAnswer)
class CannedAnswerAdmin(admin.ModelAdmin):
    list_display = ["title", "team", "updated_at"]
    list_filter = ["team"]
    search_fields = ["title", "body"]
    exclude = ["updated_at"]

    def save_model(self, request: HttpRequest, obj: CannedAnswer, form: Any, change: bool) -> None:
        services.save_canned_answer(obj, actor=admin_actor(request))

    def delete_model(self, request: HttpRequest, obj: CannedAnswer) -> None:
        services.delete_canned_answer(obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CannedAnswer]) -> None:
        for obj in queryset:
            services.delete_canned_answer(obj, actor=admin_actor(request))
