from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KbConfig(AppConfig):
    """The knowledge base: articles of four kinds, moderated, versioned and searchable."""

    name = "tierdesk.kb"
    label = "kb"
    verbose_name = _("Knowledge base")
