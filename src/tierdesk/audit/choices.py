"""The kinds of audit events. Values are stable strings ``<domain>.<what happened>``.

Adding a kind needs no migration: the field stores the string, this registry names it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    # Organisations and people
    ORGANISATION_CREATED = "organisation.created", _("Organisation created")
    ORGANISATION_UPDATED = "organisation.updated", _("Organisation updated")
    SITE_CREATED = "site.created", _("Site created")
    SITE_UPDATED = "site.updated", _("Site updated")
    USER_CREATED = "user.created", _("User created")
    USER_UPDATED = "user.updated", _("User updated")
    TOKEN_CREATED = "token.created", _("API token created")
    TOKEN_REVOKED = "token.revoked", _("API token revoked")
    # Desk configuration
    LINE_CREATED = "line.created", _("Support line created")
    LINE_UPDATED = "line.updated", _("Support line updated")
    TEAM_CREATED = "team.created", _("Team created")
    TEAM_UPDATED = "team.updated", _("Team updated")
    CATEGORY_CREATED = "category.created", _("Category created")
    CATEGORY_UPDATED = "category.updated", _("Category updated")
    PRIORITY_MATRIX_CHANGED = "priority_matrix.changed", _("Priority matrix changed")
    SETTINGS_CHANGED = "settings.changed", _("Desk settings changed")
    # Business calendars (SLA)
    CALENDAR_CREATED = "calendar.created", _("Business calendar created")
    CALENDAR_UPDATED = "calendar.updated", _("Business calendar updated")
    CALENDAR_HOURS_CHANGED = "calendar.hours_changed", _("Working hours changed")
    CALENDAR_DATE_ADDED = "calendar.date_added", _("Calendar date added")
    CALENDAR_DATE_CHANGED = "calendar.date_changed", _("Calendar date changed")
    CALENDAR_DATE_REMOVED = "calendar.date_removed", _("Calendar date removed")
    SLA_POLICY_CREATED = "sla_policy.created", _("Service level created")
    SLA_POLICY_UPDATED = "sla_policy.updated", _("Service level updated")
    SLA_TARGET_CHANGED = "sla_target.changed", _("SLA target changed")
    SLA_AGREEMENT_CHANGED = "sla_agreement.changed", _("Service agreement changed")
    ESCALATION_RULE_CHANGED = "escalation_rule.changed", _("Escalation rule changed")
    # Tickets
    TICKET_CREATED = "ticket.created", _("Ticket created")
    TICKET_UPDATED = "ticket.updated", _("Ticket updated")
    TICKET_STATUS_CHANGED = "ticket.status_changed", _("Status changed")
    TICKET_ASSIGNED = "ticket.assigned", _("Assignment changed")
    TICKET_ESCALATED = "ticket.escalated", _("Escalated")
    TICKET_DEESCALATED = "ticket.deescalated", _("Returned to a lower line")
    TICKET_REOPENED = "ticket.reopened", _("Reopened")
    TICKET_REPLIED = "ticket.replied", _("Public reply")
    TICKET_NOTE_ADDED = "ticket.note_added", _("Internal note")
    TICKET_ATTACHMENT_ADDED = "ticket.attachment_added", _("Attachment added")
    TICKET_MERGED = "ticket.merged", _("Merged into another ticket")
    TICKET_MERGE_RECEIVED = "ticket.merge_received", _("Another ticket merged into this one")
    TICKET_LINKED = "ticket.linked", _("Related ticket linked")
    TICKET_UNLINKED = "ticket.unlinked", _("Related ticket unlinked")
    TICKET_RATED = "ticket.rated", _("Resolution rated")
    TICKET_SLA_PAUSED = "ticket.sla_paused", _("SLA clock paused")
    TICKET_SLA_RESUMED = "ticket.sla_resumed", _("SLA clock resumed")
    TICKET_SLA_MET = "ticket.sla_met", _("SLA target met")
    TICKET_SLA_BREACHED = "ticket.sla_breached", _("SLA target breached")
    TICKET_SLA_WARNING = "ticket.sla_warning", _("SLA escalation rule fired")
    TICKET_MAIL_BOUNCED = "ticket.mail_bounced", _("E-mail not delivered")
    # E-mail channel
    MAILBOX_CREATED = "mailbox.created", _("Mailbox created")
    MAILBOX_UPDATED = "mailbox.updated", _("Mailbox updated")
    MAIL_ASSIGNED = "mail.assigned", _("Held e-mail assigned")
    MAIL_RETRIED = "mail.retried", _("Quarantined e-mail retried")
    MAIL_DISCARDED = "mail.discarded", _("E-mail discarded")
    MAIL_ADDRESS_FAILING = "mail.address_failing", _("E-mail address marked as failing")
    MAIL_ADDRESS_CLEARED = "mail.address_cleared", _("E-mail address failure cleared")
    NOTIFICATION_TEMPLATE_CREATED = "notification_template.created", _("Notification template created")
    NOTIFICATION_TEMPLATE_UPDATED = "notification_template.updated", _("Notification template changed")
    NOTIFICATION_TEMPLATE_DELETED = "notification_template.deleted", _("Notification template deleted")
    # Agent workspace
    CANNED_ANSWER_SAVED = "canned_answer.saved", _("Canned answer saved")
    CANNED_ANSWER_DELETED = "canned_answer.deleted", _("Canned answer deleted")
    SAVED_VIEW_SAVED = "saved_view.saved", _("Saved view saved")
    SAVED_VIEW_DELETED = "saved_view.deleted", _("Saved view deleted")
    # Customer portal
    INVITATION_CREATED = "invitation.created", _("Portal invitation created")
    INVITATION_USED = "invitation.used", _("Portal invitation used")
    PORTAL_REGISTERED = "portal.registered", _("Registered on the portal")
