"""The knowledge base in the customer portal: search and browse, the article page with its
files and a helpful / not helpful vote, and the suggestions shown while a customer types a new
request, whose "This solved my problem" spares the request (a deflection).

Customers only, like every signed-in page of the portal (``customer_required``). Every read
goes through ``Article.objects.restrict`` (in ``kb.selectors`` and ``kb.search``), so an article
a customer may not read (a draft, an internal one, another organisation's) is a 404 here and
absent from search and suggestions. Views parse, call one service or selector, and render.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from tierdesk.accounts.models import User
from tierdesk.common.errors import DomainError
from tierdesk.common.limits import SUBJECT_MAX_CHARS
from tierdesk.kb import search as kb_search
from tierdesk.kb import selectors, services
from tierdesk.kb.choices import ArticleKind
from tierdesk.portal.views import customer_required

# Results per page of a search; the page without a query lists this many articles.
PAGE_SIZE = 20
POPULAR_COUNT = 10
# Suggestions shown under the subject of a new request.
SUGGESTIONS = 5
# Images a browser may show inline in the article (an <img> of its text). Anything else,
# SVG included (it may carry script), is only ever downloaded.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


class SearchForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Search the knowledge base"),
        required=False,
        max_length=kb_search.QUERY_MAX_CHARS,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        required=False,
        choices=[("", gettext_lazy("Any kind")), *ArticleKind.choices],
    )
    offset = forms.IntegerField(
        required=False, min_value=0, max_value=kb_search.SEARCH_MAX_OFFSET, widget=forms.HiddenInput
    )


class FeedbackForm(forms.Form):
    helpful = forms.TypedChoiceField(
        label=gettext_lazy("Was this helpful?"),
        choices=[("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))],
        coerce=lambda value: value == "yes",
    )
    comment = forms.CharField(
        label=gettext_lazy("Comment (optional)"),
        required=False,
        max_length=services.FEEDBACK_COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


# --- Search and browse ----------------------------------------------------------------------


@customer_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """One search box over what this customer may read, with a kind filter; without a query,
    the articles customers open most."""
    user = _user(request)
    form = SearchForm(request.GET or None)
    query, kind, offset = "", "", 0
    if form.is_bound and form.is_valid():
        query = " ".join(form.cleaned_data["q"].split())
        kind = form.cleaned_data["kind"]
        offset = form.cleaned_data["offset"] or 0
    kinds = (kind,) if kind else ()
    context: dict[str, Any] = {"form": form, "query": query, "nav": "kb"}
    if query:
        try:
            page = kb_search.search_articles(user, query, kinds=kinds, limit=PAGE_SIZE, offset=offset)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            page = kb_search.SearchPage(hits=[], has_more=False)
        context["hits"] = page.hits
        if page.has_more:
            next_query = request.GET.copy()
            next_query["offset"] = str(offset + PAGE_SIZE)
            context["next_query"] = next_query.urlencode()
    else:
        # The most read first (view counts are what customers found worth opening).
        context["popular"] = selectors.article_page(
            user, order="-views", limit=POPULAR_COUNT, kind=kind or None
        ).items
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "kb/portal/search.html", context, status=status)


@require_GET
def suggest(request: HttpRequest) -> HttpResponseBase:
    """The articles matching what the customer types as the subject of a new request (HTMX
    partial under the subject field). The subject field itself sends ``subject``; ``q`` is
    the documented name."""
    if getattr(request, "htmx", False) and not getattr(request.user, "is_customer", False):
        # The session ended while he typed: no suggestions, rather than the sign-in page inside
        # his request form (sending the form takes him to sign in as before).
        return HttpResponse("")
    return _suggest(request)


@customer_required
def _suggest(request: HttpRequest) -> HttpResponse:
    # As typed: a last word without a space after it is still being typed (a prefix).
    typed = (request.GET.get("q") or request.GET.get("subject") or "")[: kb_search.SUGGEST_MAX_CHARS]
    hits = kb_search.suggest_articles(_user(request), typed, limit=SUGGESTIONS) if typed.strip() else []
    return render(request, "kb/portal/_suggestions.html", {"hits": hits})


# --- One article ----------------------------------------------------------------------------


def _article_page(
    request: HttpRequest, pk: int, *, feedback_form: FeedbackForm | None = None
) -> HttpResponse:
    user = _user(request)
    # A customer's page shows the files, never the audience (organisations, lines, teams).
    article = selectors.article_for(user, pk, prefetch=("attachments",))
    if feedback_form is None:
        services.record_article_view(article, actor=user)
    return render(
        request,
        "kb/portal/article.html",
        {
            "article": article,
            "files": list(article.attachments.all()),
            "feedback_form": feedback_form or FeedbackForm(),
            "my_feedback": selectors.feedback_of(article, user),
            "nav": "kb",
        },
        status=400 if feedback_form is not None else 200,
    )


@customer_required
@require_GET
def article(request: HttpRequest, pk: int) -> HttpResponse:
    """The article as customers read it; opening it counts a view."""
    return _article_page(request, pk)


@customer_required
@require_POST
def feedback(request: HttpRequest, pk: int) -> HttpResponse:
    """Was this helpful? One verdict per reader; voting again replaces it."""
    user = _user(request)
    item = selectors.article_for(user, pk)
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        return _article_page(request, pk, feedback_form=form)
    try:
        services.give_article_feedback(
            item, actor=user, helpful=form.cleaned_data["helpful"], comment=form.cleaned_data["comment"]
        )
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _article_page(request, pk, feedback_form=form)
    messages.success(request, _("Thank you for your feedback."))
    return redirect("kb_portal:article", pk=item.pk)


@customer_required
@require_POST
def solved(request: HttpRequest, pk: int) -> HttpResponse:
    """ "This solved my problem" on a suggestion while typing a new request: no request is
    created, the avoided request is counted, and the customer is left with the article.

    The button (HTMX) posts the subject typed so far. The answer sends the browser to the
    article with the confirmation; a refusal is shown beside the suggestions, leaving the
    request form as it was typed.
    """
    user = _user(request)
    item = selectors.article_for(user, pk)
    subject = " ".join(request.POST.get("subject", "").split())[:SUBJECT_MAX_CHARS]
    is_htmx = bool(getattr(request, "htmx", False))
    try:
        services.record_deflection(item, actor=user, subject=subject)
    except DomainError as exc:
        if is_htmx:
            return render(request, "kb/portal/_error.html", {"message": exc.message})
        messages.error(request, exc.message)
        return redirect("portal:new")
    messages.success(request, _("Glad it helped — no request was created."))
    target = reverse("kb_portal:article", args=[item.pk])
    if is_htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)


@customer_required
@require_GET
def article_file(request: HttpRequest, pk: int, file_id: int) -> FileResponse:
    """A file or image of an article this customer may read (else 404)."""
    item = selectors.article_attachment(_user(request), pk, file_id)
    inline = item.content_type in INLINE_IMAGE_TYPES
    response = FileResponse(
        item.file.open("rb"), as_attachment=not inline, filename=item.filename, content_type=item.content_type
    )
    # Never let a browser render an uploaded file as a page of ours.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@customer_required
@require_GET
def wiki_link(request: HttpRequest, title: str) -> HttpResponse:
    """A ``[[Title]]`` link of an article's text: the article of that title, if this customer
    may read it; otherwise 404, like any article he may not read."""
    target = selectors.article_by_title(_user(request), title)
    return redirect("kb_portal:article", pk=target.pk)
