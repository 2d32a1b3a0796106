from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailConfig(AppConfig):
    """E-mail in and out: mailboxes, imported messages, quarantine, notifications and their delivery."""

    name = "tierdesk.mail"
    label = "mail"
    verbose_name = _("E-mail")

    def ready(self) -> None:
        from tierdesk.mail.outgoing import on_ticket_changed
        from tierdesk.tickets.signals import ticket_changed

        # Every audited ticket change may mail someone: the outbox rows are written in its
        # transaction (tierdesk.mail.outgoing.outbox).
        ticket_changed.connect(on_ticket_changed, dispatch_uid="tierdesk.mail.outbox")
