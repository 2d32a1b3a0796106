"""API schemas (pydantic) of the knowledge base: what /api/v1/kb accepts and returns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from ninja import Schema
from pydantic import BaseModel, Field

from tierdesk.accounts.choices import Language
from tierdesk.common.api import Id, InputSchema
from tierdesk.kb.choices import STATUS_TRANSITIONS, ArticleKind, ArticleStatus, Visibility
from tierdesk.tickets.choices import Status as TicketStatus

# Lists in a request body are bounded, so one request cannot name a million rows (the services
# apply the domain's own, smaller limits, such as 20 tags, with a clearer message).
MAX_REFERENCES = 100

TagName = Annotated[str, Field(min_length=1, max_length=60)]
LineCode = Annotated[str, Field(min_length=1, max_length=20)]
# An organisation by id (7) or short name ("alpha"), as a JSON number or string.
OrganisationRef = Id | Annotated[str, Field(min_length=1, max_length=50)]
Version = Annotated[int, Field(ge=1, le=2**31)]


class RefRow(BaseModel):
    id: int
    name: str


def ref(obj: Any) -> dict[str, Any] | None:
    return None if obj is None else {"id": obj.pk, "name": str(obj)}


# --- Articles -------------------------------------------------------------------------------


class ArticleRow(BaseModel):
    """An article in a list. Lists are built as plain dicts (``article_row``) and validated by
    pydantic directly, like the ticket queue: cheaper than ninja's attribute resolution."""

    id: int
    number: str = Field(description="KB-00042: how people quote an article.")
    kind: ArticleKind
    title: str
    language: Language
    status: ArticleStatus
    visibility: Visibility
    tags: list[str]
    service: str
    owner: RefRow
    review_due_on: dt.date | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None
    view_count: int
    helpful_count: int
    not_helpful_count: int
    solved_count: int


def article_row(article: Any) -> dict[str, Any]:
    """The list fields of ``article``, whose owner and tags are already loaded."""
    return {
        "id": article.pk,
        "number": article.number,
        "kind": article.kind,
        "title": article.title,
        "language": article.language,
        "status": article.status,
        "visibility": article.visibility,
        "tags": [tag.name for tag in article.tags.all()],
        "service": article.service,
        "owner": ref(article.owner),
        "review_due_on": article.review_due_on,
        "version": article.version,
        "created_at": article.created_at,
        "updated_at": article.updated_at,
        "published_at": article.published_at,
        "view_count": article.view_count,
        "helpful_count": article.helpful_count,
        "not_helpful_count": article.not_helpful_count,
        "solved_count": article.solved_count,
    }


class ArticlePageOut(BaseModel):
    items: list[ArticleRow]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null on the last."
    )


class OrganisationRow(BaseModel):
    id: int
    name: str
    short_name: str


class ArticleRefOut(BaseModel):
    id: int
    number: str
    title: str


def article_ref(article: Any) -> dict[str, Any]:
    return {"id": article.pk, "number": article.number, "title": article.title}


class ArticleFileOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: dt.datetime
    url: str

    @staticmethod
    def resolve_url(obj: Any) -> str:
        return f"/api/v1/kb/articles/{obj.article_id}/files/{obj.pk}"


def _reader(context: dict[str, Any]) -> Any:
    return context["request"].auth


class ArticleDetailOut(Schema):
    """One article as its reader may see it. Staff get everything; a customer gets the text
    and what helps him, not who else it is published to or which ticket it came from."""

    id: int
    number: str
    kind: ArticleKind
    title: str
    language: Language
    status: ArticleStatus
    visibility: Visibility
    tags: list[str]
    service: str
    owner: RefRow
    created_by: RefRow | None
    reviewer: RefRow | None
    review_due_on: dt.date | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None
    body: str = Field(description="Markdown, as written.")
    body_html: str = Field(
        description="The rendered, sanitised HTML. `[[Title]]` links and `attachment:` images are "
        "relative to the article's page (`../wiki/<title>/`, `files/<id>/`)."
    )
    organisations: list[OrganisationRow] = Field(
        description="Who may read it when `visibility` is `organisations` (a customer sees only his own)."
    )
    lines: list[str] = Field(description="Codes of the lines an internal article is limited to.")
    teams: list[RefRow] = Field(description="Teams an internal article is limited to.")
    source_ticket: str | None = Field(description="The ticket it was written from (staff only).")
    view_count: int
    helpful_count: int
    not_helpful_count: int
    ticket_count: int
    solved_count: int
    deflection_count: int
    backlinks: list[ArticleRefOut] = Field(description="Articles you may read that link to this one.")
    missing_links: list[str] = Field(description="`[[Title]]` links to articles that do not exist yet.")
    attachments: list[ArticleFileOut]
    allowed_statuses: list[ArticleStatus] = Field(description="Where the status may move next (staff).")

    @staticmethod
    def resolve_tags(obj: Any) -> list[str]:
        return [tag.name for tag in obj.tags.all()]

    @staticmethod
    def resolve_owner(obj: Any) -> dict[str, Any] | None:
        return ref(obj.owner)

    @staticmethod
    def resolve_created_by(obj: Any) -> dict[str, Any] | None:
        return ref(obj.created_by)

    @staticmethod
    def resolve_reviewer(obj: Any) -> dict[str, Any] | None:
        return ref(obj.reviewer)

    @staticmethod
    def resolve_organisations(obj: Any, context: dict[str, Any]) -> list[dict[str, Any]]:
        user = _reader(context)
        # A customer must not learn which other organisations the provider serves.
        return [
            {"id": org.pk, "name": org.name, "short_name": org.short_name}
            for org in obj.organisations.all()
            if user.is_staff_member or org.pk == user.organisation_id
        ]

    @staticmethod
    def resolve_lines(obj: Any) -> list[str]:
        return [line.code for line in obj.audience_lines.all()]

    @staticmethod
    def resolve_teams(obj: Any) -> list[dict[str, Any] | None]:
        return [ref(team) for team in obj.audience_teams.all()]

    @staticmethod
    def resolve_source_ticket(obj: Any, context: dict[str, Any]) -> str | None:
        if obj.source_ticket_id is None or not _reader(context).is_staff_member:
            return None
        from tierdesk.tickets.models import Ticket

        return Ticket(pk=obj.source_ticket_id).number

    @staticmethod
    def resolve_backlinks(obj: Any, context: dict[str, Any]) -> list[dict[str, Any]]:
        from tierdesk.kb.selectors import backlinks

        # Only what a reference shows: a backlink's text is not read for a list of titles.
        rows = backlinks(obj, _reader(context)).only("id", "title")
        return [article_ref(article) for article in rows]

    @staticmethod
    def resolve_missing_links(obj: Any) -> list[str]:
        from tierdesk.kb.selectors import missing_links

        return [link.target_title for link in missing_links(obj)]

    @staticmethod
    def resolve_attachments(obj: Any) -> list[Any]:
        return list(obj.attachments.all())

    @staticmethod
    def resolve_allowed_statuses(obj: Any, context: dict[str, Any]) -> list[str]:
        return sorted(STATUS_TRANSITIONS[obj.status]) if _reader(context).is_staff_member else []


class ArticleIn(InputSchema):
    kind: ArticleKind
    title: str = Field(..., max_length=200)
    body: str = Field("", description="Markdown; `[[Title]]` links another article.")
    language: Language = Language.EN
    visibility: Visibility = Visibility.INTERNAL
    organisations: list[OrganisationRef] = Field(
        [],
        max_length=MAX_REFERENCES,
        description="Ids or short names of the organisations whose customers may read it "
        "(visibility `organisations`).",
    )
    lines: list[LineCode] = Field(
        [], max_length=MAX_REFERENCES, description="Line codes (L1, L2...) an internal article is limited to."
    )
    teams: list[Id] = Field(
        [], max_length=MAX_REFERENCES, description="Team ids an internal article is limited to."
    )
    tags: list[TagName] = Field([], max_length=MAX_REFERENCES, description="Tag names; new ones are created.")
    service: str = Field("", max_length=200, description="The IT service or configuration item described.")
    owner_id: Id | None = Field(None, description="Who answers for the article; defaults to you.")
    review_due_on: dt.date | None = Field(
        None, description="Defaults to a period set per kind at publication."
    )
    source_ticket: str | None = Field(
        None, max_length=30, description="Number or id of the ticket the article was written from."
    )
    note: str = Field("", max_length=300, description="A note on this first version.")


class ArticlePatch(InputSchema):
    kind: ArticleKind | None = None
    title: str | None = Field(None, max_length=200)
    body: str | None = None
    language: Language | None = None
    visibility: Visibility | None = None
    organisations: list[OrganisationRef] | None = Field(None, max_length=MAX_REFERENCES)
    lines: list[LineCode] | None = Field(None, max_length=MAX_REFERENCES)
    teams: list[Id] | None = Field(None, max_length=MAX_REFERENCES)
    tags: list[TagName] | None = Field(None, max_length=MAX_REFERENCES)
    service: str | None = Field(None, max_length=200)
    owner_id: Id | None = None
    review_due_on: dt.date | None = Field(None, description="null clears the date.")
    note: str = Field("", max_length=300, description="What changed, kept with the version.")
    expected_version: Version | None = Field(
        None, description='The version you edited (or send `If-Match: "<version>"`); a newer one is a 409.'
    )


class StatusIn(InputSchema):
    to: ArticleStatus
    note: str = Field("", max_length=300)


# --- Versions -------------------------------------------------------------------------------


class VersionRow(Schema):
    number: int
    title: str
    tags: list[str]
    author: RefRow | None
    note: str
    created_at: dt.datetime

    @staticmethod
    def resolve_author(obj: Any) -> dict[str, Any] | None:
        return ref(obj.author)


class VersionOut(VersionRow):
    body: str


class DiffLineOut(BaseModel):
    """One line of a comparison."""

    op: str = Field(
        description="`equal`, `delete` (only in the older version) or `insert` (only in the newer)."
    )
    old_number: int | None = Field(description="Line number in the older text; null for an inserted line.")
    new_number: int | None = Field(description="Line number in the newer text; null for a deleted line.")
    text: str


class CompareOut(BaseModel):
    """Two versions side by side: the lower number is the older, whichever order you asked in."""

    from_version: int
    to_version: int
    old_title: str
    new_title: str
    title_changed: bool
    tags_removed: list[str]
    tags_added: list[str]
    changed: bool = Field(description="Anything differs: title, tags or text.")
    lines: list[DiffLineOut]


def compare_out(diff: Any) -> dict[str, Any]:
    """A ``kb.selectors.VersionDiff`` as the API shows it."""
    return {
        "from_version": diff.old.number,
        "to_version": diff.new.number,
        "old_title": diff.old.title,
        "new_title": diff.new.title,
        "title_changed": diff.title_changed,
        "tags_removed": diff.tags_removed,
        "tags_added": diff.tags_added,
        "changed": diff.changed,
        "lines": [
            {"op": line.op, "old_number": line.old_number, "new_number": line.new_number, "text": line.text}
            for line in diff.lines
        ],
    }


# --- Feedback -------------------------------------------------------------------------------


class FeedbackIn(InputSchema):
    helpful: bool
    comment: str = Field("", max_length=2000)


class FeedbackOut(Schema):
    helpful: bool
    comment: str
    version: int = Field(description="The version of the article you judged.")
    created_at: dt.datetime
    helpful_count: int
    not_helpful_count: int

    @staticmethod
    def resolve_helpful_count(obj: Any) -> int:
        return int(obj.article.helpful_count)

    @staticmethod
    def resolve_not_helpful_count(obj: Any) -> int:
        return int(obj.article.not_helpful_count)


# --- Search ---------------------------------------------------------------------------------


class SearchHitOut(BaseModel):
    id: int
    number: str
    title: str
    kind: ArticleKind
    status: ArticleStatus
    visibility: Visibility
    language: Language
    rank: float
    title_html: str = Field(description="The title, escaped, with matches in `<mark>`.")
    snippet_html: str = Field(description="Passages of the text, escaped, with matches in `<mark>`.")


def search_hit(hit: Any) -> dict[str, Any]:
    """A ``kb.search.Hit`` as the API shows it."""
    article = hit.article
    return {
        "id": article.pk,
        "number": article.number,
        "title": article.title,
        "kind": article.kind,
        "status": article.status,
        "visibility": article.visibility,
        "language": article.language,
        "rank": hit.rank,
        "title_html": str(hit.title_html),
        "snippet_html": str(hit.snippet_html),
    }


class SearchPageOut(BaseModel):
    items: list[SearchHitOut]
    has_more: bool
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last.")


class SuggestionOut(BaseModel):
    id: int
    number: str
    title: str
    kind: ArticleKind
    title_html: str = Field(description="The title, escaped, with the words typed in `<mark>`.")


# --- Tickets --------------------------------------------------------------------------------


class TicketLinkIn(InputSchema):
    solved: bool = Field(False, description="The article solved the ticket.")


class TicketLinkOut(BaseModel):
    ticket_id: int
    number: str
    subject: str
    status: TicketStatus
    solved: bool
    linked_by_id: int | None
    linked_at: dt.datetime


def ticket_link(link: Any) -> dict[str, Any]:
    """A ``TicketArticle`` with its ticket already loaded."""
    return {
        "ticket_id": link.ticket.pk,
        "number": link.ticket.number,
        "subject": link.ticket.subject,
        "status": link.ticket.status,
        "solved": link.solved,
        "linked_by_id": link.linked_by_id,
        "linked_at": link.created_at,
    }
