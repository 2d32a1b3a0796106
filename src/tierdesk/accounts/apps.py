from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    """People who use Tierdesk: administrators, agents, customer contacts; and API tokens."""

    name = "tierdesk.accounts"
    label = "accounts"
    verbose_name = _("Accounts")
