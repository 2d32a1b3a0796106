"""Outgoing e-mail: the notifications Tierdesk mails about tickets.

``outbox`` decides, inside the transaction of each ticket change, who is told and writes the
rows; ``rendering`` holds the templates (shipped and administrators') and renders a row in its
recipient's language; ``delivery`` is the worker's side (claim, send, retry); ``rating`` the
signed one-click rating link of "resolved" mails.
"""

from tierdesk.mail.outgoing.delivery import BACKOFF, deliver_due_messages
from tierdesk.mail.outgoing.outbox import (
    new_message_id,
    on_ticket_changed,
    queue_sla_notifications,
    write_messages,
)
from tierdesk.mail.outgoing.rating import (
    RatingLinkExpired,
    RatingLinkInvalid,
    rating_token,
    read_rating_token,
)
from tierdesk.mail.outgoing.rendering import (
    check_notification_template,
    delete_notification_template,
    render_message,
    save_notification_template,
)

__all__ = [
    "BACKOFF",
    "RatingLinkExpired",
    "RatingLinkInvalid",
    "check_notification_template",
    "delete_notification_template",
    "deliver_due_messages",
    "new_message_id",
    "on_ticket_changed",
    "queue_sla_notifications",
    "rating_token",
    "read_rating_token",
    "render_message",
    "save_notification_template",
    "write_messages",
]
