"""Reads of people and tokens."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tierdesk.accounts.models import ApiToken, User, hash_token_key, may_see_person
from tierdesk.common.prepared import PreparedRead

# last_used_at is refreshed at most this often, so integrations do not write on every request.
_LAST_USED_GRANULARITY = timedelta(minutes=5)


# Every API request reads its token and user: compiled once (tierdesk.common.prepared). Whether
# the token is still usable is checked on the row (ApiToken.is_usable), so the SQL does not
# carry the current time.
_token_by_hash = PreparedRead(
    lambda key_hash: ApiToken.objects.select_related("user").filter(key_hash=key_hash), "\x00hash"
)


def user_for_token(raw_key: str) -> User | None:
    """The active user a bearer token acts as, or ``None`` for an unknown, revoked or expired one.

    Read on every request, never cached: revoking the token or deactivating the user takes
    effect at the next request."""
    if not raw_key or len(raw_key) > 200:
        return None
    token = _token_by_hash.first(hash_token_key(raw_key))
    now = timezone.now()
    if token is None or not token.is_usable(now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_GRANULARITY:
        # Bookkeeping, not a domain change: not audited, and a lost update here is harmless.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


# A person by id with his organisation: the requester of every ticket an agent files. Compiled
# once (tierdesk.common.prepared); who may see him is decided on the row (may_see_person).
_person_by_pk = PreparedRead(lambda pk: User.objects.select_related("organisation").filter(pk=pk), -1)


def person_for(user: User, pk: int, action: str = "view") -> User | None:
    """The person ``pk`` with his organisation joined, if ``user`` may see him
    (``User.objects.restrict``); ``None`` otherwise, as for an unknown id."""
    person = _person_by_pk.first(pk)
    if person is None or not may_see_person(user, person, action):
        return None
    return person
