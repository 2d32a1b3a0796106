"""Reads of people and tokens."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tierdesk.accounts.models import ApiToken, User, hash_token_key

# last_used_at is refreshed at most this often, so integrations do not write on every request.
_LAST_USED_GRANULARITY = timedelta(minutes=5)


def user_for_token(raw_key: str) -> User | None:
    """The active user a bearer token acts as, or ``None`` for an unknown, revoked or expired one."""
    if not raw_key or len(raw_key) > 200:
        return None
    token = ApiToken.objects.usable().select_related("user").filter(key_hash=hash_token_key(raw_key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_GRANULARITY:
        # Bookkeeping, not a domain change: not audited, and a lost update here is harmless.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
