"""Load demo data (once) and print the demo logins: a provider with agents on L1-L3 and two
client organisations with contacts, tickets and knowledge-base articles. Running it again
changes nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from tierdesk.accounts.choices import Language, Role
from tierdesk.accounts.models import User
from tierdesk.accounts.services import create_user
from tierdesk.kb import services as kb
from tierdesk.kb.choices import ArticleKind, ArticleStatus, Visibility
from tierdesk.orgs.models import Organisation, Site
from tierdesk.orgs.services import create_contact, create_organisation, save_site
from tierdesk.tickets import services as tickets
from tierdesk.tickets.choices import Channel, Impact, Status, TicketType, Urgency
from tierdesk.tickets.models import Category, SupportLine, Team, Ticket

# Demo accounts only: a real installation creates its own with `createsuperuser` / the admin.
DEMO_LOGINS = [
    ("admin", "tierdesk-admin", "Administrator (everything, /admin/)"),
    ("dispatcher", "tierdesk-demo", "Agent, L1 service desk"),
    ("engineer", "tierdesk-demo", "Agent, L2 infrastructure"),
    ("dba", "tierdesk-demo", "Agent, L3 database experts (internal notes only)"),
    ("anna@northwind.example", "tierdesk-demo", "Customer manager, Northwind Trading"),
    ("boris@northwind.example", "tierdesk-demo", "Customer, Northwind Trading"),
    ("clara@contoso.example", "tierdesk-demo", "Customer, Contoso Bank"),
]


class Command(BaseCommand):
    help = "Load the demo organisations, people and tickets (only if absent) and print the logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="URL to print for the web UI.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not Organisation.objects.filter(is_provider=True).exists():
            self._load()
            self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        url = options["url"]
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(f"Tierdesk is at {url}  (API: {url}api/v1/docs, admin: {url}admin/)")
        )
        self.stdout.write("Demo logins (user / password):")
        for username, password, what in DEMO_LOGINS:
            self.stdout.write(f"  {username:<26} {password:<16} {what}")
        self.stdout.write("")

    @transaction.atomic
    def _load(self) -> None:
        provider = create_organisation(
            actor=None, name="Tierdesk IT Services", short_name="provider", is_provider=True
        )
        admin = create_user(
            actor=None,
            username="admin",
            organisation=provider,
            role=Role.ADMIN,
            email="admin@tierdesk.example",
            first_name="Ada",
            last_name="Admin",
            password="tierdesk-admin",
        )
        admin.is_superuser = True
        admin.is_staff = True
        admin.save(update_fields=["is_superuser", "is_staff"])

        def agent(username: str, first: str, last: str) -> User:
            return create_user(
                actor=admin,
                username=username,
                organisation=provider,
                role=Role.AGENT,
                email=f"{username}@tierdesk.example",
                first_name=first,
                last_name=last,
                password="tierdesk-demo",
            )

        dispatcher = agent("dispatcher", "Dmitry", "Dispatcher")
        engineer = agent("engineer", "Elena", "Engineer")
        dba = agent("dba", "Denis", "Database")

        northwind = create_organisation(
            actor=admin,
            name="Northwind Trading",
            short_name="northwind",
            account_manager=engineer,
            email_domains=["northwind.example"],
        )
        contoso = create_organisation(
            actor=admin, name="Contoso Bank", short_name="contoso", email_domains=["contoso.example"]
        )
        save_site(Site(organisation=northwind, name="Head office", address="1 Harbour Street"), actor=admin)
        save_site(Site(organisation=contoso, name="Data centre", address="12 Vault Lane"), actor=admin)
        anna = create_contact(
            northwind,
            actor=admin,
            email="anna@northwind.example",
            first_name="Anna",
            last_name="Manager",
            is_org_manager=True,
            password="tierdesk-demo",
        )
        boris = create_contact(
            northwind,
            actor=admin,
            email="boris@northwind.example",
            first_name="Boris",
            last_name="Buyer",
            password="tierdesk-demo",
        )
        clara = create_contact(
            contoso,
            actor=admin,
            email="clara@contoso.example",
            first_name="Clara",
            last_name="Cashier",
            password="tierdesk-demo",
        )

        lines = {line.code: line for line in SupportLine.objects.all()}
        teams = {}
        for name, code, members in [
            ("Service desk", "L1", [dispatcher]),
            ("Infrastructure", "L2", [engineer]),
            ("Database experts", "L3", [dba]),
        ]:
            team = Team(name=name, line=lines[code])
            tickets.save_desk_configuration(team, actor=admin)
            tickets.set_team_members(team, members=members, actor=admin)
            tickets.set_team_organisations(team, organisations=[northwind, contoso], actor=admin)
            teams[code] = team
        hardware = Category(name="Hardware")
        tickets.save_desk_configuration(hardware, actor=admin)
        for name, parent in [
            ("Printer", hardware),
            ("Laptop", hardware),
            ("Access", None),
            ("1C / ERP", None),
        ]:
            tickets.save_desk_configuration(Category(name=name, parent=parent), actor=admin)
        printer = Category.objects.get(name="Printer")
        erp = Category.objects.get(name="1C / ERP")

        t1 = tickets.create_ticket(
            actor=boris,
            organisation=northwind,
            requester=boris,
            subject="Printer on the 2nd floor jams every page",
            description="Since this morning every print job jams.",
            category=printer,
            channel=Channel.PORTAL,
            impact=Impact.LOW,
            urgency=Urgency.MEDIUM,
        )
        tickets.assign_ticket(t1, assignee=dispatcher, actor=dispatcher)
        tickets.add_public_reply(t1, actor=dispatcher, body="Please open tray 2 and remove any torn paper.")
        tickets.transition_ticket(t1, to_status=Status.WAITING_CUSTOMER, actor=dispatcher)

        t2 = tickets.create_ticket(
            actor=anna,
            organisation=northwind,
            requester=anna,
            subject="1C is very slow for everyone",
            category=erp,
            description="Posting a document takes a minute.",
            impact=Impact.HIGH,
            urgency=Urgency.HIGH,
            type=TicketType.INCIDENT,
        )
        tickets.transition_ticket(t2, to_status=Status.IN_PROGRESS, actor=dispatcher)
        tickets.escalate_ticket(
            t2,
            to_line=lines["L2"],
            actor=dispatcher,
            team=teams["L2"],
            reason="Affects all users; server side.",
        )
        tickets.assign_ticket(t2, assignee=engineer, actor=engineer)
        tickets.add_internal_note(t2, actor=engineer, body="MSSQL CPU at 100%; asking the DBAs.")
        tickets.escalate_ticket(
            t2,
            to_line=lines["L3"],
            actor=engineer,
            team=teams["L3"],
            reason="Query plans regressed after the update.",
        )
        tickets.add_internal_note(t2, actor=dba, body="Rebuilt statistics on the documents table.")

        t3 = tickets.create_ticket(
            actor=dispatcher,
            organisation=contoso,
            requester=clara,
            subject="New employee needs a VPN account",
            channel=Channel.PHONE,
            type=TicketType.SERVICE_REQUEST,
            impact=Impact.LOW,
            urgency=Urgency.LOW,
        )
        tickets.assign_ticket(t3, assignee=dispatcher, actor=dispatcher)
        tickets.add_public_reply(
            t3, actor=dispatcher, body="The account is ready; the login was sent by SMS."
        )
        tickets.transition_ticket(t3, to_status=Status.RESOLVED, actor=dispatcher)

        tickets.create_ticket(
            actor=clara,
            organisation=contoso,
            requester=clara,
            subject="How do I change my password?",
            type=TicketType.QUESTION,
            channel=Channel.EMAIL,
        )
        self._load_articles(
            dispatcher=dispatcher, engineer=engineer, dba=dba, contoso=contoso, lines=lines, printer_ticket=t1
        )

    def _load_articles(
        self,
        *,
        dispatcher: User,
        engineer: User,
        dba: User,
        contoso: Organisation,
        lines: dict[str, SupportLine],
        printer_ticket: Ticket,
    ) -> None:
        """A few articles of each kind and audience, in both languages, linked to a ticket."""
        jam = kb.create_article(
            actor=dispatcher,
            kind=ArticleKind.KNOWN_PROBLEM,
            title="Printer jams every page",
            body="## Problem\n\nEvery print job jams after the first sheet.\n\n"
            "## Solution\n\n1. Open tray 2.\n2. Remove any torn paper.\n3. Print a test page.\n",
            language=Language.EN,
            visibility=Visibility.CUSTOMERS,
            tags=["printer", "hardware"],
        )
        kb.change_article_status(jam, actor=dispatcher, to=ArticleStatus.PUBLISHED)
        kb.link_article_to_ticket(printer_ticket, jam, actor=dispatcher, solved=True)

        vpn = kb.create_article(
            actor=engineer,
            kind=ArticleKind.SETUP,
            title="Настройка VPN-подключения",
            body="Чтобы работать из дома, настройте VPN:\n\n1. Установите клиент OpenVPN.\n"
            "2. Импортируйте профиль, который прислал сервис-деск.\n"
            "3. Войдите с доменным логином и паролем.\n\n"
            "Пароль должен соответствовать стандарту [[Password policy]].\n",
            language=Language.RU,
            visibility=Visibility.CUSTOMERS,
            tags=["vpn", "удалённая работа"],
        )
        kb.change_article_status(vpn, actor=engineer, to=ArticleStatus.REVIEW)
        # Setup articles are published by a second pair of eyes, not by their author.
        kb.change_article_status(vpn, actor=dispatcher, to=ArticleStatus.PUBLISHED)

        policy = kb.create_article(
            actor=engineer,
            kind=ArticleKind.STANDARD,
            title="Password policy",
            body="Passwords have at least 12 characters and are changed once a year.\n\n"
            "Workstations follow the [[Workstation standard]] (a page still to be written).\n",
            visibility=Visibility.ORGANISATIONS,
            organisations=[contoso],
            tags=["security"],
        )
        kb.change_article_status(policy, actor=engineer, to=ArticleStatus.REVIEW)
        kb.change_article_status(policy, actor=dba, to=ArticleStatus.PUBLISHED)

        erp = kb.create_article(
            actor=dba,
            kind=ArticleKind.OPERATIONAL,
            title="1C database server",
            body="The 1C databases run on MSSQL 2019 on `db-1c-01`.\n\n"
            "- Statistics are rebuilt nightly at 02:00.\n- Slow posting: check the query plans first.\n",
            service="1C:Enterprise",
            lines=[lines["L2"], lines["L3"]],
            tags=["1c", "mssql"],
        )
        kb.change_article_status(erp, actor=dba, to=ArticleStatus.PUBLISHED)
