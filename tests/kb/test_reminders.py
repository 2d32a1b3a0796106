"""Reminders of overdue reviews: one mail per owner listing his articles, at most weekly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from tests.factories import World
from tierdesk.accounts.services import update_user
from tierdesk.kb import services as kb
from tierdesk.kb.models import Article
from tierdesk.kb.tasks import review_reminders

pytestmark = pytest.mark.django_db


def _overdue(world: World, title: str, *, days: int, owner: Any = None, **kwargs: Any) -> Article:
    article = world.article(publish=True, title=title, owner=owner or world.l2, **kwargs)
    return kb.update_article(
        article, actor=world.admin, review_due_on=timezone.localdate() - dt.timedelta(days=days)
    )


def test_one_mail_per_owner_listing_his_overdue_articles(world: World, mailoutbox: list[Any]) -> None:
    first = _overdue(world, "VPN setup", days=10)
    second = _overdue(world, "Printer E05", days=2)
    _overdue(world, "Mail rules", days=1, owner=world.l3)
    world.article(publish=True, title="Not due")  # due in two years
    draft = world.article(title="Draft overdue", review_due_on=timezone.localdate() - dt.timedelta(days=5))

    assert kb.send_review_reminders() == 2
    by_recipient = {tuple(mail.to): mail for mail in mailoutbox}
    assert set(by_recipient) == {("l2@provider.test",), ("l3@provider.test",)}
    mail = by_recipient[("l2@provider.test",)]
    assert mail.subject == "Knowledge base: 2 articles are due for review"
    assert mail.from_email == settings.DEFAULT_FROM_EMAIL
    body = mail.body
    assert body.index(f"{first.number} VPN setup") < body.index(f"{second.number} Printer E05")
    assert f"{settings.TIERDESK_BASE_URL}/desk/kb/{first.pk}/" in body
    assert "Not due" not in body and draft.title not in body
    assert by_recipient[("l3@provider.test",)].subject == "Knowledge base: 1 article is due for review"
    assert Article.objects.filter(review_reminded_at__isnull=False).count() == 3


def test_reminded_at_most_once_a_week(world: World, mailoutbox: list[Any]) -> None:
    _overdue(world, "VPN setup", days=10)
    now = timezone.now()
    assert kb.send_review_reminders(now=now) == 1
    assert kb.send_review_reminders(now=now + dt.timedelta(days=6)) == 0
    assert kb.send_review_reminders(now=now + dt.timedelta(days=7, minutes=1)) == 1
    assert len(mailoutbox) == 2


def test_a_confirmed_review_stops_the_reminders(world: World, mailoutbox: list[Any]) -> None:
    article = _overdue(world, "VPN setup", days=10)
    kb.mark_article_reviewed(article, actor=world.l2)
    assert kb.send_review_reminders() == 0
    assert not mailoutbox


def test_inactive_owners_are_not_mailed(world: World, mailoutbox: list[Any]) -> None:
    _overdue(world, "VPN setup", days=10, owner=world.l3)
    update_user(world.l3, actor=world.admin, changes={"is_active": False})
    assert kb.send_review_reminders() == 0
    assert not mailoutbox
    assert Article.objects.get(title="VPN setup").review_reminded_at is None


def test_a_failing_mail_server_leaves_the_articles_for_the_next_run(
    world: World, mailoutbox: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _overdue(world, "VPN setup", days=10)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(kb, "send_mail", refuse)
    assert kb.send_review_reminders() == 0
    assert Article.objects.get(title="VPN setup").review_reminded_at is None
    monkeypatch.undo()
    assert kb.send_review_reminders() == 1


def test_the_worker_task_sends_them_and_beat_runs_it_daily(world: World, mailoutbox: list[Any]) -> None:
    _overdue(world, "VPN setup", days=10)
    assert review_reminders.apply().get() == 1
    assert len(mailoutbox) == 1
    schedule: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE
    [entry] = [e for e in schedule.values() if e["task"] == "tierdesk.kb.review_reminders"]
    assert entry["schedule"].hour == {6} and entry["schedule"].minute == {0}
