#!/usr/bin/env python
"""Knowledge-base search at scale (issue 6's benchmark; bench/README.md).

    createdb -h 127.0.0.1 -U postgres kb_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/kb_bench
    .venv/bin/python manage.py migrate --skip-checks
    .venv/bin/python bench/bench_kb.py                      # loads 100,000 articles, measures
    .venv/bin/python bench/bench_kb.py --skip-load --plans  # measures again, prints query plans

    DATABASE_URL=sqlite:////tmp/kb_bench.sqlite3 .venv/bin/python bench/bench_kb.py  # 10,000

1. Seeds the two-organisation world (``tests.factories.build_world()``) unless the database
   has one (e.g. from ``bench/load_tickets.py``).
2. Bulk-loads ``--articles`` articles (COPY on PostgreSQL, executemany on SQLite) of generated
   IT text: Russian (two thirds, with English product names) and English, words drawn with a
   Zipf skew from a vocabulary with several forms of each Russian word, so that common words
   are in most articles and rare ones (error codes, host names) in a few; Markdown headings,
   lists and links; the four kinds; mostly published, some drafts, in review and archived;
   internal (a fifth of them limited to L2/L3), for all customers and for one of the two
   organisations; tags and services. Then builds the search index with
   ``kb.search.reindex_articles()`` (the path ``manage.py kb_reindex`` takes).
3. Measures ``search_articles`` and ``suggest_articles`` in process, for an L1 agent and a
   customer (and the administrator for search), over a few hundred queries: common, medium and
   rare words in both languages, two-word queries, phrases, exclusions, no match; subjects
   typed letter by letter for suggestions. Prints p50/p95/max per query class and overall.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import functools
import itertools
import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from tierdesk.accounts.choices import Role  # noqa: E402
from tierdesk.accounts.models import User  # noqa: E402
from tierdesk.kb import search  # noqa: E402
from tierdesk.kb.models import Article, Tag, link_key  # noqa: E402
from tierdesk.orgs.models import Organisation  # noqa: E402
from tierdesk.tickets.models import SupportLine  # noqa: E402

# --- Vocabulary ------------------------------------------------------------------------------
# Russian words come with several of their forms (a search for one stem finds all of them).
# fmt: off
RU_WORDS = """
принтер принтера принтеры принтеру принтером принтеров|сервер сервера серверы серверу сервером
пароль пароля пароли паролем паролей|почта почты почту почтой|письмо письма писем письмами
ящик ящика ящике ящики|сеть сети сетью сетей|подключение подключения подключению подключений
ошибка ошибки ошибку ошибкой ошибок|доступ доступа доступу доступом|учетная учетной учетную
запись записи записью записей|пользователь пользователя пользователи пользователей пользователю
компьютер компьютера компьютеры компьютеру|ноутбук ноутбука ноутбуки ноутбуком|монитор монитора мониторы
клавиатура клавиатуры клавиатуру|диск диска диски диске дисков|файл файла файлы файлов файлом
папка папки папку папке|программа программы программу программой|обновление обновления обновлений
настройка настройки настройку настроек|драйвер драйвера драйверы драйверов|картридж картриджа картриджи
бумага бумаги бумагу|сканер сканера сканеры сканером|телефон телефона телефоны телефоном
гарнитура гарнитуры гарнитуру|камера камеры камеру|звук звука звуком|экран экрана экране
окно окна окне окон|кнопка кнопки кнопку|браузер браузера браузере|сайт сайта сайте|портал портала портале
заявка заявки заявку заявок|инцидент инцидента инциденты инцидентов|запрос запроса запросы запросов
служба службы службу|сервис сервиса сервисы|лицензия лицензии лицензию лицензий|антивирус антивируса
вирус вируса вирусы|резервная резервной резервную|копия копии копию копий|база базы базу базе
отчет отчета отчеты отчетов|бухгалтерия бухгалтерии|офис офиса офисе|этаж этаже этажа
кабинет кабинете кабинета|сотрудник сотрудника сотрудники сотрудников сотруднику|руководитель руководителя
отдел отдела отделе|склад склада складе|касса кассы кассе|терминал терминала терминале
маршрутизатор маршрутизатора|коммутатор коммутатора коммутаторе|кабель кабеля кабели|розетка розетки
питание питания|батарея батареи батарею|зарядка зарядки|домен домена домене|политика политики политику
группа группы группу групп|права прав правами|роль роли ролью|вход входа входе|смена смены
блокировка блокировки|сертификат сертификата сертификаты|шифрование шифрования|ключ ключа ключи
токен токена|календарь календаря календаре|встреча встречи встречу|конференция конференции
видеосвязь видеосвязи|печать печати|очередь очереди|задание задания заданий|скорость скорости
задержка задержки|журнал журнала журнале|событие события событий|мониторинг мониторинга
оповещение оповещения|инструкция инструкции инструкцию|регламент регламента|стандарт стандарта
документ документа документы документов|шаблон шаблона шаблоны|договор договора|клиент клиента клиенты
место места|рабочее рабочего рабочем|станция станции|адрес адреса|имя имени|проблема проблемы проблему
решение решения|причина причины|способ способа|шаг шага шаги|раздел раздела|параметр параметра параметры
значение значения|список списка|меню|вкладка вкладки вкладку|панель панели|устройство устройства устройств
память памяти|процессор процессора|жесткий жесткого|место|плоттер плоттера|проектор проектора
печатает печатать напечатать|работает работать работают работал|подключается подключиться подключить
открывается открыть открывает|запускается запустить запуск|зависает зависла зависают
перезагрузить перезагрузка перезагрузите|отправляет отправить отправляются|получает получить получение
сбросить сбросьте сброс|настроить настройте|установить установите установка|удалить удалите удаление
проверить проверьте проверка|выберите выбрать|нажмите нажать|введите ввести|сохранить сохраните
обновить обновите|синхронизируется синхронизация синхронизации|восстановить восстановление
заблокирована заблокирован|истек истекает истечения|отображается отображаются|требуется
недоступен недоступна недоступны|медленно|постоянно|периодически|снова|сразу|вручную|автоматически
новый новая новое новые нового|старый старая|сетевой сетевая сетевые сетевого|локальный локальная
общий общая общие общего|удаленный удаленная удаленного удаленно|корпоративный корпоративная корпоративной
беспроводной беспроводная|внешний внешняя внешнего|основной основная|текущий текущая|нужный нужная
""".replace("\n", "|").split("|")
EN_WORDS = """
printer printers printing print|server servers|password passwords|mail mailbox email emails
network networks|connection connections connect connecting connected|error errors|access
account accounts|user users|computer computers|laptop laptops|monitor monitors|keyboard|mouse
disk disks drive drives|file files|folder folders|program programs application applications
update updates updating updated|settings setting|driver drivers|cartridge cartridges|toner|paper
scanner scanners|phone phones|headset|camera|sound|screen|window windows|button|menu|browser
site website|portal|request requests|incident incidents|service services|license licenses licensing
antivirus|backup backups|database databases|report reports|office|floor|desk|employee employees
manager|department|warehouse|terminal|router routers|switch|cable cables|power|battery|charger
domain|policy policies|group groups|permission permissions|role roles|login logins|logout
certificate certificates|encryption|key keys|token tokens|calendar|meeting meetings|conference
video|queue|job jobs|speed|latency|timeout timeouts|log logs|event events|monitoring|alert alerts
instruction instructions|standard standards|document documents|template templates|contract
client clients|workstation workstations|step steps|problem problems|solution|cause|setup
configure configured configuring configuration|install installed installing installation
open opens opened|restart restarted restarting reboot|send sends sent sending|receive received
check checking|select|click|enter|save saved|sync syncing synchronisation|restore restored
lock locked lockout|expire expired expiring|show shows shown|slow slowly|fail fails failed failing
cannot|again|new|old|shared|local|remote|wireless|external|default|correct|missing|blank|plotter
""".replace("\n", "|").split("|")
PRODUCTS = ["VPN", "Outlook", "Exchange", "Windows", "Linux", "Ubuntu", "macOS", "Office", "Excel",
            "Word", "Teams", "Zoom", "1С", "Битрикс24", "Active Directory", "LDAP", "DNS", "DHCP",
            "Wi-Fi", "SharePoint", "OneDrive", "Chrome", "Firefox", "Cisco", "MikroTik", "Zabbix",
            "Kerberos", "SMTP", "IMAP", "RDP", "SSH", "HP", "Canon", "Kyocera", "Xerox", "Jira",
            "Confluence", "GitLab", "PostgreSQL", "Oracle", "SAP", "Citrix", "VMware", "Veeam",
            "FortiGate", "Kaspersky", "Dr.Web", "Astra Linux", "ЭЦП", "КриптоПро"]
TAGS = ["vpn", "почта", "mail", "принтер", "printer", "сеть", "network", "пароль", "password", "1с",
        "wi-fi", "windows", "linux", "outlook", "доступ", "access", "безопасность", "security",
        "резервное копирование", "backup", "телефония", "voip", "офис", "office", "сервер", "server",
        "монитор", "ноутбук", "laptop", "лицензии", "licenses", "антивирус", "сертификаты", "эцп",
        "видеосвязь", "zoom", "teams", "база данных", "database", "мониторинг", "monitoring", "склад",
        "касса", "бухгалтерия", "hr", "новый сотрудник", "onboarding", "удаленная работа", "remote"]
SECTION_RU = ["Симптомы", "Причина", "Решение", "Шаги", "Проверка", "Если не помогло", "Контакты"]
SECTION_EN = ["Symptoms", "Cause", "Solution", "Steps", "Check", "If it did not help", "Contacts"]

# Syllables of the made-up words of the long tail.
RU_SYLLABLES = "ба ве ги до жу за ки ло ми не но па ре си ту фа хо це ча ша ек ор ил ун ст пр кр тр дл".split()  # noqa: E501, SIM905
EN_SYLLABLES = "ba ce di fo gu ka le mi no pu ra se ti vo wu xa ze or en il st pr tr".split()  # noqa: SIM905
# fmt: on
KIND_WEIGHTS = {"known_problem": 50, "setup": 20, "operational": 20, "standard": 10}
STATUS_WEIGHTS = {"published": 75, "draft": 10, "review": 5, "archived": 10}
VISIBILITY_WEIGHTS = {"internal": 40, "customers": 45, "organisations": 15}
RARE_CODES = 20_000  # error codes and host names, each in a few articles


def log(message: str) -> None:
    print(message, flush=True)


class Zipf:
    """Words drawn with a Zipf skew (rank r has weight 1/r**s), fast (bisect)."""

    def __init__(self, items: Sequence[Any], rng: random.Random, s: float = 1.0) -> None:
        self.items = list(items)
        rng.shuffle(self.items)
        self.cum = list(itertools.accumulate(1 / (r + 1) ** s for r in range(len(self.items))))
        self.rng = rng

    def __call__(self) -> Any:
        return self.items[bisect.bisect_right(self.cum, self.rng.random() * self.cum[-1])]


class TextGen:
    """Realistic-looking mixed Russian/English IT articles."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        ru_groups = [g.split() for g in RU_WORDS if g.split()]
        en_groups = [g.split() for g in EN_WORDS if g.split()]
        assert len(ru_groups) > 150 and len(en_groups) > 120
        self.ru = Zipf(ru_groups, rng)
        self.en = Zipf(en_groups, rng)
        self.products = Zipf(PRODUCTS, rng, 0.8)
        self.tags = Zipf(TAGS, rng, 0.7)
        self.codes = [self._code(i) for i in range(RARE_CODES)]
        # The long tail: made-up words, each in about one article in a hundred.
        self.tail_ru = self._pseudo_words(RU_SYLLABLES, 3000)
        self.tail_en = self._pseudo_words(EN_SYLLABLES, 2000)

    def _pseudo_words(self, syllables: list[str], n: int) -> list[str]:
        words: set[str] = set()
        while len(words) < n:
            words.add("".join(self.rng.choice(syllables) for _ in range(self.rng.randrange(2, 5))))
        return sorted(words)

    def _code(self, i: int) -> str:
        rng = self.rng
        pattern = i % 4
        if pattern == 0:
            return f"0x{rng.randrange(0x80000000, 0x8FFFFFFF):08X}"
        if pattern == 1:
            return (
                f"srv-{rng.choice(['app', 'db', 'file', 'print', 'mail', 'web'])}-{rng.randrange(1000):03d}"
            )
        if pattern == 2:
            return f"KB{rng.randrange(4000000, 5999999)}"
        return f"ERR_{rng.choice(['AUTH', 'NET', 'DISK', 'CERT', 'SYNC'])}_{rng.randrange(10000):04d}"

    def word(self, ru: bool) -> str:
        r = self.rng.random()
        if r < 0.08:
            return str(self.products())
        if r < 0.16:
            return self.rng.choice(self.tail_ru if ru else self.tail_en)
        group = self.ru() if (ru and r < 0.9) or (not ru and r > 0.95) else self.en()
        return str(self.rng.choice(group))

    def sentence(self, ru: bool) -> str:
        n = self.rng.randrange(6, 15)
        words = [self.word(ru) for _ in range(n)]
        if self.rng.random() < 0.1:
            words.insert(self.rng.randrange(len(words)), self.rng.choice(self.codes))
        text = " ".join(words)
        return text[0].upper() + text[1:] + self.rng.choice([".", ".", ".", "?", ":"])

    def title(self, ru: bool, number: int) -> str:
        words = [self.word(ru) for _ in range(self.rng.randrange(3, 8))]
        if self.rng.random() < 0.15:
            words.append(self.rng.choice(self.codes))
        text = " ".join(words)
        return f"{text[0].upper()}{text[1:]} ({number})"

    def body(self, ru: bool) -> str:
        rng = self.rng
        sections = SECTION_RU if ru else SECTION_EN
        parts = []
        for heading in rng.sample(sections, rng.randrange(3, 7)):
            parts.append(f"## {heading}")
            if rng.random() < 0.4:
                parts.append("\n".join(f"{i}. {self.sentence(ru)}" for i in range(1, rng.randrange(3, 8))))
            else:
                parts.append(" ".join(self.sentence(ru) for _ in range(rng.randrange(3, 9))))
            if rng.random() < 0.2:
                parts.append(f"**{self.sentence(ru)}** [{self.word(ru)}](https://intranet.example/kb)")
        return "\n\n".join(parts)


# --- Loading ---------------------------------------------------------------------------------


class Weighted:
    def __init__(self, weights: Mapping[str, float], rng: random.Random) -> None:
        self.items = list(weights)
        self.cum = list(itertools.accumulate(weights.values()))
        self.rng = rng

    def __call__(self) -> str:
        return self.items[bisect.bisect_right(self.cum, self.rng.random() * self.cum[-1])]


def seed_world() -> None:
    if Organisation.objects.filter(is_provider=True).exists():
        log("world: already seeded, reusing it")
        return
    from tests.factories import build_world

    with transaction.atomic():
        build_world()
    log("world: seeded through the services")


def bench_users() -> dict[str, User]:
    """The L1 agent and a customer of the first organisation of the world, and the admin."""
    found = {
        "admin": User.objects.filter(role=Role.ADMIN).order_by("pk").first(),
        "agent": User.objects.filter(username="l1").first(),
        "customer": User.objects.filter(email="alex@alpha.test").first(),
    }
    users = {k: v for k, v in found.items() if v is not None}
    assert len(users) == len(found), f"the world has no {set(found) - set(users)}"
    return users


def load_articles(count: int, rng: random.Random, chunk: int = 5000) -> None:
    """Bulk-insert ``count`` articles with their tags, organisations and audience lines."""
    vendor = connection.vendor
    gen = TextGen(rng)
    kind, status, visibility = (
        Weighted(KIND_WEIGHTS, rng),
        Weighted(STATUS_WEIGHTS, rng),
        Weighted(VISIBILITY_WEIGHTS, rng),
    )
    owners = list(User.objects.filter(role__in=[Role.AGENT, Role.ADMIN]).values_list("pk", flat=True))
    org_a = Organisation.objects.get(short_name="alpha").pk
    org_b = Organisation.objects.get(short_name="beta").pk
    lines = [SupportLine.objects.get(code=c).pk for c in ("L2", "L3")]
    tag_ids = {}
    for name in TAGS:
        tag_ids[name] = Tag.objects.get_or_create(name=name)[0].pk
    first = (Article.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    now = dt.datetime.now(dt.UTC)
    columns = [
        "id", "kind", "title", "link_key", "body", "body_html", "language", "service", "status",
        "visibility", "is_limited", "owner_id", "created_by_id", "version", "created_at",
        "updated_at", "published_at", "review_due_on", "view_count", "helpful_count",
        "not_helpful_count", "ticket_count", "solved_count", "deflection_count",
    ]  # fmt: skip
    table = Article._meta.db_table
    started = time.perf_counter()
    for offset in range(0, count, chunk):
        rows: list[tuple[Any, ...]] = []
        tags: list[tuple[int, int]] = []
        orgs: list[tuple[int, int]] = []
        audience: list[tuple[int, int]] = []
        for pk in range(first + offset, first + min(count, offset + chunk)):
            ru = rng.random() < 0.65
            title = gen.title(ru, pk)
            body = gen.body(ru)
            vis, st, kd = visibility(), status(), kind()
            limited = vis == "internal" and rng.random() < 0.2
            created = now - dt.timedelta(days=rng.random() * 1000)
            owner = rng.choice(owners)
            service = gen.products() if kd == "operational" else ""
            html = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
            rows.append(
                (pk, kd, title, link_key(title), body, html, "ru" if ru else "en", service, st, vis,
                 limited, owner, owner, 1, created, created, created if st == "published" else None,
                 (created + dt.timedelta(days=365)).date(), rng.randrange(500), rng.randrange(20),
                 rng.randrange(5), rng.randrange(30), rng.randrange(10), rng.randrange(5))
            )  # fmt: skip
            tags.extend((pk, tag_ids[t]) for t in {gen.tags() for _ in range(rng.randrange(0, 4))})
            if vis == "organisations":
                orgs.append((pk, rng.choice([org_a, org_b])))
            if limited:
                audience.append((pk, rng.choice(lines)))
        with transaction.atomic():
            insert(table, columns, rows)
            insert(Article.tags.through._meta.db_table, ["article_id", "tag_id"], tags)
            insert(Article.organisations.through._meta.db_table, ["article_id", "organisation_id"], orgs)
            insert(Article.audience_lines.through._meta.db_table, ["article_id", "supportline_id"], audience)
        done = min(count, offset + chunk)
        log(f"  {done:>8,} articles  {time.perf_counter() - started:6.1f} s")
    if vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )


def insert(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    cols = ", ".join(f'"{c}"' for c in columns)
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        with connection.connection.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("%s" for _ in columns)
        with connection.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)  # noqa: S608


# --- Measuring -------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def search_queries(gen: TextGen, rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` (class, query) pairs: words by how common they are, in both languages, two
    words, a phrase, an exclusion, error codes and host names, product names, no match."""
    ru, en = gen.ru.items, gen.en.items

    def form(groups: list[list[str]], lo: int, hi: int) -> str:
        return rng.choice(groups[rng.randrange(lo, min(hi, len(groups)))])

    makers: dict[str, Callable[[], str]] = {
        "ru common": lambda: form(ru, 0, 10),
        "ru medium": lambda: form(ru, 40, 170),
        "ru rare": lambda: rng.choice(gen.tail_ru),
        "en common": lambda: form(en, 0, 10),
        "en medium": lambda: form(en, 40, 130),
        "en rare": lambda: rng.choice(gen.tail_en),
        "two words": lambda: f"{form(ru, 0, 40)} {form(ru, 10, 150)}",
        "ru + en": lambda: f"{form(ru, 0, 60)} {form(en, 0, 60)}",
        "phrase": lambda: f'"{form(ru, 0, 30)} {form(ru, 0, 30)}"',
        "exclusion": lambda: f"{form(ru, 0, 20)} -{form(ru, 0, 20)}",
        "code": lambda: rng.choice(gen.codes),
        "product": lambda: str(gen.products()),
        "no match": lambda: rng.choice(["zeppelin", "квазар", "дирижабль", "xylophone"]),
    }
    names = list(makers)
    return [(name, makers[name]()) for name in (names[i % len(names)] for i in range(n))]


def suggest_texts(gen: TextGen, rng: random.Random, n: int) -> list[tuple[str, str]]:
    """Subjects as they are typed: a realistic subject cut after 3..all of its characters."""
    out: list[tuple[str, str]] = []
    while len(out) < n:
        ru = rng.random() < 0.65
        subject = " ".join(gen.word(ru) for _ in range(rng.randrange(2, 7)))
        cut = rng.randrange(3, len(subject) + 1)
        typed = subject[:cut]
        words = len(typed.split())
        out.append((f"{min(words, 4)}{'+' if words >= 4 else ''} word(s)", typed))
    return out


def measure(label: str, calls: list[tuple[str, Callable[[], Any]]]) -> list[float]:
    by_class: dict[str, list[float]] = {}
    everything: list[float] = []
    for name, call in calls:
        started = time.perf_counter()
        call()
        ms = (time.perf_counter() - started) * 1000
        by_class.setdefault(name, []).append(ms)
        everything.append(ms)
    log(
        f"\n{label}: {len(everything)} calls  p50 {percentile(everything, 50):.1f} ms  "
        f"p95 {percentile(everything, 95):.1f} ms  max {max(everything):.1f} ms"
    )
    for name, values in by_class.items():
        log(
            f"    {name:<14} n={len(values):<4} p50 {percentile(values, 50):6.1f}  "
            f"p95 {percentile(values, 95):6.1f}  max {max(values):6.1f} ms"
        )
    return everything


def explain(label: str, call: Callable[[], Any]) -> None:
    """Run ``call`` and print PostgreSQL's plan of its first (matching and ranking) query."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    sql = captured.captured_queries[0]["sql"]
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
        plan = "\n".join(f"    {row[0]}" for row in cur.fetchall())
    log(f"\nplan of {label} ({len(captured.captured_queries)} queries in all):\n{plan}")


def run(args: argparse.Namespace) -> None:
    users = bench_users()
    gen = TextGen(random.Random(args.seed))  # the loader's vocabulary, in the same order
    rng = random.Random(args.seed + 1)
    queries = search_queries(gen, rng, args.queries)
    typed = suggest_texts(gen, rng, args.queries)
    # Warm up: caches of the agent's scope, connection, buffers.
    for _name, q in queries[:30]:
        for user in users.values():
            search.search_articles(user, q)
    results: dict[str, list[float]] = {}
    for who in ("agent", "customer", "admin"):
        results[f"search, {who}"] = measure(
            f"search_articles as {who}",
            [(name, functools.partial(search.search_articles, users[who], q)) for name, q in queries],
        )
    for who in ("agent", "customer"):
        results[f"suggest, {who}"] = measure(
            f"suggest_articles as {who}",
            [(name, functools.partial(search.suggest_articles, users[who], t)) for name, t in typed],
        )
    log("\nsummary (ms)      p50    p95    max")
    for label, values in results.items():
        log(f"  {label:<16} {percentile(values, 50):5.1f}  {percentile(values, 95):5.1f}  {max(values):5.1f}")
    if args.plans and connection.vendor == "postgresql":
        common = gen.ru.items[0][0]
        explain(f"search '{common}' as customer", lambda: search.search_articles(users["customer"], common))
        explain(f"search '{common}' as agent", lambda: search.search_articles(users["agent"], common))
        explain(
            "suggest 'принтер не печ' as customer",
            lambda: search.suggest_articles(users["customer"], "принтер не печ"),
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=None, help="100,000 on PostgreSQL, 10,000 on SQLite")
    parser.add_argument("--skip-load", action="store_true", help="measure the loaded database again")
    parser.add_argument("--queries", type=int, default=360, help="queries per user and function")
    parser.add_argument("--plans", action="store_true", help="print PostgreSQL's plans (EXPLAIN ANALYZE)")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    count = args.articles or (100_000 if connection.vendor == "postgresql" else 10_000)
    seed_world()
    if not args.skip_load:
        log(f"loading {count:,} articles into {connection.vendor}")
        load_articles(count, random.Random(args.seed))
        started = time.perf_counter()
        indexed = search.reindex_articles()
        log(f"indexed {indexed:,} articles in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    elif connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE kb_article")
    log(f"{Article.objects.count():,} articles, {connection.vendor}")
    run(args)


if __name__ == "__main__":
    main()
