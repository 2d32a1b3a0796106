"""The signed links that confirm a self-registration's e-mail address, and a contact's claim
of the account the desk keeps for him.

Django's password-reset token machinery, with a salt of its own so that a password-reset token
never confirms an address and a confirmation token never resets a password. The token is an
HMAC over the person's id, password hash, last sign-in, e-mail and active flag with a
timestamp; it needs no storage and dies as soon as any of those change: when the account is
activated (and signed in), when registering again sets another password, or after
``PASSWORD_RESET_TIMEOUT`` (three days by default), the lifetime of a password-reset link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth.tokens import PasswordResetTokenGenerator

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.portal.models import AccountClaim


class ActivationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "tierdesk.portal.tokens.ActivationTokenGenerator"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        return f"{super()._make_hash_value(user, timestamp)}{user.is_active}"


activation_tokens = ActivationTokenGenerator()


class ClaimTokenGenerator(PasswordResetTokenGenerator):
    """Tokens of the links that confirm an ``AccountClaim``: the same HMAC over the contact as
    above, plus the claim's organisation, chosen password hash and confirmation, with a salt of
    their own. A link dies when the claim is made again (a new password hash), when it is
    confirmed, when the contact gets a password, is switched off, signs in, changes address or
    organisation, or after ``PASSWORD_RESET_TIMEOUT``.

    Django's generator hands whatever it was given to ``_make_hash_value``; here that is the
    claim, so use ``make_claim_token`` and ``check_claim_token``.
    """

    key_salt = "tierdesk.portal.tokens.ClaimTokenGenerator"

    def make_claim_token(self, claim: AccountClaim) -> str:
        return self.make_token(cast(Any, claim))

    def check_claim_token(self, claim: AccountClaim, token: str) -> bool:
        return self.check_token(cast(Any, claim), token)

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        claim = cast("AccountClaim", user)
        person = claim.user
        return (
            f"{super()._make_hash_value(person, timestamp)}{person.is_active}{person.organisation_id}"
            f"{claim.organisation_id}{claim.password}{claim.confirmed_at}"
        )


claim_tokens = ClaimTokenGenerator()
