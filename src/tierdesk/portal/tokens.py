"""The signed link that confirms a self-registration's e-mail address.

Django's password-reset token machinery, with a salt of its own so that a password-reset token
never confirms an address and a confirmation token never resets a password. The token is an
HMAC over the person's id, password hash, last sign-in, e-mail and active flag with a
timestamp; it needs no storage and dies as soon as any of those change: when the account is
activated (and signed in), when registering again sets another password, or after
``PASSWORD_RESET_TIMEOUT`` (three days by default), the lifetime of a password-reset link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.tokens import PasswordResetTokenGenerator

if TYPE_CHECKING:
    from tierdesk.accounts.models import User


class ActivationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "tierdesk.portal.tokens.ActivationTokenGenerator"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        return f"{super()._make_hash_value(user, timestamp)}{user.is_active}"


activation_tokens = ActivationTokenGenerator()
