"""Every change to the knowledge base goes through these functions (workspace, portal, API,
admin and the worker alike).

Each takes ``actor`` keyword-only, runs in one transaction, checks the rules, writes the change
and an audit event (``article.*``), and keeps the search index current
(``kb.search.index_article``) whenever what search sees changed. Failures raise ``DomainError``
subclasses whose message says what to fix, and change nothing. An article the actor may not
read is a 404 (``Http404``), never a refusal that would tell him it exists.

Content edits (``create_article``, ``update_article``, ``restore_article_version``) each add an
``ArticleVersion`` and raise ``Article.version`` by one, so ``version`` is both the number of
the current text and the token of optimistic locking. Status changes, reviews, files, votes
and counters do not make a version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import mimetypes
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tierdesk.accounts.choices import Language
from tierdesk.audit.choices import EventType
from tierdesk.audit.services import diff, record_event
from tierdesk.common.errors import Conflict, DomainError, NotPermitted
from tierdesk.common.limits import REASON_MAX_CHARS, SUBJECT_MAX_CHARS, clean_text
from tierdesk.kb.choices import (
    REVIEW_PERIOD_DAYS,
    REVIEW_REQUIRED,
    STATUS_TRANSITIONS,
    ArticleKind,
    ArticleStatus,
    Visibility,
)
from tierdesk.kb.markdown import extract_wiki_links, render_markdown
from tierdesk.kb.models import (
    Article,
    ArticleAttachment,
    ArticleLink,
    ArticleVersion,
    Deflection,
    Feedback,
    Tag,
    TicketArticle,
    article_file_path,
    link_key,
)

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.orgs.models import Organisation
    from tierdesk.tickets.models import SupportLine, Team, Ticket

logger = logging.getLogger(__name__)

# Documented limits (docs/knowledge-base.md). A long setup guide is a few tens of thousands
# of characters; the limit leaves room for that and keeps rendering and indexing cheap.
TITLE_MAX_CHARS = 200
ARTICLE_BODY_MAX_CHARS = 200_000
NOTE_MAX_CHARS = 300
SERVICE_MAX_CHARS = 200
TAG_MAX_CHARS = 60
MAX_TAGS = 20
MAX_ATTACHMENTS = 100
FEEDBACK_COMMENT_MAX_CHARS = REASON_MAX_CHARS
# An owner is reminded of his overdue articles at most once in this many days.
REMINDER_INTERVAL = dt.timedelta(days=7)

# What ``update_article`` accepts; status has its own service (moderation rules).
EDITABLE_FIELDS = frozenset(
    {
        "kind",
        "title",
        "body",
        "language",
        "visibility",
        "organisations",
        "lines",
        "teams",
        "tags",
        "service",
        "owner",
        "review_due_on",
    }
)
# Changes after which a published article of a kind in REVIEW_REQUIRED goes back to review:
# what readers follow. Visibility, owner, tags and the review date do not change the text.
_TEXT_FIELDS = frozenset({"kind", "title", "body"})
# What search sees; a change to any of them re-indexes the article.
_SEARCHED_FIELDS = frozenset(
    {"kind", "title", "body", "tags", "service", "language", "visibility", "organisations", "status"}
)


# --- Rules shared by the services ---------------------------------------------------------


def _require_staff(actor: User | None) -> User:
    if actor is None or not actor.is_active or not actor.is_staff_member:
        raise NotPermitted(_("Only agents and administrators can write knowledge base articles."))
    return actor


def _lock(article: Article, actor: User, *, action: str = "change") -> None:
    """Re-read the article under a row lock, if ``actor`` may ``action`` it (else 404), so
    concurrent services apply one after another."""
    try:
        article.refresh_from_db(from_queryset=Article.objects.restrict(actor, action).select_for_update())
    except Article.DoesNotExist:
        raise Http404 from None


def _ensure_visible(article: Article, user: User, action: str = "view") -> None:
    if not Article.objects.restrict(user, action).filter(pk=article.pk).exists():
        raise Http404


def _audit(
    article: Article,
    event: EventType,
    *,
    actor: User | None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    message: str = "",
    organisation: Organisation | int | None = None,
) -> None:
    record_event(
        article,
        event_type=event,
        actor=actor,
        organisation=organisation,
        old=old,
        new=new,
        message=message,
    )


def _index(article: Article) -> None:
    """Bring the search index in line with the article, in the same transaction."""
    from tierdesk.kb import search

    search.index_article(article)


def _clean_title(title: str | None) -> str:
    title = " ".join(clean_text(title, field="title", max_chars=TITLE_MAX_CHARS).split())
    if len(link_key(title)) > TITLE_MAX_CHARS:  # "ß" folds to "ss": the key can outgrow the title
        raise DomainError(
            _("The title is too long: at most %(limit)d characters are allowed.")
            % {"limit": TITLE_MAX_CHARS},
            field="title",
            code="too_long",
        )
    return title


def _ensure_title_free(key: str, *, article_id: int | None) -> None:
    others = Article.objects.filter(link_key=key)
    clash = (others if article_id is None else others.exclude(pk=article_id)).first()
    if clash is not None:
        raise DomainError(
            _("%(number)s already has this title; choose another one (case and spacing do not count).")
            % {"number": clash.number},
            field="title",
            code="title_taken",
        )


def _choice(value: Any, choices: Any, *, field: str) -> str:
    if value not in choices.values:
        raise DomainError(
            _("“%(value)s” is not a valid %(field)s.") % {"value": value, "field": field}, field=field
        )
    return str(value)


def _clean_tags(tags: Iterable[str] | None) -> list[str]:
    """Tag names as stored: trimmed, single-spaced, lower case, each once, in the given order."""
    names: list[str] = []
    for raw in tags or ():
        name = " ".join(str(raw).split()).lower()
        if not name or name in names:
            continue
        if len(name) > TAG_MAX_CHARS:
            raise DomainError(
                _("The tag “%(tag)s…” is too long: at most %(limit)d characters.")
                % {"tag": name[:20], "limit": TAG_MAX_CHARS},
                field="tags",
            )
        if "\x00" in name:
            raise DomainError(_("A tag contains a NUL character."), field="tags")
        names.append(name)
    if len(names) > MAX_TAGS:
        raise DomainError(
            _("An article may have at most %(limit)d tags.") % {"limit": MAX_TAGS}, field="tags"
        )
    return names


def _tag_rows(names: list[str]) -> list[Tag]:
    existing = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=name) for name in names if name not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    return [existing[name] for name in names]


def _clean_owner(owner: User | None) -> User:
    if owner is None or not owner.is_active or not owner.is_staff_member:
        raise DomainError(_("The owner must be an active agent or administrator."), field="owner")
    return owner


def _review_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise DomainError(
                _("The review date must be a date (YYYY-MM-DD)."), field="review_due_on"
            ) from None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise DomainError(_("The review date must be a date."), field="review_due_on")
    return value


def _clean_values(values: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise the editable fields present in ``values``."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "kind":
            out[name] = _choice(value, ArticleKind, field="kind")
        elif name == "title":
            out[name] = _clean_title(value)
        elif name == "body":
            out[name] = clean_text(value, field="body", max_chars=ARTICLE_BODY_MAX_CHARS, required=False)
        elif name == "language":
            out[name] = _choice(value, Language, field="language")
        elif name == "visibility":
            out[name] = _choice(value, Visibility, field="visibility")
        elif name in ("organisations", "lines", "teams"):
            out[name] = sorted({obj.pk: obj for obj in value or ()}.values(), key=lambda obj: obj.pk)
        elif name == "tags":
            out[name] = _clean_tags(value)
        elif name == "service":
            out[name] = clean_text(value, field="service", max_chars=SERVICE_MAX_CHARS, required=False)
        elif name == "owner":
            out[name] = _clean_owner(value)
        elif name == "review_due_on":
            out[name] = _review_date(value)
    return out


def _audience(
    visibility: str, organisations: list[Any], lines: list[Any], teams: list[Any]
) -> tuple[list[Any], list[Any], list[Any]]:
    """Organisations only count for "chosen organisations" (and are required then); lines and
    teams only narrow internal articles: a text customers may read is not hidden from agents."""
    if visibility == Visibility.ORGANISATIONS:
        if not organisations:
            raise DomainError(
                _("Choose at least one organisation, or make the article visible to all customers."),
                field="organisations",
            )
    else:
        organisations = []
    if visibility != Visibility.INTERNAL:
        lines, teams = [], []
    return organisations, lines, teams


def _state(
    article: Article, *, tags: Iterable[str], orgs: Iterable[Any], lines: Iterable[Any], teams: Iterable[Any]
) -> dict[str, Any]:
    """What an edit can change, comparable before and after: the columns, the text, and the
    related sets as sorted names and ids."""
    state = article.audit_snapshot()
    state.update(
        body=article.body,
        tags=sorted(tags),
        organisations=sorted(obj.pk for obj in orgs),
        lines=sorted(obj.pk for obj in lines),
        teams=sorted(obj.pk for obj in teams),
    )
    return state


def _stored_state(article: Article) -> dict[str, Any]:
    return _state(
        article,
        tags=article.tags.values_list("name", flat=True),
        orgs=article.organisations.all(),
        lines=article.audience_lines.all(),
        teams=article.audience_teams.all(),
    )


def _audited(state: dict[str, Any]) -> dict[str, Any]:
    """The audit trail keeps the length of the text, not the text (the versions keep that)."""
    out = {key: value for key, value in state.items() if key != "body"}
    out["body_length"] = len(state["body"])
    return out


def _attachment_map(article: Article) -> dict[str, int]:
    """File name → id; a name uploaded twice points at the newest file."""
    return dict(article.attachments.order_by("created_at", "id").values_list("filename", "pk"))


def _render(article: Article, wiki_keys: Iterable[str] | None = None) -> str:
    keys = [key for key, _title in extract_wiki_links(article.body)] if wiki_keys is None else list(wiki_keys)
    existing = (
        set(Article.objects.filter(link_key__in=keys).values_list("link_key", flat=True)) if keys else set()
    )
    return render_markdown(
        article.body, links=existing, attachments=_attachment_map(article) if article.pk else {}
    )


def _rerender(article_ids: Iterable[int]) -> None:
    """Render other articles again after a page they link to appeared or went away (the
    missing-link class follows); their text and version do not change."""
    for other in Article.objects.filter(pk__in=set(article_ids)).only("pk", "body"):
        Article.objects.filter(pk=other.pk).update(body_html=_render(other))


def _sync_links(article: Article, *, old_key: str | None) -> None:
    """Rewrite the article's outgoing ``[[links]]`` and, if its title is new, resolve the links
    others made to that title (and leave links to its old title missing)."""
    links = extract_wiki_links(article.body)
    targets = dict(Article.objects.filter(link_key__in=[k for k, _t in links]).values_list("link_key", "pk"))
    article.outgoing_links.all().delete()
    ArticleLink.objects.bulk_create(
        ArticleLink(source=article, target_key=key, target_title=title[:200], target_id=targets.get(key))
        for key, title in links
    )
    if old_key == article.link_key:
        return
    touched: set[int] = set()
    if old_key is not None:
        lost = ArticleLink.objects.filter(target=article).exclude(target_key=article.link_key)
        touched.update(lost.values_list("source_id", flat=True))
        lost.update(target=None)
    found = ArticleLink.objects.filter(target_key=article.link_key, target__isnull=True)
    touched.update(found.values_list("source_id", flat=True))
    found.update(target=article)
    touched.discard(article.pk)
    _rerender(touched)


def _add_version(article: Article, *, actor: User | None, tags: list[str], note: str) -> ArticleVersion:
    return ArticleVersion.objects.create(
        article=article,
        number=article.version,
        title=article.title,
        body=article.body,
        tags=tags,
        author=actor,
        note=note,
        created_at=article.updated_at,
    )


def _save_new_title(article: Article, fields: list[str] | None = None) -> None:
    """Save, turning a title taken at the same moment by someone else into the same clear error
    as the check before (the unique key decides)."""
    try:
        with transaction.atomic():
            if fields is None:
                article.save(force_insert=True)
            else:
                article.save(update_fields=fields)
    except IntegrityError:
        _ensure_title_free(article.link_key, article_id=article.pk)
        raise


def check_article_fields(values: Mapping[str, Any], *, article: Article | None = None) -> None:
    """Raise the ``DomainError`` that saving ``values`` (editable fields, as for
    ``update_article``) would raise, without saving anything: forms show it next to the field
    before the service runs."""
    clean = _clean_values(dict(values))
    if "visibility" in clean:
        _audience(clean["visibility"], clean.get("organisations", []), [], [])
    if "title" in clean:
        _ensure_title_free(link_key(clean["title"]), article_id=article.pk if article else None)


# --- Writing articles ---------------------------------------------------------------------


@transaction.atomic
def create_article(
    *,
    actor: User,
    kind: str,
    title: str,
    body: str = "",
    language: str = Language.EN,
    visibility: str = Visibility.INTERNAL,
    organisations: Iterable[Organisation] = (),
    lines: Iterable[SupportLine] = (),
    teams: Iterable[Team] = (),
    tags: Iterable[str] = (),
    service: str = "",
    owner: User | None = None,
    review_due_on: dt.date | None = None,
    source_ticket: Ticket | None = None,
    note: str = "",
) -> Article:
    """Write a new article as a draft (version 1).

    Agents and administrators write; the ``owner`` (the author unless another agent is named)
    answers for it staying right. The title must be free (case and spacing do not count: it
    is what ``[[wiki links]]`` find it by); wiki links to this title written earlier in other
    articles now resolve to it. ``source_ticket`` is the ticket it was written from, which the
    author must be able to see. Audited as ``article.created``.
    """
    actor = _require_staff(actor)
    note = clean_text(note, field="note", max_chars=NOTE_MAX_CHARS, required=False)
    values = _clean_values(
        {
            "kind": kind,
            "title": title,
            "body": body,
            "language": language,
            "visibility": visibility,
            "organisations": organisations,
            "lines": lines,
            "teams": teams,
            "tags": tags,
            "service": service,
            "owner": owner or actor,
            "review_due_on": review_due_on,
        }
    )
    if source_ticket is not None:
        from tierdesk.tickets.models import Ticket

        if not Ticket.objects.restrict(actor).filter(pk=source_ticket.pk).exists():
            raise Http404
    orgs, audience_lines, audience_teams = _audience(
        values["visibility"], values["organisations"], values["lines"], values["teams"]
    )
    key = link_key(values["title"])
    _ensure_title_free(key, article_id=None)
    now = timezone.now()
    article = Article(
        kind=values["kind"],
        title=values["title"],
        link_key=key,
        body=values["body"],
        language=values["language"],
        visibility=values["visibility"],
        service=values["service"],
        owner=values["owner"],
        created_by=actor,
        review_due_on=values["review_due_on"],
        source_ticket=source_ticket,
        is_limited=bool(audience_lines or audience_teams),
        created_at=now,
        updated_at=now,
    )
    article.body_html = _render(article)
    _save_new_title(article)
    article.tags.set(_tag_rows(values["tags"]))
    article.organisations.set(orgs)
    article.audience_lines.set(audience_lines)
    article.audience_teams.set(audience_teams)
    _add_version(article, actor=actor, tags=values["tags"], note=note)
    _sync_links(article, old_key=None)
    new = _audited(
        _state(article, tags=values["tags"], orgs=orgs, lines=audience_lines, teams=audience_teams)
    )
    new["source_ticket"] = source_ticket.pk if source_ticket else None
    _audit(article, EventType.ARTICLE_CREATED, actor=actor, new=new, message=note)
    _index(article)
    return article


@transaction.atomic
def update_article(
    article: Article, *, actor: User, expected_version: int | None = None, note: str = "", **changes: Any
) -> Article:
    """Edit an article: any of ``EDITABLE_FIELDS`` (``organisations``, ``lines``, ``teams`` are
    sets of rows, ``tags`` names).

    ``expected_version`` (the version the editor loaded) turns a concurrent edit into a
    ``Conflict`` instead of a silent overwrite. A change adds a version; an edit that changes
    nothing changes nothing. Editing the text of a published setup article or standard sends
    it back to review (customers never read an unreviewed text of one); other kinds stay
    published. Audited as ``article.updated`` with what changed.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise DomainError(
            _("These fields cannot be edited: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        )
    return _apply(
        article,
        actor=actor,
        changes=changes,
        expected_version=expected_version,
        note=note,
        event=EventType.ARTICLE_UPDATED,
    )


def _apply(
    article: Article,
    *,
    actor: User,
    changes: Mapping[str, Any],
    expected_version: int | None,
    note: str,
    event: EventType,
    extra: dict[str, Any] | None = None,
) -> Article:
    """The edit shared by ``update_article`` and ``restore_article_version``."""
    actor = _require_staff(actor)
    note = clean_text(note, field="note", max_chars=NOTE_MAX_CHARS, required=False)
    values = _clean_values(dict(changes))
    _lock(article, actor)
    if expected_version is not None and expected_version != article.version:
        raise Conflict(
            _(
                "The article was changed by someone else (version %(current)d, you edited %(yours)d). "
                "Reload it and apply your change again."
            )
            % {"current": article.version, "yours": expected_version},
            code="stale_version",
        )
    before = _stored_state(article)
    old_key = article.link_key
    orgs, audience_lines, audience_teams = _audience(
        values.get("visibility", article.visibility),
        values["organisations"] if "organisations" in values else list(article.organisations.all()),
        values["lines"] if "lines" in values else list(article.audience_lines.all()),
        values["teams"] if "teams" in values else list(article.audience_teams.all()),
    )
    for name in ("kind", "title", "body", "language", "visibility", "service", "owner", "review_due_on"):
        if name in values:
            setattr(article, name, values[name])
    article.link_key = link_key(article.title)
    tags: list[str] = (
        values["tags"] if "tags" in values else list(article.tags.values_list("name", flat=True))
    )
    after = _state(article, tags=tags, orgs=orgs, lines=audience_lines, teams=audience_teams)
    changed = {key for key, value in after.items() if value != before.get(key)}
    if "title" in changed and article.link_key != old_key:
        _ensure_title_free(article.link_key, article_id=article.pk)
    # A change of spacing or case only is still a new title (and a version), under the same key.
    if not changed:
        return article
    back_to_review = (
        article.status == ArticleStatus.PUBLISHED
        and article.kind in REVIEW_REQUIRED
        and bool(changed & _TEXT_FIELDS)
    )
    fields = [
        "kind", "title", "link_key", "body", "body_html", "language", "visibility", "service", "owner",
        "review_due_on", "is_limited", "version", "updated_at",
    ]  # fmt: skip
    if back_to_review:
        article.status = ArticleStatus.REVIEW
        article.reviewer = None
        fields += ["status", "reviewer"]
    article.is_limited = bool(audience_lines or audience_teams)
    article.version += 1
    article.updated_at = timezone.now()
    article.body_html = _render(article)
    _save_new_title(article, fields)
    if "tags" in changed:
        article.tags.set(_tag_rows(tags))
    if "organisations" in changed:
        article.organisations.set(orgs)
    if "lines" in changed:
        article.audience_lines.set(audience_lines)
    if "teams" in changed:
        article.audience_teams.set(audience_teams)
    _add_version(article, actor=actor, tags=tags, note=note)
    if changed & {"title", "body"}:
        _sync_links(article, old_key=old_key)
    after = _state(article, tags=tags, orgs=orgs, lines=audience_lines, teams=audience_teams)
    old, new = diff(_audited(before), _audited(after))
    if "body" in changed and "body_length" not in new:
        old["body_length"] = new["body_length"] = len(article.body)  # same length, other text
    new.update(extra or {})
    _audit(article, event, actor=actor, old=old, new=new, message=note)
    if changed & _SEARCHED_FIELDS or back_to_review:
        _index(article)
    return article


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


@transaction.atomic
def change_article_status(article: Article, *, actor: User, to: str, note: str = "") -> Article:
    """Move an article along the moderation table (``choices.STATUS_TRANSITIONS``): send a
    draft to review, publish, take back to draft, archive, or bring an archived one back as a
    draft.

    Publishing a setup article or standard (``REVIEW_REQUIRED``) needs someone other than its
    author and other than whoever wrote its current version. Publishing records the
    ``reviewer`` and ``published_at`` and, unless a later review date is already set, sets the
    next review to today + the kind's review period. Audited as ``article.status_changed``.
    """
    actor = _require_staff(actor)
    note = clean_text(note, field="note", max_chars=REASON_MAX_CHARS, required=False)
    to = _choice(to, ArticleStatus, field="status")
    _lock(article, actor)
    from_status = article.status
    if to not in STATUS_TRANSITIONS.get(from_status, frozenset()):
        raise Conflict(
            _("An article cannot go from “%(from)s” to “%(to)s”.")
            % {"from": ArticleStatus(from_status).label, "to": ArticleStatus(to).label},
            field="status",
            code="transition_not_allowed",
        )
    before = article.audit_snapshot()
    before["reviewer"] = article.reviewer_id
    fields = ["status", "updated_at"]
    if to == ArticleStatus.PUBLISHED:
        if article.kind in REVIEW_REQUIRED:
            last_author = (
                ArticleVersion.objects.filter(article=article, number=article.version)
                .values_list("author_id", flat=True)
                .first()
            )
            if actor.pk in (article.created_by_id, last_author):
                raise NotPermitted(
                    _(
                        "Articles of the kind “%(kind)s” are published by a second person: ask "
                        "another agent, who neither wrote it nor its latest version, to review and "
                        "publish it."
                    )
                    % {"kind": ArticleKind(article.kind).label},
                    code="reviewer_is_author",
                )
        today = timezone.localdate()
        article.reviewer = actor
        article.published_at = timezone.now()
        if article.review_due_on is None or article.review_due_on <= today:
            article.review_due_on = today + dt.timedelta(days=REVIEW_PERIOD_DAYS[article.kind])
        article.review_reminded_at = None
        fields += ["reviewer", "published_at", "review_due_on", "review_reminded_at"]
    article.status = to
    article.updated_at = timezone.now()
    article.save(update_fields=fields)
    after = article.audit_snapshot()
    after["reviewer"] = article.reviewer_id
    old, new = diff(before, after)
    _audit(article, EventType.ARTICLE_STATUS_CHANGED, actor=actor, old=old, new=new, message=note)
    _index(article)
    return article


@transaction.atomic
def mark_article_reviewed(article: Article, *, actor: User) -> Article:
    """The owner (or an administrator) confirms a published article is still right: the next
    review moves to today + the kind's review period, and reminders start over. Audited as
    ``article.reviewed``."""
    actor = _require_staff(actor)
    _lock(article, actor)
    if not actor.is_admin and actor.pk != article.owner_id:
        raise NotPermitted(_("Only the article's owner or an administrator can confirm its review."))
    if article.status != ArticleStatus.PUBLISHED:
        raise Conflict(_("Only a published article is reviewed; publish it first."), code="not_published")
    old = article.review_due_on
    article.review_due_on = timezone.localdate() + dt.timedelta(days=REVIEW_PERIOD_DAYS[article.kind])
    article.review_reminded_at = None
    article.save(update_fields=["review_due_on", "review_reminded_at"])
    _audit(
        article,
        EventType.ARTICLE_REVIEWED,
        actor=actor,
        old={"review_due_on": _iso(old)},
        new={"review_due_on": _iso(article.review_due_on)},
    )
    return article


@transaction.atomic
def restore_article_version(article: Article, *, actor: User, number: int) -> Article:
    """Bring back the title, text and tags of version ``number`` as a new version (history is
    never rewritten). The same rules as an edit: the title must still be free, and a published
    setup article or standard goes back to review. Audited as ``article.restored``."""
    actor = _require_staff(actor)
    _ensure_visible(article, actor, "change")
    version = ArticleVersion.objects.filter(article_id=article.pk, number=number).first()
    if version is None:
        raise DomainError(_("The article has no version %(number)s.") % {"number": number}, field="number")
    return _apply(
        article,
        actor=actor,
        changes={"title": version.title, "body": version.body, "tags": version.tags},
        expected_version=None,
        note=_("Restored version %(number)d") % {"number": version.number},
        event=EventType.ARTICLE_RESTORED,
        extra={"restored": version.number},
    )


@transaction.atomic
def add_article_attachment(article: Article, *, actor: User, upload: File[Any]) -> ArticleAttachment:
    """Store a file or image of an article (``upload`` has a ``name``; it is refused when empty
    or over ``TIERDESK_MAX_ATTACHMENT_BYTES``, like ticket files). The name is made safe the
    way ticket files are; the content is stored once per SHA-256. The article is rendered again,
    so ``attachment:<name>`` in its text now points at the file. Audited as
    ``article.attachment_added``."""
    from tierdesk.tickets.services import check_file_size, safe_filename

    actor = _require_staff(actor)
    check_file_size(upload)
    size = upload.size or 0
    _lock(article, actor)
    if article.attachments.count() >= MAX_ATTACHMENTS:
        raise DomainError(
            _("An article may have at most %(limit)d files.") % {"limit": MAX_ATTACHMENTS}, field="file"
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    name = safe_filename(upload.name or "")
    attachment = ArticleAttachment(
        article=article,
        filename=name,
        content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
        size=size,
        sha256=digest.hexdigest(),
        uploaded_by=actor,
    )
    storage_name = article_file_path(attachment, name)
    if default_storage.exists(storage_name):
        attachment.file.name = storage_name
    else:
        upload.seek(0)
        attachment.file.save(storage_name, upload, save=False)
    attachment.save()
    Article.objects.filter(pk=article.pk).update(body_html=_render(article))
    article.body_html = Article.objects.values_list("body_html", flat=True).get(pk=article.pk)
    _audit(
        article,
        EventType.ARTICLE_ATTACHMENT_ADDED,
        actor=actor,
        new={"attachment": attachment.pk, "filename": name, "size": size, "sha256": attachment.sha256},
    )
    return attachment


# --- Readers ------------------------------------------------------------------------------


def record_article_view(article: Article, *, actor: User | None) -> None:
    """Count one reading of the article (the caller has shown it to ``actor``). A counter for
    reports and ranking, not a change anyone reviews: not audited, no lock (an UPDATE of
    ``view_count + 1`` is atomic on its own)."""
    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)


@transaction.atomic
def give_article_feedback(article: Article, *, actor: User, helpful: bool, comment: str = "") -> Feedback:
    """A reader's verdict: helpful or not, with an optional comment. One per reader: voting
    again replaces the verdict, and the article's helpful / not helpful counts follow. Anyone
    who may read the article may vote. Audited as ``article.feedback``."""
    comment = clean_text(comment, field="comment", max_chars=FEEDBACK_COMMENT_MAX_CHARS, required=False)
    helpful = bool(helpful)
    _lock(article, actor, action="view")  # serialises votes, so the counters stay exact
    feedback = Feedback.objects.filter(article=article, user=actor).first()
    old: dict[str, Any] | None = None
    if feedback is None:
        feedback = Feedback.objects.create(
            article=article, user=actor, helpful=helpful, comment=comment, version=article.version
        )
        _count_vote(article, helpful, +1)
    else:
        old = {"helpful": feedback.helpful, "comment": feedback.comment}
        if feedback.helpful != helpful:
            _count_vote(article, feedback.helpful, -1)
            _count_vote(article, helpful, +1)
        feedback.helpful, feedback.comment, feedback.version = helpful, comment, article.version
        feedback.created_at = timezone.now()
        feedback.save(update_fields=["helpful", "comment", "version", "created_at"])
    _audit(
        article,
        EventType.ARTICLE_FEEDBACK,
        actor=actor,
        old=old,
        new={"helpful": helpful, "comment": comment},
        organisation=actor.organisation_id if actor.is_customer else None,
    )
    return feedback


def _count_vote(article: Article, helpful: bool, delta: int) -> None:
    field = "helpful_count" if helpful else "not_helpful_count"
    Article.objects.filter(pk=article.pk).update(**{field: F(field) + delta})
    setattr(article, field, getattr(article, field) + delta)


@transaction.atomic
def record_deflection(article: Article, *, actor: User, subject: str = "") -> Deflection:
    """A customer typing a new request found his answer in ``article`` and did not send the
    request. Only a customer, only for an article he may read (else 404, and nothing is
    counted). Audited as ``article.deflected`` under his organisation."""
    if actor is None or not actor.is_active or not actor.is_customer or actor.organisation_id is None:
        raise NotPermitted(_("Only customers record that an article solved their problem."))
    subject = clean_text(subject, field="subject", max_chars=SUBJECT_MAX_CHARS, required=False)
    _ensure_visible(article, actor)
    deflection = Deflection.objects.create(
        article=article, user=actor, organisation_id=actor.organisation_id, subject=subject
    )
    Article.objects.filter(pk=article.pk).update(deflection_count=F("deflection_count") + 1)
    article.deflection_count += 1
    _audit(
        article,
        EventType.ARTICLE_DEFLECTED,
        actor=actor,
        new={"subject": subject, "deflection": deflection.pk},
        organisation=actor.organisation_id,
    )
    return deflection


# --- Tickets ------------------------------------------------------------------------------


def _ticket_and_article(ticket: Ticket, article: Article, actor: User) -> None:
    from tierdesk.tickets.models import Ticket

    _require_staff(actor)
    if not Ticket.objects.restrict(actor).filter(pk=ticket.pk).exists():
        raise Http404
    _lock(article, actor, action="view")


@transaction.atomic
def link_article_to_ticket(
    ticket: Ticket, article: Article, *, actor: User, solved: bool = False
) -> TicketArticle:
    """Link an article to a ticket (used in a reply, or found relevant); ``solved`` marks it as
    the article that solved the ticket. Linking again only updates ``solved``. The article's
    ``ticket_count`` and ``solved_count`` follow. Shown to staff as a system entry in the
    ticket's conversation and audited on the ticket as ``article.linked``."""
    from tierdesk.tickets.services import add_system_event

    _ticket_and_article(ticket, article, actor)
    solved = bool(solved)
    link = TicketArticle.objects.filter(ticket=ticket, article=article).first()
    if link is not None and link.solved == solved:
        return link
    if link is None:
        link = TicketArticle.objects.create(ticket=ticket, article=article, solved=solved, linked_by=actor)
        Article.objects.filter(pk=article.pk).update(
            ticket_count=F("ticket_count") + 1, solved_count=F("solved_count") + int(solved)
        )
    else:
        link.solved = solved
        link.save(update_fields=["solved"])
        Article.objects.filter(pk=article.pk).update(solved_count=F("solved_count") + (1 if solved else -1))
    article.refresh_from_db(fields=["ticket_count", "solved_count"])
    add_system_event(
        ticket,
        event=EventType.ARTICLE_LINKED,
        actor=actor,
        body=f"{article.number} {article.title}",
        data={"article": article.pk, "title": article.title, "solved": solved},
    )
    return link


@transaction.atomic
def unlink_article_from_ticket(ticket: Ticket, article: Article, *, actor: User) -> None:
    """Remove the link between an article and a ticket (nothing happens if there is none); the
    article's counts follow. Shown as a system entry and audited on the ticket as
    ``article.unlinked``."""
    from tierdesk.tickets.services import add_system_event

    _ticket_and_article(ticket, article, actor)
    link = TicketArticle.objects.filter(ticket=ticket, article=article).first()
    if link is None:
        return
    link.delete()
    Article.objects.filter(pk=article.pk).update(
        ticket_count=F("ticket_count") - 1, solved_count=F("solved_count") - int(link.solved)
    )
    article.refresh_from_db(fields=["ticket_count", "solved_count"])
    add_system_event(
        ticket,
        event=EventType.ARTICLE_UNLINKED,
        actor=actor,
        body=f"{article.number} {article.title}",
        data={"article": article.pk, "title": article.title},
    )


# --- Reminders (the worker) ---------------------------------------------------------------


def _article_url(article: Article) -> str:
    """The article's page in the workspace, as a full address for a mail."""
    try:
        path = reverse("kb:article", args=[article.pk])
    except NoReverseMatch:  # the pages are not installed: their documented address
        path = f"/desk/kb/{article.pk}/"
    return f"{settings.TIERDESK_BASE_URL}{path}"


def send_review_reminders(*, now: dt.datetime | None = None) -> int:
    """Mail each owner of published articles whose review is overdue one list of them, at most
    once every ``REMINDER_INTERVAL`` per article. Run daily by the worker (task
    ``tierdesk.kb.review_reminders``), never in a request: it talks to the mail server.

    Sent with Django's mail backend, not the outbox: the outbox carries ticket notifications
    only. Each owner's mail is sent first and his articles marked reminded after, so a mail
    server that fails leaves them to the next run. Returns the number of mails sent.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    due = (
        Article.objects.filter(status=ArticleStatus.PUBLISHED, review_due_on__lt=today)
        .filter(Q(review_reminded_at__isnull=True) | Q(review_reminded_at__lte=now - REMINDER_INTERVAL))
        .select_related("owner")
        .order_by("review_due_on", "id")
    )
    by_owner: dict[int, list[Article]] = defaultdict(list)
    for article in due:
        if article.owner.is_active and article.owner.email:
            by_owner[article.owner_id].append(article)
    sent = 0
    for articles in by_owner.values():
        owner = articles[0].owner
        with translation.override(owner.language or settings.LANGUAGE_CODE):
            subject = ngettext(
                "Knowledge base: %(count)d article is due for review",
                "Knowledge base: %(count)d articles are due for review",
                len(articles),
            ) % {"count": len(articles)}
            lines = [
                _("Hello %(name)s,") % {"name": owner.get_full_name() or owner.username},
                "",
                _(
                    "These articles you own were due for review. Check they are still right, "
                    "then confirm the review or edit them:"
                ),
                "",
            ]
            for article in articles:
                lines.append(
                    _("%(number)s %(title)s (review was due on %(date)s)")
                    % {"number": article.number, "title": article.title, "date": article.review_due_on}
                )
                lines.append("  " + _article_url(article))
            body = "\n".join(lines) + "\n"
        try:
            send_mail(subject, body, None, [owner.email], fail_silently=False)
        except Exception:
            logger.exception("Review reminder to %s could not be sent; tried again next run.", owner.email)
            continue
        Article.objects.filter(pk__in=[a.pk for a in articles]).update(review_reminded_at=now)
        sent += 1
    return sent
