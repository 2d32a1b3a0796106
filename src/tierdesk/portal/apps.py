from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "tierdesk.portal"
    verbose_name = _("Customer portal")

    def ready(self) -> None:
        from tierdesk.portal import checks  # noqa: F401 - registers the system checks
