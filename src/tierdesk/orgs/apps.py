from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgsConfig(AppConfig):
    """Client organisations (tenants), their contacts and sites, and the provider itself."""

    name = "tierdesk.orgs"
    label = "orgs"
    verbose_name = _("Organisations")
