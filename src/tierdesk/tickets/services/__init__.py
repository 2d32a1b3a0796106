"""Every change to tickets goes through these functions (web UI, API, e-mail, tasks alike).

Each service takes the domain object first and a keyword-only ``actor`` (``None`` only for the
system itself), runs in one transaction, locks the ticket row, checks the rules, writes the
change, a conversation event where people should see it, and an audit event. Failures raise
``DomainError`` subclasses with a message that says what to fix, and change nothing.

The package is split by subject; callers import from here (``from tierdesk.tickets import
services``), never from the modules, so the split can change without touching them:
``lifecycle`` (create, edit, status, assignment, escalation), ``conversation`` (replies, notes,
attachments), ``relations`` (merge, links, rating), ``configuration`` (lines, teams, matrix,
settings) and ``rules`` (the checks they share).
"""

from tierdesk.tickets.services.configuration import (
    intake_line,
    priority_for,
    save_desk_configuration,
    set_team_members,
    set_team_organisations,
)
from tierdesk.tickets.services.conversation import (
    TooLarge,
    add_attachment,
    add_attachments,
    add_internal_note,
    add_public_reply,
    add_system_event,
    check_file_size,
    may_reply_publicly,
    safe_filename,
)
from tierdesk.tickets.services.lifecycle import (
    EDITABLE_FIELDS,
    assign_ticket,
    create_ticket,
    deescalate_ticket,
    escalate_ticket,
    transition_ticket,
    update_ticket,
)
from tierdesk.tickets.services.relations import link_tickets, merge_ticket, rate_ticket, unlink_tickets

__all__ = [
    "EDITABLE_FIELDS",
    "TooLarge",
    "add_attachment",
    "add_attachments",
    "add_internal_note",
    "add_public_reply",
    "add_system_event",
    "assign_ticket",
    "check_file_size",
    "create_ticket",
    "deescalate_ticket",
    "escalate_ticket",
    "intake_line",
    "link_tickets",
    "may_reply_publicly",
    "merge_ticket",
    "priority_for",
    "rate_ticket",
    "safe_filename",
    "save_desk_configuration",
    "set_team_members",
    "set_team_organisations",
    "transition_ticket",
    "unlink_tickets",
    "update_ticket",
]
