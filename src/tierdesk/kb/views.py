"""The knowledge base in the agent workspace (``/desk/kb/``): search and browse, the article
page with its moderation, feedback, files, wiki links and tickets, the editor with a live
preview, versions, the review queue, the usage report, and the "Knowledge" panel of the
ticket page.

Agents and administrators only (``staff_required``: customers get a 404, strangers the sign-in
page). Every read of an article goes through ``Article.objects.restrict`` (``kb.selectors``,
``kb.search``): an internal article limited to lines or teams the agent is not on is a 404
here and absent from search. Views parse, call services and selectors, and render; a refusal
of a service is shown with its message.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tierdesk.accounts.models import User
from tierdesk.common.errors import Conflict, DomainError
from tierdesk.common.pagination import Page
from tierdesk.kb import search as kb_search
from tierdesk.kb import selectors, services
from tierdesk.kb.choices import STATUS_TRANSITIONS, ArticleStatus, Visibility
from tierdesk.kb.forms import (
    ArticleForm,
    CompareForm,
    FeedbackForm,
    PreviewForm,
    SearchForm,
    StatusForm,
    TicketArticleForm,
)
from tierdesk.kb.markdown import extract_wiki_links, render_markdown
from tierdesk.kb.models import Article
from tierdesk.orgs.selectors import visible_organisations
from tierdesk.tickets import selectors as tickets
from tierdesk.tickets.models import Ticket
from tierdesk.tickets.services import safe_filename
from tierdesk.workspace import selectors as workspace_selectors
from tierdesk.workspace.access import staff, staff_required
from tierdesk.workspace.services import apply_if_current

PAGE_SIZE = 30
# Suggestions on the ticket page.
SUGGESTIONS = 5
# Tickets an article page lists (newest links first).
ARTICLE_TICKETS = 20
# Images a browser may show inline (an <img> of the article's text). Anything else, SVG
# included (it may carry script), is only ever downloaded.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# The report's periods (days; "" is all time).
REPORT_PERIODS = {"30": 30, "90": 90, "365": 365}


# --- Search and browse ----------------------------------------------------------------------


@staff_required
@require_GET
def article_list(request: HttpRequest) -> HttpResponse:
    """One search box over everything the agent may read, ranked with highlighted titles and
    snippets; without a query, the articles by last change (keyset pages). Filters by kind,
    status, visibility, language and tag; the count of the agent's reviews due."""
    user = staff(request)
    form = SearchForm(request.GET or None)
    data: dict[str, Any] = form.cleaned_data if form.is_bound and form.is_valid() else {}
    query = data.get("q") or ""
    filters: dict[str, str | None] = {
        "kind": data.get("kind") or None,
        "status": data.get("status") or None,
        "visibility": data.get("visibility") or None,
        "language": data.get("language") or None,
        "tag": data.get("tag") or None,
    }
    context: dict[str, Any] = {
        "form": form,
        "query": query,
        "filtered": any(filters.values()),
        "reviews_due": selectors.review_queue(user).count(),
        "next_query": "",
    }
    error = ""
    if query:
        number = data.get("page") or 1
        try:
            results = kb_search.search_articles(
                user,
                query,
                kinds=(filters["kind"],) if filters["kind"] else (),
                visibility=filters["visibility"],
                language=filters["language"],
                statuses=(filters["status"],) if filters["status"] else (),
                tag=filters["tag"],
                limit=PAGE_SIZE,
                offset=(number - 1) * PAGE_SIZE,
            )
        except DomainError as exc:  # a query the search refuses (its message says why)
            error = exc.message
            results = kb_search.SearchPage(hits=[], has_more=False)
        context["hits"] = results.hits
        if results.has_more:
            context["next_query"] = _query_with(request, page=str(number + 1))
    else:
        try:
            page = _article_page_of(user, data.get("cursor") or None, filters)
        except DomainError as exc:  # a forged or outdated cursor
            error = exc.message
            page = _article_page_of(user, None, filters)
        context["articles"] = page.items
        if page.next_cursor:
            context["next_query"] = _query_with(request, cursor=page.next_cursor)
    context["error"] = error
    return render(request, "kb/list.html", context, status=400 if form.is_bound and form.errors else 200)


def _article_page_of(user: User, cursor: str | None, filters: dict[str, str | None]) -> Page:
    return selectors.article_page(
        user,
        cursor=cursor,
        limit=PAGE_SIZE,
        kind=filters["kind"],
        status=filters["status"],
        visibility=filters["visibility"],
        language=filters["language"],
        tag=filters["tag"],
    )


def _query_with(request: HttpRequest, **values: str) -> str:
    params = request.GET.copy()
    for name, value in values.items():
        params[name] = value
    return params.urlencode()


# --- One article ----------------------------------------------------------------------------


def _moves(article: Article) -> list[dict[str, str]]:
    """The moderation buttons the article's status allows (the service checks the rest, such as
    who may publish a setup article, and its refusal is shown)."""
    labels = {
        ArticleStatus.REVIEW: _("Submit for review"),
        ArticleStatus.PUBLISHED: _("Publish"),
        ArticleStatus.DRAFT: _("Back to draft"),
        ArticleStatus.ARCHIVED: _("Archive"),
    }
    allowed = STATUS_TRANSITIONS.get(article.status, frozenset())
    return [{"to": str(status), "label": str(label)} for status, label in labels.items() if status in allowed]


def _article_page(
    request: HttpRequest, article: Article, *, feedback_form: FeedbackForm | None = None, status: int = 200
) -> HttpResponse:
    user = staff(request)
    today = timezone.localdate()
    context = {
        "article": article,
        "files": list(article.attachments.all()),
        "tags": list(article.tags.all()),
        "organisations": list(article.organisations.all()),
        "lines": list(article.audience_lines.all()),
        "teams": list(article.audience_teams.all()),
        "backlinks": list(selectors.backlinks(article, user)),
        "missing": list(selectors.missing_links(article)),
        "tickets": selectors.tickets_for_article(article, user, limit=ARTICLE_TICKETS),
        "moves": _moves(article),
        "may_confirm_review": article.status == ArticleStatus.PUBLISHED
        and (user.is_admin or article.owner_id == user.pk),
        "review_overdue": article.review_due_on is not None and article.review_due_on < today,
        "feedback_form": feedback_form or FeedbackForm(),
        "my_feedback": selectors.feedback_of(article, user),
        "visibility": Visibility,
    }
    return render(request, "kb/article.html", context, status=status)


@staff_required
@require_GET
def article(request: HttpRequest, pk: int) -> HttpResponse:
    """The article with everything about it; opening it counts a view."""
    user = staff(request)
    item = selectors.article_for(user, pk)
    services.record_article_view(item, actor=user)
    return _article_page(request, item)


@staff_required
@require_GET
def wiki_link(request: HttpRequest, title: str) -> HttpResponse:
    """A ``[[Title]]`` link of an article's text: the article of that title, or the form of a
    new article with that title when there is none yet."""
    try:
        target = selectors.article_by_title(staff(request), title)
    except Http404:
        return redirect(f"{reverse('kb:new')}?{urlencode({'title': title[:200]})}")
    return redirect("kb:article", pk=target.pk)


def _refused(request: HttpRequest, article: Article, exc: DomainError) -> HttpResponse:
    messages.error(request, exc.message)
    return redirect("kb:article", pk=article.pk)


@staff_required
@require_POST
def change_status(request: HttpRequest, pk: int) -> HttpResponse:
    """A moderation step: submit for review, publish, back to draft, archive."""
    user = staff(request)
    item = selectors.article_for(user, pk, action="change")
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a status the article can move to."))
        return redirect("kb:article", pk=item.pk)
    try:
        services.change_article_status(
            item, actor=user, to=form.cleaned_data["to"], note=form.cleaned_data["note"]
        )
    except DomainError as exc:
        return _refused(request, item, exc)
    messages.success(
        request, _("The article is now “%(status)s”.") % {"status": ArticleStatus(item.status).label}
    )
    return redirect("kb:article", pk=item.pk)


@staff_required
@require_POST
def mark_reviewed(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner says the article is "still correct": its next review moves on."""
    user = staff(request)
    item = selectors.article_for(user, pk, action="change")
    try:
        services.mark_article_reviewed(item, actor=user)
    except DomainError as exc:
        return _refused(request, item, exc)
    messages.success(
        request,
        _("Thank you; the next review is due on %(date)s.") % {"date": item.review_due_on},
    )
    return redirect("kb:article", pk=item.pk)


@staff_required
@require_POST
def feedback(request: HttpRequest, pk: int) -> HttpResponse:
    """Helpful or not, with an optional comment; voting again replaces the verdict."""
    user = staff(request)
    item = selectors.article_for(user, pk)
    form = FeedbackForm(request.POST)
    if form.is_valid():
        try:
            services.give_article_feedback(
                item, actor=user, helpful=form.cleaned_data["helpful"], comment=form.cleaned_data["comment"]
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Thank you for your feedback."))
            return redirect("kb:article", pk=item.pk)
    return _article_page(request, item, feedback_form=form, status=400)


@staff_required
@require_GET
def article_file(request: HttpRequest, pk: int, file_id: int) -> FileResponse:
    """A file or image of an article the agent may read (404 otherwise, like the article).

    Served with a clean name and headers that keep a browser from rendering an uploaded page
    or script as one of ours; raster images are shown inline (the article's text shows them)."""
    item = selectors.article_attachment(staff(request), pk, file_id)
    response = FileResponse(
        item.file.open("rb"),
        as_attachment=item.content_type not in INLINE_IMAGE_TYPES,
        filename=safe_filename(item.filename),
        content_type=item.content_type,
    )
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Writing ----------------------------------------------------------------------------------


def _article_form(
    request: HttpRequest, article: Article | None = None, *, data: Any = None, **kwargs: Any
) -> ArticleForm:
    user = staff(request)
    posted = request.method == "POST"
    preview_url = reverse("kb:preview")
    if article is not None:
        preview_url += "?" + urlencode({"article": article.pk})
    return ArticleForm(
        data if data is not None else (request.POST if posted else None),
        request.FILES if posted else None,
        organisations=visible_organisations(user).filter(is_provider=False),
        owners=workspace_selectors.assignable_agents(),
        article=article,
        preview_url=preview_url,
        **kwargs,
    )


def _save_files(article: Article, user: User, form: ArticleForm) -> None:
    for upload in form.cleaned_data.get("attachments") or []:
        services.add_article_attachment(article, actor=user, upload=upload)


def _source_ticket(request: HttpRequest) -> Ticket | None:
    """The ticket an article is written from (``?ticket=<number>``), if the agent may see it."""
    ref = request.GET.get("ticket", "")
    if not ref:
        return None
    return tickets.get_ticket(staff(request), ref, related=False)


@staff_required
@require_http_methods(["GET", "POST"])
def new_article(request: HttpRequest) -> HttpResponse:
    """A new article (a draft). ``?ticket=<number>`` pre-fills a known problem from the ticket
    and links the article to it; ``?title=`` pre-fills the title (a missing wiki link)."""
    user = staff(request)
    ticket = _source_ticket(request)
    initial: dict[str, Any] = {"owner": user.pk, "language": user.language or settings.LANGUAGE_CODE}
    if ticket is not None:
        prefill = selectors.prefill_from_ticket(ticket)
        initial |= {key: value for key, value in prefill.items() if key in ArticleForm.base_fields}
    elif request.GET.get("title"):
        initial["title"] = request.GET["title"][:200]
    form = _article_form(request, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                created = services.create_article(
                    actor=user, source_ticket=ticket, note=form.cleaned_data["note"], **form.values()
                )
                _save_files(created, user, form)
                if ticket is not None:
                    services.link_article_to_ticket(ticket, created, actor=user)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request, _("Article %(number)s was created as a draft.") % {"number": created.number}
            )
            return redirect("kb:article", pk=created.pk)
    return render(
        request,
        "kb/form.html",
        {"form": form, "article": None, "ticket": ticket},
        status=400 if form.is_bound and form.errors else 200,
    )


@staff_required
@require_http_methods(["GET", "POST"])
def edit_article(request: HttpRequest, pk: int) -> HttpResponse:
    """Change an article. The form carries the version it was opened at: if someone saved the
    article since, nothing is changed and the editor is told, keeping what he typed (saving
    again then replaces the other change, knowingly)."""
    user = staff(request)
    item = selectors.article_for(user, pk, action="change")
    form = _article_form(request, item, initial=ArticleForm.initial_for(item))
    conflict = ""
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                with transaction.atomic():
                    services.update_article(
                        item,
                        actor=user,
                        expected_version=form.cleaned_data["version"],
                        note=form.cleaned_data["note"],
                        **form.values(),
                    )
                    _save_files(item, user, form)
            except Conflict as exc:
                if exc.code == "stale_version":
                    conflict, status = exc.message, 409
                    item = selectors.article_for(user, pk, action="change")
                    data = request.POST.copy()
                    data["version"] = str(item.version)
                    form = _article_form(request, item, data=data)
                    form.is_valid()
                else:
                    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                item = selectors.article_for(user, pk, action="change")  # as stored, not as tried
            else:
                messages.success(
                    request, _("The article was saved (version %(version)d).") % {"version": item.version}
                )
                return redirect("kb:article", pk=item.pk)
    return render(
        request,
        "kb/form.html",
        {"form": form, "article": item, "ticket": None, "conflict": conflict},
        status=status,
    )


def _links_from_page(html: str, *, article_id: int | None) -> str:
    """The rendered text's relative links (``../wiki/``, ``files/``) are relative to the article
    page; the preview is shown on the editor's page, so they are made absolute here."""
    wiki = reverse("kb:list") + "wiki/"
    html = html.replace('href="../wiki/', f'href="{wiki}')
    if article_id is not None:
        files = reverse("kb:article", args=[article_id]) + "files/"
        html = html.replace('href="files/', f'href="{files}').replace('src="files/', f'src="{files}')
    return html


@staff_required
@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    """The editor's text rendered as readers will see it (HTMX, while typing)."""
    user = staff(request)
    form = PreviewForm(request.POST)
    if not form.is_valid():
        return render(request, "kb/_preview.html", {"error": form.errors["body"][0]}, status=400)
    body = form.cleaned_data["body"]
    article_id = None
    attachments: dict[str, int] = {}
    raw = request.GET.get("article", "")
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        item = selectors.article_for(user, int(raw), action="change")
        article_id = item.pk
        attachments = {f.filename: f.pk for f in item.attachments.all()}
    keys = [key for key, _title in extract_wiki_links(body)]
    # Titles the agent may not read count as missing: the preview does not reveal them.
    existing = (
        set(Article.objects.restrict(user).filter(link_key__in=keys).values_list("link_key", flat=True))
        if keys
        else set()
    )
    html = render_markdown(body, links=existing, attachments=attachments)
    return render(request, "kb/_preview.html", {"html": _links_from_page(html, article_id=article_id)})


# --- Versions -------------------------------------------------------------------------------


@staff_required
@require_GET
def versions(request: HttpRequest, pk: int) -> HttpResponse:
    """Every version of the article, and two of them compared line by line."""
    user = staff(request)
    item = selectors.article_for(user, pk)
    history = list(selectors.article_versions(item))
    form = CompareForm(request.GET or None)
    comparison = None
    if form.is_bound and form.is_valid():
        comparison = selectors.compare_versions(item, form.cleaned_data["a"], form.cleaned_data["b"])
    elif not form.is_bound and len(history) >= 2:
        form = CompareForm(initial={"a": history[1].number, "b": history[0].number})
    return render(
        request,
        "kb/versions.html",
        {"article": item, "versions": history, "form": form, "comparison": comparison},
        status=400 if form.is_bound and form.errors else 200,
    )


@staff_required
@require_POST
def restore_version(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Bring back an old version's title, text and tags as a new version."""
    user = staff(request)
    item = selectors.article_for(user, pk, action="change")
    try:
        services.restore_article_version(item, actor=user, number=number)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("kb:versions", pk=item.pk)
    messages.success(
        request,
        _("Version %(number)d was restored as version %(version)d.")
        % {"number": number, "version": item.version},
    )
    return redirect("kb:article", pk=item.pk)


# --- Reviews and the report -----------------------------------------------------------------


@staff_required
@require_GET
def reviews(request: HttpRequest) -> HttpResponse:
    """My articles whose review is due or overdue; for administrators, every overdue review
    grouped by owner."""
    user = staff(request)
    today = timezone.localdate()
    context: dict[str, Any] = {"mine": list(selectors.review_queue(user)), "today": today, "overdue": None}
    if user.is_admin:
        overdue = list(selectors.overdue_reviews())
        overdue.sort(key=lambda a: (str(a.owner.get_full_name() or a.owner.username).casefold(), a.owner_id))
        context["overdue"] = overdue
    return render(request, "kb/reviews.html", context)


@staff_required
@require_GET
def report(request: HttpRequest) -> HttpResponse:
    """Most used, least helpful and stale articles, and avoided requests (administrators)."""
    user = staff(request)
    if not user.is_admin:
        raise Http404
    period = request.GET.get("period", "")
    since = None
    if period in REPORT_PERIODS:
        since = timezone.now() - dt.timedelta(days=REPORT_PERIODS[period])
    else:
        period = ""
    return render(
        request,
        "kb/report.html",
        {"report": selectors.article_report(since=since), "period": period, "periods": REPORT_PERIODS},
    )


# --- The ticket page's "Knowledge" panel ------------------------------------------------------


def portal_url(article: Article) -> str:
    """The absolute address of the article in the customer portal (for a reply's text)."""
    return f"{settings.TIERDESK_BASE_URL}{reverse('kb_portal:article', args=[article.pk])}"


@staff_required
@require_GET
def ticket_panel(request: HttpRequest, ref: str) -> HttpResponse:
    """The Knowledge panel of a ticket (HTMX, loaded after the ticket page): the articles
    linked to it, articles matching its subject (or what the agent typed), published only,
    with "insert link" (when the requester may read the article in the portal), "insert
    text" and "link", and "create an article from this ticket"."""
    user = staff(request)
    ticket = tickets.get_ticket(user, ref, related=False)
    linked = selectors.articles_for_ticket(ticket, user)
    linked_ids = {link.article_id for link in linked}
    typed = " ".join(request.GET.get("q", "")[:200].split())
    hits = [
        hit
        for hit in kb_search.suggest_articles(
            user, typed or ticket.subject, limit=SUGGESTIONS + len(linked_ids)
        )
        if hit.article.status == ArticleStatus.PUBLISHED and hit.article.pk not in linked_ids
    ][:SUGGESTIONS]
    shown = [link.article_id for link in linked] + [hit.article.pk for hit in hits]
    readable = selectors.readable_by(ticket.requester, shown)
    version = request.GET.get("v", "")
    return render(
        request,
        "kb/_ticket_panel.html",
        {
            "ticket": ticket,
            "linked": linked,
            "hits": hits,
            "typed": typed,
            "readable": readable,
            "insert": request.GET.get("insert") == "1",
            "version": version if version.isascii() and version.isdigit() else ticket.version,
        },
    )


@staff_required
@require_GET
def ticket_insert(request: HttpRequest, ref: str, pk: int) -> JsonResponse:
    """What "insert link" / "insert text" puts into the reply, as JSON ``{"text", "article"}``;
    the page inserts it at the cursor (only the browser knows where that is) and links the
    article to the ticket when the reply is sent.

    A link is the article's portal address, offered only if the ticket's requester may read
    it there; otherwise only its text can be inserted."""
    user = staff(request)
    ticket = tickets.get_ticket(user, ref, related=False)
    item = selectors.article_for(user, pk)
    if request.GET.get("what") == "link":
        if item.pk not in selectors.readable_by(ticket.requester, [item.pk]):
            return JsonResponse(
                {"detail": _("The requester cannot open this article in the portal; insert its text.")},
                status=400,
            )
        text = f"{item.title}: {portal_url(item)}"
    else:
        text = item.body
    return JsonResponse({"text": text, "article": item.pk, "number": item.number})


def _ticket_change(request: HttpRequest, ref: str, change: Any) -> HttpResponse:
    """Apply a link change to the ticket if it is still at the version the page showed, then
    show the ticket again (the version moved, so the page's forms must be fresh)."""
    user = staff(request)
    ticket = tickets.get_ticket(user, ref, related=False)
    form = TicketArticleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The form was not sent completely; reload the page and try again."))
        return redirect("workspace:ticket", ref=ticket.number)
    item = selectors.article_for(user, form.cleaned_data["article"])
    try:
        done = apply_if_current(
            ticket,
            expected_version=form.cleaned_data["expected_version"],
            change=lambda: change(ticket, item, user, form.cleaned_data),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("workspace:ticket", ref=ticket.number)


def _link(ticket: Ticket, item: Article, user: User, data: dict[str, Any]) -> str:
    services.link_article_to_ticket(ticket, item, actor=user, solved=data["solved"])
    if data["solved"]:
        return _("%(number)s is marked as the article that solved the ticket.") % {"number": item.number}
    return _("%(number)s is linked to the ticket.") % {"number": item.number}


def _unlink(ticket: Ticket, item: Article, user: User, data: dict[str, Any]) -> str:
    services.unlink_article_from_ticket(ticket, item, actor=user)
    return _("%(number)s is no longer linked to the ticket.") % {"number": item.number}


@staff_required
@require_POST
def ticket_link(request: HttpRequest, ref: str) -> HttpResponse:
    """Link an article to the ticket, or mark (``solved``) the one that solved it."""
    return _ticket_change(request, ref, _link)


@staff_required
@require_POST
def ticket_unlink(request: HttpRequest, ref: str) -> HttpResponse:
    """Remove an article's link to the ticket."""
    return _ticket_change(request, ref, _unlink)
