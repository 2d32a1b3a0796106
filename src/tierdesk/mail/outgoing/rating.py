"""The one-click rating link of "resolved" mails.

The link opens a portal page that needs no sign-in: the token in it, signed with the secret key
under a salt of its own (a token of any other Tierdesk link never rates), names the ticket and
its requester and is good for 30 days. The page only shows the choice on GET (mail scanners
open every link); rating takes the POST of the form, as the requester.
"""

from __future__ import annotations

import datetime as dt

from django.core import signing

RATING_SALT = "tierdesk.mail.rating"
RATING_LINK_DAYS = 30


class RatingLinkInvalid(Exception):
    """The token was not made by Tierdesk (or was altered): nothing to rate."""


class RatingLinkExpired(RatingLinkInvalid):
    """A genuine token older than ``RATING_LINK_DAYS``."""


def rating_token(ticket_id: int, requester_id: int) -> str:
    """A signed, timestamped token for the rating page of ``ticket_id`` by ``requester_id``."""
    return signing.TimestampSigner(salt=RATING_SALT).sign(f"{ticket_id}.{requester_id}")


def read_rating_token(token: str) -> tuple[int, int]:
    """``(ticket id, requester id)`` of a token; raises ``RatingLinkExpired`` or ``RatingLinkInvalid``."""
    signer = signing.TimestampSigner(salt=RATING_SALT)
    try:
        value = signer.unsign(token, max_age=dt.timedelta(days=RATING_LINK_DAYS))
    except signing.SignatureExpired:
        raise RatingLinkExpired(token) from None
    except signing.BadSignature:
        raise RatingLinkInvalid(token) from None
    ticket_id, _dot, requester_id = value.partition(".")
    if not (ticket_id.isdigit() and requester_id.isdigit()):
        raise RatingLinkInvalid(token)
    return int(ticket_id), int(requester_id)
