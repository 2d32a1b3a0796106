"""Forms of the knowledge base in the agent workspace: they validate input; services apply the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tierdesk.accounts.choices import Language
from tierdesk.accounts.models import User
from tierdesk.common.forms import StaticSelect
from tierdesk.common.limits import BODY_MAX_CHARS
from tierdesk.kb.choices import ArticleKind, ArticleStatus, Visibility
from tierdesk.kb.models import Article
from tierdesk.orgs.models import Organisation
from tierdesk.tickets.models import SupportLine, Team
from tierdesk.workspace.forms import MultipleFileField, ReplyForm

ISO_DATE = "%Y-%m-%d"
TITLE_MAX_CHARS = 200
SERVICE_MAX_CHARS = 200
NOTE_MAX_CHARS = 300
TAG_MAX_CHARS = 60
MAX_TAGS = 20
# A search is a few words; anything longer is a paste, not a query.
QUERY_MAX_CHARS = 200
# Articles named in one reply ("kb_articles"): a reply quoting more is not a reply.
MAX_REPLY_ARTICLES = 20


def _blank(choices: Any) -> list[tuple[Any, Any]]:
    return [("", "—"), *list(choices)]


def parse_tags(text: str) -> list[str]:
    """Tags typed as comma-separated text: trimmed, inner spaces collapsed, duplicates (in any
    case) dropped, first spelling kept, in the order typed."""
    seen: set[str] = set()
    tags: list[str] = []
    for raw in text.split(","):
        name = " ".join(raw.split())
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            tags.append(name)
    return tags


class SearchForm(forms.Form):
    """The article list's search box and filters, read from the query string."""

    q = forms.CharField(label=_("Search"), max_length=QUERY_MAX_CHARS, required=False)
    kind = forms.ChoiceField(
        label=_("Kind"), choices=_blank(ArticleKind.choices), required=False, widget=StaticSelect
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=_blank(ArticleStatus.choices), required=False, widget=StaticSelect
    )
    visibility = forms.ChoiceField(
        label=_("Visible to"), choices=_blank(Visibility.choices), required=False, widget=StaticSelect
    )
    language = forms.ChoiceField(
        label=_("Language"), choices=_blank(Language.choices), required=False, widget=StaticSelect
    )
    tag = forms.CharField(label=_("Tag"), max_length=TAG_MAX_CHARS, required=False)
    cursor = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    # Search pages: kb.search answers up to offset 1000 (nobody reads further).
    page = forms.IntegerField(required=False, min_value=1, max_value=30, widget=forms.HiddenInput)

    def clean_q(self) -> str:
        return " ".join(str(self.cleaned_data.get("q") or "").split())

    def clean_tag(self) -> str:
        return " ".join(str(self.cleaned_data.get("tag") or "").split())


class ArticleForm(forms.Form):
    """A new article or a change of one. ``version`` is the version the editor started from:
    the service refuses the change if someone saved the article in between."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=ArticleKind.choices, widget=StaticSelect)
    title = forms.CharField(
        label=_("Title"),
        max_length=TITLE_MAX_CHARS,
        help_text=_("Unique; other articles link to it as [[Title]]."),
    )
    language = forms.ChoiceField(
        label=_("Language of the article"), choices=Language.choices, widget=StaticSelect
    )
    body = forms.CharField(
        label=_("Text"),
        max_length=BODY_MAX_CHARS,
        required=False,
        help_text=_(
            "Markdown. Link other articles as [[Title]]; show an attached image as "
            "![description](attachment:file-name.png)."
        ),
        widget=forms.Textarea(
            attrs={
                "rows": 18,
                "id": "article-body",
                # The live preview (the view sets hx-post to the preview's address).
                "hx-trigger": "input changed delay:400ms, load",
                "hx-params": "body",
                "hx-target": "#preview",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        ),
    )
    visibility = forms.ChoiceField(
        label=_("Visible to"),
        choices=Visibility.choices,
        widget=forms.RadioSelect,
        initial=Visibility.INTERNAL,
    )
    organisations = forms.ModelMultipleChoiceField(
        label=_("Organisations"),
        queryset=Organisation.objects.none(),
        required=False,
        help_text=_("Whose customers read it, when it is visible to chosen organisations."),
    )
    lines = forms.ModelMultipleChoiceField(
        label=_("Only agents of these lines"),
        queryset=SupportLine.objects.none(),
        required=False,
        help_text=_("Internal articles only; leave empty for every agent."),
    )
    teams = forms.ModelMultipleChoiceField(
        label=_("Only agents of these teams"),
        queryset=Team.objects.none(),
        required=False,
        help_text=_("Internal articles only; leave empty for every agent."),
    )
    tags = forms.CharField(
        label=_("Tags"),
        max_length=1000,
        required=False,
        help_text=_("Separated by commas."),
    )
    service = forms.CharField(
        label=_("IT service or configuration item"),
        max_length=SERVICE_MAX_CHARS,
        required=False,
        help_text=_("What this documentation describes (operational documentation)."),
    )
    owner = forms.ModelChoiceField(
        label=_("Owner"),
        queryset=User.objects.none(),
        help_text=_("Answers for the article being right and reviews it."),
    )
    review_due_on = forms.DateField(
        label=_("Review due"),
        required=False,
        input_formats=[ISO_DATE],
        widget=forms.DateInput(attrs={"type": "date"}, format=ISO_DATE),
        help_text=_("Left empty, publication sets it from the kind's review period."),
    )
    note = forms.CharField(label=_("Change note"), max_length=NOTE_MAX_CHARS, required=False)
    attachments = MultipleFileField(label=_("Files and images"), required=False)

    def __init__(
        self,
        *args: Any,
        organisations: QuerySet[Organisation],
        owners: QuerySet[User],
        article: Article | None = None,
        preview_url: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.article = article
        if preview_url:
            self.fields["body"].widget.attrs["hx-post"] = preview_url
        # An article keeps the organisations, lines and teams it has even if the editor would
        # not be offered them (another agent chose an organisation this one does not serve):
        # saving other fields must not silently drop them.
        keep_orgs = Q(pk__in=[o.pk for o in article.organisations.all()]) if article else Q(pk__in=[])
        keep_lines = Q(pk__in=[x.pk for x in article.audience_lines.all()]) if article else Q(pk__in=[])
        keep_teams = Q(pk__in=[x.pk for x in article.audience_teams.all()]) if article else Q(pk__in=[])
        self.fields["organisations"].queryset = (  # type: ignore[attr-defined]
            Organisation.objects.filter(Q(pk__in=organisations.values("pk")) | keep_orgs).order_by("name")
        )
        self.fields["lines"].queryset = SupportLine.objects.filter(  # type: ignore[attr-defined]
            Q(is_active=True) | keep_lines
        ).order_by("level")
        self.fields["teams"].queryset = Team.objects.filter(  # type: ignore[attr-defined]
            Q(is_active=True) | keep_teams
        ).order_by("name")
        if article is not None:
            owners = User.objects.filter(Q(pk__in=owners.values("pk")) | Q(pk=article.owner_id))
        self.fields["owner"].queryset = owners.order_by(  # type: ignore[attr-defined]
            "first_name", "last_name", "username"
        )

    @staticmethod
    def initial_for(article: Article) -> dict[str, Any]:
        """The form's values for an existing article (its M2M rows prefetched by the caller)."""
        return {
            "version": article.version,
            "kind": article.kind,
            "title": article.title,
            "language": article.language,
            "body": article.body,
            "visibility": article.visibility,
            "organisations": [o.pk for o in article.organisations.all()],
            "lines": [x.pk for x in article.audience_lines.all()],
            "teams": [x.pk for x in article.audience_teams.all()],
            "tags": ", ".join(t.name for t in article.tags.all()),
            "service": article.service,
            "owner": article.owner_id,
            "review_due_on": article.review_due_on,
        }

    def clean_title(self) -> str:
        return " ".join(str(self.cleaned_data.get("title") or "").split())

    def clean_tags(self) -> list[str]:
        tags = parse_tags(str(self.cleaned_data.get("tags") or ""))
        if len(tags) > MAX_TAGS:
            raise forms.ValidationError(
                ngettext("At most %(limit)d tag is allowed.", "At most %(limit)d tags are allowed.", MAX_TAGS)
                % {"limit": MAX_TAGS}
            )
        too_long = [t for t in tags if len(t) > TAG_MAX_CHARS]
        if too_long:
            raise forms.ValidationError(
                _("A tag has at most %(limit)d characters: “%(tag)s” is longer.")
                % {"limit": TAG_MAX_CHARS, "tag": too_long[0][:TAG_MAX_CHARS] + "…"}
            )
        return tags

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        visibility = data.get("visibility")
        if visibility == Visibility.ORGANISATIONS and not data.get("organisations"):
            self.add_error("organisations", _("Choose the organisations whose customers may read it."))
        if visibility != Visibility.ORGANISATIONS:
            data["organisations"] = []
        if visibility != Visibility.INTERNAL and (data.get("lines") or data.get("teams")):
            self.add_error("lines", _("Only an internal article can be limited to some lines or teams."))
        if self.article is not None and not data.get("version"):
            self.add_error(None, _("The form was not sent completely; reload the page and try again."))
        return data

    def values(self) -> dict[str, Any]:
        """The cleaned values under the names ``kb.services`` takes."""
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "title": data["title"],
            "body": data["body"],
            "language": data["language"],
            "visibility": data["visibility"],
            "organisations": list(data["organisations"]),
            "lines": list(data["lines"]),
            "teams": list(data["teams"]),
            "tags": data["tags"],
            "service": data["service"].strip(),
            "owner": data["owner"],
            "review_due_on": data["review_due_on"],
        }


class PreviewForm(forms.Form):
    """The text of the editor, sent for a rendered preview."""

    body = forms.CharField(max_length=BODY_MAX_CHARS, required=False)


class StatusForm(forms.Form):
    """A moderation step: the status to move to and an optional note."""

    to = forms.ChoiceField(choices=ArticleStatus.choices)
    note = forms.CharField(label=_("Note"), max_length=NOTE_MAX_CHARS, required=False)


class FeedbackForm(forms.Form):
    """A reader's verdict on the article."""

    helpful = forms.TypedChoiceField(
        choices=[("yes", _("Helpful")), ("no", _("Not helpful"))], coerce=lambda v: v == "yes"
    )
    comment = forms.CharField(
        label=_("Comment (optional)"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class CompareForm(forms.Form):
    """Two versions of an article to compare (``a`` older, ``b`` newer; either way works)."""

    a = forms.IntegerField(label=_("Version"), min_value=1, max_value=2**31)
    b = forms.IntegerField(label=_("with version"), min_value=1, max_value=2**31)


class ArticleIdsField(forms.CharField):
    """Ids of articles as comma-separated text (a hidden input the page's script fills)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", MAX_REPLY_ARTICLES * 12)
        kwargs.setdefault("widget", forms.HiddenInput(attrs={"id": "kb-articles"}))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> list[int]:
        text = super().clean(value)
        ids: list[int] = []
        for part in str(text or "").split(","):
            part = part.strip()
            if not part:
                continue
            if not (part.isascii() and part.isdigit() and len(part) <= 12):
                raise forms.ValidationError(_("The list of articles was not sent correctly."))
            if int(part) not in ids:
                ids.append(int(part))
        if len(ids) > MAX_REPLY_ARTICLES:
            raise forms.ValidationError(
                _("A reply can name at most %(limit)d articles.") % {"limit": MAX_REPLY_ARTICLES}
            )
        return ids


class TicketArticleForm(forms.Form):
    """An article to link to a ticket, unlink, or mark as the one that solved it."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31)
    article = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    solved = forms.BooleanField(required=False)


class KnowledgeReplyForm(ReplyForm):
    """The ticket page's reply, plus the knowledge-base articles inserted into it: they are
    linked to the ticket when the reply is sent (``workspace.ticket_views``)."""

    kb_articles = ArticleIdsField()
