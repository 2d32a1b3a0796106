"""HTTP API of the knowledge base (/api/v1/kb): parse, call one service or selector, serialise.

Customers read, search and give feedback; every other write is for agents and administrators.
An article the caller may not read is a 404, whatever he asks of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q
from django.db.models.functions import Lower
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import File, Query, Router
from ninja import Status as Reply
from ninja.files import UploadedFile

from tierdesk.accounts.choices import Language
from tierdesk.accounts.models import User
from tierdesk.common.api import Id, caller, expected_version, unknown_reference
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.kb import search, selectors, services
from tierdesk.kb.choices import ArticleKind, ArticleStatus, Visibility
from tierdesk.kb.models import Article
from tierdesk.kb.schemas import (
    ArticleDetailOut,
    ArticleFileOut,
    ArticleIn,
    ArticlePageOut,
    ArticlePatch,
    CompareOut,
    FeedbackIn,
    FeedbackOut,
    SearchPageOut,
    StatusIn,
    SuggestionOut,
    TicketLinkIn,
    TicketLinkOut,
    Version,
    VersionOut,
    VersionRow,
    article_row,
    compare_out,
    search_hit,
    ticket_link,
)
from tierdesk.orgs.models import Organisation
from tierdesk.tickets.models import SupportLine, Team, Ticket
from tierdesk.tickets.selectors import get_ticket

router = Router(tags=["knowledge base"])

# Raster images are shown in the page; anything else (SVG can carry script, HTML is a page)
# is downloaded.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


# --- Look-ups (unknown and invisible look the same) ------------------------------------------


def _article(request: HttpRequest, article_id: int) -> Article:
    return selectors.article_for(caller(request), article_id)


def _staff(user: User) -> None:
    if not user.is_staff_member:
        raise NotPermitted(_("Only agents and administrators can do this."))


def _editable(request: HttpRequest, article_id: int) -> Article:
    """An article the caller may read and change: a customer who may read it hears 403."""
    user = caller(request)
    article = selectors.article_for(user, article_id)
    _staff(user)
    return article


def _result(user: User, article: Article) -> Article:
    """The article a write left, read again with the rows its page shows. Like the tickets API,
    a write answers with its result even when the caller can no longer read the article (an
    agent who limited it to lines he is not on)."""
    try:
        return selectors.article_for(user, article.pk)
    except Http404:
        return article


def _organisations(user: User, refs: Sequence[int | str]) -> list[Organisation]:
    """Organisations by id or short name (any case), among those ``user`` may see."""
    names = {r: r.strip().lower() for r in refs if isinstance(r, str)}
    for raw, name in names.items():
        if "\x00" in name:  # names no organisation (and PostgreSQL refuses it in a query)
            raise unknown_reference("organisations", raw)
    visible = Organisation.objects.restrict(user).annotate(key=Lower("short_name"))
    found = list(
        visible.filter(Q(pk__in=[r for r in refs if isinstance(r, int)]) | Q(key__in=set(names.values())))
    )
    by_id = {org.pk: org for org in found}
    by_name = {org.key: org for org in found}
    chosen: dict[int, Organisation] = {}
    for ref in refs:
        org = by_id.get(ref) if isinstance(ref, int) else by_name.get(names[ref])
        if org is None:
            raise unknown_reference("organisations", ref)
        chosen[org.pk] = org
    return list(chosen.values())


def _lines(codes: Sequence[str]) -> list[SupportLine]:
    """Lines by code (any case), as the tickets API names them."""
    lines = {line.code.upper(): line for line in SupportLine.objects.all()}
    chosen: dict[int, SupportLine] = {}
    for code in codes:
        line = lines.get(code.strip().upper())
        if line is None:
            raise DomainError(
                _("No support line with code %(code)s.") % {"code": code},
                field="lines",
                code="unknown_reference",
            )
        chosen[line.pk] = line
    return list(chosen.values())


def _teams(ids: Sequence[int]) -> list[Team]:
    teams = {team.pk: team for team in Team.objects.filter(pk__in=set(ids), is_active=True)}
    for pk in ids:
        if pk not in teams:
            raise unknown_reference("teams", pk)
    return list(teams.values())


def _owner(user: User, pk: int) -> User:
    owner = User.objects.restrict(user).filter(pk=pk).first()
    # Knowledge is owned by an active agent or administrator; anyone else is no owner to use.
    if owner is None or not owner.is_active or not owner.is_staff_member:
        raise unknown_reference("owner_id", pk)
    return owner


def _ticket(user: User, ref: str, field: str) -> Ticket:
    try:
        return get_ticket(user, ref, related=False)
    except Http404:
        raise unknown_reference(field, ref) from None


def _references(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """The body's references as the objects the services take; unknown ones are a 400."""
    values = dict(data)
    if values.get("organisations") is not None:
        values["organisations"] = _organisations(user, values["organisations"])
    if values.get("lines") is not None:
        values["lines"] = _lines(values["lines"])
    if values.get("teams") is not None:
        values["teams"] = _teams(values["teams"])
    if "owner_id" in values:
        owner_id = values.pop("owner_id")
        if owner_id is not None:
            values["owner"] = _owner(user, owner_id)
    if values.get("source_ticket") is not None:
        values["source_ticket"] = _ticket(user, values["source_ticket"], "source_ticket")
    return values


# --- Articles -------------------------------------------------------------------------------


@router.get("/articles", response=ArticlePageOut, summary="List articles")
def list_articles(
    request: HttpRequest,
    kind: ArticleKind | None = None,
    status: ArticleStatus | None = None,
    visibility: Visibility | None = None,
    tag: str | None = Query(None, max_length=60),
    language: Language | None = None,
    owner: Id | None = None,
    ordering: str = Query("-updated", pattern="^(-updated|title|-views)$"),
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=200),
) -> Any:
    """Articles you may read; keyset-paginated (follow `next_cursor`). `ordering`: `-updated`
    (default, most recently changed first), `title`, or `-views` (most read first).
    Customers see the published articles meant for all customers or for their organisation."""
    page = selectors.article_page(
        caller(request),
        kind=kind,
        status=status,
        visibility=visibility,
        tag=tag,
        language=language,
        owner=owner,
        order=ordering,
        cursor=cursor,
        limit=limit,
    )
    return {"items": [article_row(article) for article in page.items], "next_cursor": page.next_cursor}


@router.post("/articles", response={201: ArticleDetailOut}, summary="Write an article (staff)")
def create_article(request: HttpRequest, payload: ArticleIn) -> Any:
    """A new article starts as a draft, version 1. References name what you may see:
    organisations by id or short name, lines by code, teams by id, the source ticket by number."""
    user = caller(request)
    _staff(user)
    values = _references(user, payload.model_dump())
    article = services.create_article(actor=user, **values)
    return Reply(201, _result(user, article))


@router.get("/articles/{article_id}", response=ArticleDetailOut, summary="Read an article")
def read_article(request: HttpRequest, article_id: Id, response: HttpResponse) -> Any:
    """The article with its text (Markdown and HTML), files, backlinks and links to missing
    pages. Reading through the API does not count a view (the pages do). The `ETag` is the
    version, for `If-Match` on PATCH."""
    article = _article(request, article_id)
    response["ETag"] = f'"{article.version}"'
    return article


@router.patch("/articles/{article_id}", response=ArticleDetailOut, summary="Edit an article (staff)")
def update_article(request: HttpRequest, article_id: Id, payload: ArticlePatch) -> Any:
    """Change the fields you send; the text, title or tags make a new version. Send the version
    you edited (`expected_version` or `If-Match`): if someone saved since, the answer is 409.
    Editing a published setup article or standard sends it back to review."""
    user = caller(request)
    article = _editable(request, article_id)
    data = payload.model_dump(exclude_unset=True)
    expected = expected_version(request, data.pop("expected_version", None))
    note = data.pop("note", "")
    for name, value in data.items():
        if value is None and name not in ("review_due_on",):
            raise DomainError(_("%(field)s cannot be null.") % {"field": name}, field=name)
    changes = _references(user, data)
    article = services.update_article(article, actor=user, expected_version=expected, note=note, **changes)
    return _result(user, article)


@router.post("/articles/{article_id}/status", response=ArticleDetailOut, summary="Move in review (staff)")
def change_status(request: HttpRequest, article_id: Id, payload: StatusIn) -> Any:
    """draft → review → published → archived (and back to draft); a move not in the table is a
    409 (`transition_not_allowed`). Publishing a setup article or a standard needs a reviewer
    other than its author and the writer of its current version (403 `reviewer_is_author`)."""
    user = caller(request)
    article = _editable(request, article_id)
    article = services.change_article_status(article, actor=user, to=payload.to, note=payload.note)
    return _result(user, article)


@router.post("/articles/{article_id}/reviewed", response=ArticleDetailOut, summary="Mark reviewed (staff)")
def mark_reviewed(request: HttpRequest, article_id: Id) -> Any:
    """The owner (or an administrator) checked the published article: the review date moves
    on by the kind's period."""
    user = caller(request)
    return _result(user, services.mark_article_reviewed(_editable(request, article_id), actor=user))


# --- Versions -------------------------------------------------------------------------------


@router.get("/articles/{article_id}/versions", response=list[VersionRow], summary="Versions (staff)")
def list_versions(request: HttpRequest, article_id: Id) -> Any:
    """Every saved version, newest first, without the text."""
    return selectors.article_versions(_editable(request, article_id))


@router.get(
    "/articles/{article_id}/versions/compare", response=CompareOut, summary="Compare two versions (staff)"
)
def compare_versions(
    request: HttpRequest,
    article_id: Id,
    from_: Version = Query(..., alias="from"),  # noqa: B008 - ninja's declaration style
    to: Version = Query(...),  # noqa: B008
) -> Any:
    """Line by line, the older text against the newer (`from` may be the newer one too)."""
    return compare_out(selectors.compare_versions(_editable(request, article_id), from_, to))


@router.get("/articles/{article_id}/versions/{number}", response=VersionOut, summary="One version (staff)")
def read_version(request: HttpRequest, article_id: Id, number: Version) -> Any:
    version = selectors.article_versions(_editable(request, article_id)).filter(number=number).first()
    if version is None:
        raise Http404
    return version


@router.post(
    "/articles/{article_id}/versions/{number}/restore",
    response=ArticleDetailOut,
    summary="Restore a version (staff)",
)
def restore_version(request: HttpRequest, article_id: Id, number: Version) -> Any:
    """The old text becomes a new version; history is never rewritten."""
    user = caller(request)
    article = services.restore_article_version(_editable(request, article_id), actor=user, number=number)
    return _result(user, article)


# --- Feedback -------------------------------------------------------------------------------


@router.post("/articles/{article_id}/feedback", response=FeedbackOut, summary="Was it helpful?")
def give_feedback(request: HttpRequest, article_id: Id, payload: FeedbackIn) -> Any:
    """One verdict per reader: voting again replaces yours, and the counters follow."""
    return services.give_article_feedback(
        _article(request, article_id), actor=caller(request), helpful=payload.helpful, comment=payload.comment
    )


# --- Search ---------------------------------------------------------------------------------


@router.get("/search", response=SearchPageOut, summary="Search articles")
def search_articles(
    request: HttpRequest,
    q: str = Query(..., min_length=1, max_length=200),
    kind: list[ArticleKind] = Query(None),  # noqa: B008
    visibility: Visibility | None = None,
    language: Language | None = None,
    status: list[ArticleStatus] = Query(None),  # noqa: B008
    tag: str | None = Query(None, max_length=60),
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=1000),
) -> Any:
    """Titles, tags, services and texts of the articles you may read, best first. Every word
    must occur in some form (Russian and English stemming: «принтер» finds «принтеры»);
    `"quoted words"` are a phrase, `-word` must not occur, `a or b` either. `title_html` and
    `snippet_html` are escaped text with the matches in `<mark>`. Page with `offset`."""
    page = search.search_articles(
        caller(request),
        q,
        kinds=[str(k) for k in kind or ()],
        visibility=visibility,
        language=language,
        statuses=[str(s) for s in status or ()],
        tag=tag,
        limit=limit,
        offset=offset,
    )
    return {
        "items": [search_hit(hit) for hit in page.hits],
        "has_more": page.has_more,
        "next_offset": page.next_offset,
    }


@router.get("/suggest", response=list[SuggestionOut], summary="Suggest articles for a subject")
def suggest_articles(
    request: HttpRequest, q: str = Query(..., max_length=250), limit: int = Query(5, ge=1, le=20)
) -> Any:
    """Published articles you may read whose title, tags or service hold words of a request's
    subject as it is typed (the last word counts as a prefix until a space follows it)."""
    return [search_hit(hit) for hit in search.suggest_articles(caller(request), q, limit=limit)]


# --- Tickets --------------------------------------------------------------------------------


@router.get("/articles/{article_id}/tickets", response=list[TicketLinkOut], summary="Linked tickets (staff)")
def list_ticket_links(request: HttpRequest, article_id: Id) -> Any:
    """Tickets you may see that the article is linked to, newest link first."""
    user = caller(request)
    return [ticket_link(link) for link in selectors.tickets_for_article(_editable(request, article_id), user)]


@router.post(
    "/articles/{article_id}/tickets/{ref}",
    response=TicketLinkOut,
    summary="Link to a ticket (staff)",
)
def link_ticket(request: HttpRequest, article_id: Id, ref: str, payload: TicketLinkIn) -> Any:
    """Link the article to a ticket you may see (by number or id), or change whether it solved
    it; linking again changes nothing else. The ticket's conversation shows the link to staff."""
    user = caller(request)
    article = _editable(request, article_id)
    ticket = get_ticket(user, ref, related=False)
    link = services.link_article_to_ticket(ticket, article, actor=user, solved=payload.solved)
    return ticket_link(link)


@router.delete(
    "/articles/{article_id}/tickets/{ref}", response={204: None}, summary="Unlink from a ticket (staff)"
)
def unlink_ticket(request: HttpRequest, article_id: Id, ref: str) -> Any:
    user = caller(request)
    article = _editable(request, article_id)
    services.unlink_article_from_ticket(get_ticket(user, ref, related=False), article, actor=user)
    return Reply(204, None)


# --- Files ----------------------------------------------------------------------------------


@router.post(
    "/articles/{article_id}/files", response={201: ArticleFileOut}, summary="Upload a file or image (staff)"
)
def upload_file(request: HttpRequest, article_id: Id, file: File[UploadedFile]) -> Any:
    """Multipart `file`, at most `TIERDESK_MAX_ATTACHMENT_BYTES` (25 MB by default; 413 above).
    Show an image in the text with `![alt](attachment:<file name>)`."""
    attachment = services.add_article_attachment(
        _editable(request, article_id), actor=caller(request), upload=file
    )
    return Reply(201, attachment)


@router.get(
    "/articles/{article_id}/files/{file_id}", summary="Download a file of an article", response={200: None}
)
def download_file(request: HttpRequest, article_id: Id, file_id: Id) -> Any:
    """Only if you may read the article. Images are shown inline, everything else downloaded."""
    attachment = selectors.article_attachment(caller(request), article_id, file_id)
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=attachment.content_type not in INLINE_TYPES,
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    # Never let a browser render an uploaded file as a page of ours.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response
