"""Admin for knowledge base articles: browse, correct and moderate. Articles are written in the
agent workspace; an administrator's edit here goes through ``tierdesk.kb.services`` like any
other (a new version, the moderation rules, wiki links, the search index, the audit trail).
Tags are made by the services as articles use them; they are listed here, not edited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tierdesk.common.admin import NoDeleteAdmin, ReadOnlyAdmin, admin_actor
from tierdesk.common.errors import DomainError
from tierdesk.kb import services
from tierdesk.kb.choices import ArticleStatus
from tierdesk.kb.models import Article, Tag

# Form fields that are many-to-many sets, by the name ``update_article`` knows them under.
_SETS = {"organisations": "organisations", "audience_lines": "lines", "audience_teams": "teams"}
_FIELDS = [
    "kind",
    "title",
    "body",
    "language",
    "visibility",
    "organisations",
    "audience_lines",
    "audience_teams",
    "service",
    "owner",
    "review_due_on",
]


class ArticleAdminForm(forms.ModelForm):
    tag_names = forms.CharField(
        label=_("tags"), required=False, help_text=_("Separated by commas."), max_length=2000
    )

    class Meta:
        model = Article
        fields = _FIELDS
        widgets = {"body": forms.Textarea(attrs={"rows": 24, "cols": 100})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["tag_names"].initial = ", ".join(self.instance.tags.values_list("name", flat=True))

    def changes(self) -> dict[str, Any]:
        """The changed fields under the names ``update_article`` takes."""
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for name in self.changed_data:
            if name == "tag_names":
                out["tags"] = [t for t in (data.get("tag_names") or "").split(",") if t.strip()]
            elif name in _SETS:
                out[_SETS[name]] = list(data.get(name) or ())
            elif name in _FIELDS:
                out[name] = data.get(name)
        return out

    def clean(self) -> dict[str, Any]:
        # The service checks again when saving; here its refusal comes back as a form error.
        data = super().clean() or {}
        if not self.errors:
            changes = self.changes()
            if "visibility" in changes or "organisations" in changes:
                changes["visibility"] = data.get("visibility")
                changes["organisations"] = list(data.get("organisations") or ())
            try:
                services.check_article_fields(changes, article=self.instance)
            except DomainError as exc:
                field = {"lines": "audience_lines", "teams": "audience_teams", "tags": "tag_names"}.get(
                    exc.field or "", exc.field
                )
                self.add_error(field if field in self.fields else None, ValidationError(exc.message))
        return data


@admin.register(Article)
class ArticleAdmin(NoDeleteAdmin):
    form = ArticleAdminForm
    list_display = ["number", "title", "kind", "status", "visibility", "owner", "review_due_on", "version"]
    list_filter = ["status", "kind", "visibility", "language"]
    search_fields = ["title", "link_key"]
    list_select_related = ["owner"]
    ordering = ["-updated_at", "-id"]
    readonly_fields = [
        "status",
        "version",
        "created_by",
        "reviewer",
        "published_at",
        "source_ticket",
        "created_at",
        "updated_at",
        "view_count",
        "helpful_count",
        "not_helpful_count",
        "ticket_count",
        "solved_count",
        "deflection_count",
    ]
    fieldsets = [
        (None, {"fields": ["kind", "title", "body", "language", "tag_names", "service"]}),
        (_("Readers"), {"fields": ["visibility", "organisations", "audience_lines", "audience_teams"]}),
        (
            _("Moderation"),
            {"fields": ["status", "version", "owner", "review_due_on", "reviewer", "published_at"]},
        ),
        (
            _("History and use"),
            {
                "fields": [
                    "created_by",
                    "source_ticket",
                    "created_at",
                    "updated_at",
                    "view_count",
                    "helpful_count",
                    "not_helpful_count",
                    "ticket_count",
                    "solved_count",
                    "deflection_count",
                ]
            },
        ),
    ]
    filter_horizontal = ["organisations", "audience_lines", "audience_teams"]
    actions = ["publish", "archive"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # articles are written in the workspace, where the editor previews them

    def save_model(self, request: HttpRequest, obj: Article, form: Any, change: bool) -> None:
        services.update_article(
            obj, actor=admin_actor(request), note=str(_("Edited in the admin")), **form.changes()
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The service has set the related rows; the form must not write them again."""

    def _move(self, request: HttpRequest, queryset: QuerySet[Article], to: str) -> None:
        moved = 0
        for article in queryset:
            try:
                services.change_article_status(article, actor=admin_actor(request), to=to)
                moved += 1
            except DomainError as exc:
                self.message_user(request, f"{article.number}: {exc.message}", messages.ERROR)
        if moved:
            self.message_user(
                request,
                ngettext("%(count)d article changed.", "%(count)d articles changed.", moved)
                % {"count": moved},
                messages.SUCCESS,
            )

    @admin.action(description=_("Publish the selected articles"))
    def publish(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        self._move(request, queryset, ArticleStatus.PUBLISHED)

    @admin.action(description=_("Archive the selected articles"))
    def archive(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        self._move(request, queryset, ArticleStatus.ARCHIVED)


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ["name"]
    search_fields = ["name"]
