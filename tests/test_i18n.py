"""The Russian message catalogue: complete, up to date with the code, compiled, and actually used.

The catalogue lives in ``src/tierdesk/locale/ru/LC_MESSAGES/``; both ``django.po`` and the
compiled ``django.mo`` are committed. After adding or changing a gettext string, run
``bin/update-messages`` (``make messages``), translate the new or fuzzy entries in django.po
and run it again to recompile. These tests say which entries still need work.

The .po parser below is deliberately small (stdlib only): msgctxt, msgid, msgid_plural,
msgstr, msgstr[n], continuation lines, flags ("#, fuzzy, python-format") and obsolete ("#~")
entries. That is all that makemessages/msgmerge write.
"""

from __future__ import annotations

import gettext
import os
import re
import shutil
import string
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from tierdesk.common.errors import DomainError
from tierdesk.common.limits import clean_text

REPO = Path(__file__).resolve().parents[1]
SRC_DIR = REPO / "src" / "tierdesk"
LOCALE = "ru"
PO_PATH = SRC_DIR / "locale" / LOCALE / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")
UPDATE_SCRIPT = REPO / "bin" / "update-messages"

# The options bin/update-messages passes to makemessages (checked below to stay in sync).
MAKEMESSAGES_IGNORES = [".venv", "var", "tests", "bench", "docs", "*.egg-info", "node_modules"]
MAKEMESSAGES_OPTIONS = ["--no-location", *(f"--ignore={pattern}" for pattern in MAKEMESSAGES_IGNORES)]

NPLURALS = 3
PLURAL_FORMS = (
    "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
)
CYRILLIC = re.compile("[\u0400-\u04ff]")  # any Cyrillic letter


# --- A small .po parser -----------------------------------------------------------------------


@dataclass
class PoEntry:
    msgid: str
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False
    line: int = 0

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.msgctxt, self.msgid)

    @property
    def is_header(self) -> bool:
        return self.msgid == "" and self.msgctxt is None

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    @property
    def forms(self) -> list[str]:
        return [self.msgstr[index] for index in sorted(self.msgstr)]

    def __str__(self) -> str:
        context = f"[{self.msgctxt}] " if self.msgctxt is not None else ""
        return f"line {self.line}: {context}{self.msgid!r}"


_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")$")
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unquote(token: str, line: int) -> str:
    """The value of one C string literal as gettext writes it: ``"a \\"b\\"\\n"``."""
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise ValueError(f"django.po line {line}: expected a quoted string, got {token!r}")

    def replace(match: re.Match[str]) -> str:
        octal, hexa, char = match.groups()
        if octal:
            return chr(int(octal, 8))
        if hexa:
            return chr(int(hexa, 16))
        return _SIMPLE_ESCAPES.get(char, char)

    return _ESCAPE.sub(replace, token[1:-1])


def parse_po(text: str) -> list[PoEntry]:
    """All entries of a .po file, the header (msgid "") and obsolete ones included."""
    entries: list[PoEntry] = []
    flags: set[str] = set()
    fields: dict[str, str] = {}
    plural_forms: dict[int, str] = {}
    last: tuple[str, int | None] | None = None
    start = 0
    obsolete = False

    def finish() -> None:
        nonlocal fields, plural_forms, flags, last, obsolete
        if "msgid" in fields:
            msgstr = dict(plural_forms)
            if "msgstr" in fields:
                msgstr[0] = fields["msgstr"]
            entries.append(
                PoEntry(
                    msgid=fields["msgid"],
                    msgctxt=fields.get("msgctxt"),
                    msgid_plural=fields.get("msgid_plural"),
                    msgstr=msgstr,
                    flags=flags,
                    obsolete=obsolete,
                    line=start,
                )
            )
        fields, plural_forms, flags, last, obsolete = {}, {}, set(), None, False

    def has_msgstr() -> bool:
        return "msgstr" in fields or bool(plural_forms)

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        line_obsolete = False
        if line.startswith("#~"):
            line, line_obsolete = line[2:].strip(), True
            if line.startswith("|"):  # previous msgid of an obsolete fuzzy entry
                continue
        if not line:
            finish()
            continue
        if line.startswith("#"):
            if has_msgstr():  # a new entry starts without a blank line before it
                finish()
            if line.startswith("#,"):
                flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith('"'):
            if last is None:
                raise ValueError(f"django.po line {number}: a string continues no keyword")
            name, index = last
            if name == "msgstr" and index is not None:
                plural_forms[index] += _unquote(line, number)
            else:
                fields[name] += _unquote(line, number)
            continue
        match = _KEYWORD.match(line)
        if match is None:
            raise ValueError(f"django.po line {number}: cannot parse {raw!r}")
        keyword, index_text, token = match.groups()
        name = "msgstr" if keyword.startswith("msgstr") else keyword
        if name in ("msgctxt", "msgid") and (has_msgstr() or (name == "msgctxt" and "msgid" in fields)):
            finish()
        if name in ("msgctxt", "msgid") and not fields:
            start = number
        obsolete = obsolete or line_obsolete
        value = _unquote(token, number)
        if index_text is not None:
            plural_forms[int(index_text)] = value
            last = ("msgstr", int(index_text))
        else:
            fields[name] = value
            last = (name, None)
    finish()
    return entries


def header_fields(entries: list[PoEntry]) -> dict[str, str]:
    header = next((e for e in entries if e.is_header and not e.obsolete), None)
    assert header is not None, 'django.po has no header entry (msgid "")'
    return {
        name.strip(): value.strip()
        for name, _, value in (line.partition(":") for line in header.msgstr.get(0, "").splitlines())
        if name.strip()
    }


def messages(entries: list[PoEntry]) -> list[PoEntry]:
    """The live entries: no header, no obsolete ones."""
    return [e for e in entries if not e.is_header and not e.obsolete]


@pytest.fixture(scope="module")
def committed() -> list[PoEntry]:
    assert PO_PATH.is_file(), f"{PO_PATH} is missing: run bin/update-messages"
    return parse_po(PO_PATH.read_text(encoding="utf-8"))


def test_parser_reads_plurals_contexts_flags_and_obsolete_entries() -> None:
    """The parser itself, on the shapes gettext writes (so the checks below mean something)."""
    sample = "\n".join(
        [
            'msgid ""',
            'msgstr ""',
            '"Language: ru\\n"',
            'msgid "Joined"',
            'msgstr "Склеено"',
            "",
            "#, fuzzy, python-format",
            '#| msgid "Old"',
            'msgctxt "ticket"',
            'msgid "%(count)d day"',
            'msgid_plural ""',
            '"%(count)d days"',
            'msgstr[0] "%(count)d день"',
            'msgstr[1] "%(count)d дня"',
            'msgstr[2] ""',
            "",
            "#, fuzzy",
            '#~ msgid "Gone"',
            '#~ msgstr "Нет"',
            "",
            'msgid "Say \\"hi\\"\\n"',
            'msgstr ""',
        ]
    )
    entries = parse_po(sample)
    assert [e.msgid for e in entries] == ["", "Joined", "%(count)d day", "Gone", 'Say "hi"\n']
    header, joined, plural, gone, quoted = entries
    assert header.is_header and header_fields(entries) == {"Language": "ru"}
    assert joined.forms == ["Склеено"] and not joined.flags
    assert plural.msgctxt == "ticket" and plural.msgid_plural == "%(count)d days"
    assert plural.forms == ["%(count)d день", "%(count)d дня", ""]
    assert plural.flags == {"fuzzy", "python-format"}
    assert gone.obsolete and gone.fuzzy
    assert quoted.forms == [""] and not quoted.flags and not quoted.obsolete


# --- (a) the committed catalogue is complete ----------------------------------------------------


def test_header_declares_russian_utf8_and_plural_forms(committed: list[PoEntry]) -> None:
    header = header_fields(committed)
    assert header.get("Language") == LOCALE
    assert "charset=UTF-8" in header.get("Content-Type", "")
    assert " ".join(header.get("Plural-Forms", "").split()) == PLURAL_FORMS
    fuzzy_header = [e for e in committed if e.is_header and e.fuzzy]
    assert not fuzzy_header, "the header is marked fuzzy: remove '#, fuzzy' above msgid \"\""


def test_every_message_is_translated_and_none_is_fuzzy(committed: list[PoEntry]) -> None:
    live = messages(committed)
    assert live, "django.po has no messages: run bin/update-messages"
    fuzzy = [str(e) for e in live if e.fuzzy]
    untranslated = [str(e) for e in live if not e.forms or not all(form.strip() for form in e.forms)]
    wrong_forms = [
        str(e) for e in live if e.msgid_plural is not None and sorted(e.msgstr) != list(range(NPLURALS))
    ]
    assert not fuzzy, f"fuzzy entries in {PO_PATH} (check the translation, drop the flag): {fuzzy}"
    assert not untranslated, f"untranslated entries in {PO_PATH}: {untranslated}"
    assert not wrong_forms, f"plural entries need exactly msgstr[0..{NPLURALS - 1}]: {wrong_forms}"


_PERCENT = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?P<conversion>[diouxXeEfFgGcrsa%])"
)


def _percent_placeholders(text: str) -> tuple[frozenset[tuple[str, str]], tuple[str, ...]]:
    named: set[tuple[str, str]] = set()
    positional: list[str] = []
    for match in _PERCENT.finditer(text):
        if match["conversion"] == "%":
            continue
        if match["name"] is not None:
            named.add((match["name"], match["conversion"]))
        else:
            positional.append(match["conversion"])
    return frozenset(named), tuple(positional)


def _brace_placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def test_translations_keep_the_placeholders(committed: list[PoEntry]) -> None:
    """Every form keeps every placeholder: in Russian even form 0 serves 21, 31, ... so it
    needs %(count)d too. A lost or misspelt placeholder would raise at run time."""
    problems = []
    for entry in messages(committed):
        sources = [entry.msgid] + ([entry.msgid_plural] if entry.msgid_plural is not None else [])
        for index, form in sorted(entry.msgstr.items()):
            if "python-format" in entry.flags:
                expected_named = frozenset().union(*(_percent_placeholders(s)[0] for s in sources))
                named, positional = _percent_placeholders(form)
                if named != expected_named or positional != _percent_placeholders(sources[-1])[1]:
                    problems.append(f"{entry} msgstr[{index}] {form!r}")
            elif "python-brace-format" in entry.flags:
                expected = frozenset().union(*(_brace_placeholders(s) for s in sources))
                if _brace_placeholders(form) != expected:
                    problems.append(f"{entry} msgstr[{index}] {form!r}")
    assert not problems, f"placeholders differ from the msgid: {problems}"


def test_translations_are_not_copied_english(committed: list[PoEntry]) -> None:
    """A msgstr identical to its msgid is only fine for codes and acronyms ("API", "SHA-256") and
    for pure formats such as "%(field)s: %(old)s → %(new)s" (no words of their own)."""
    copied = [
        str(e)
        for e in messages(committed)
        if re.search(r"[a-z]{2}", _PERCENT.sub("", e.msgid))
        and any(form in (e.msgid, e.msgid_plural) for form in e.forms)
    ]
    assert not copied, f"entries 'translated' by copying the English text: {copied}"


# --- (b) the catalogue is up to date with the code -----------------------------------------------


@pytest.fixture(scope="module")
def code_messages(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str | None, str], PoEntry]:
    """Run makemessages (the options of bin/update-messages) on a copy of src/tierdesk with an
    empty locale directory and no Django settings, so nothing in the repository is touched."""
    if shutil.which("xgettext") is None:
        pytest.skip("xgettext (GNU gettext) is not installed: cannot extract the messages from the code")
    missing = [tool for tool in ("msguniq", "msgmerge", "msgattrib") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"GNU gettext tools missing ({', '.join(missing)}): cannot run makemessages")
    tree = tmp_path_factory.mktemp("i18n") / "tierdesk"
    shutil.copytree(SRC_DIR, tree, ignore=shutil.ignore_patterns("locale", "__pycache__", "*.pyc"))
    (tree / "locale").mkdir()
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "django", "makemessages", "-l", LOCALE, *MAKEMESSAGES_OPTIONS],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"makemessages failed:\n{result.stdout}\n{result.stderr}"
    extracted = tree / "locale" / LOCALE / "LC_MESSAGES" / "django.po"
    assert extracted.is_file(), f"makemessages wrote no catalogue:\n{result.stdout}\n{result.stderr}"
    return {e.key: e for e in messages(parse_po(extracted.read_text(encoding="utf-8")))}


def test_every_message_in_the_code_is_in_the_catalogue_and_translated(
    code_messages: dict[tuple[str | None, str], PoEntry], committed: list[PoEntry]
) -> None:
    assert code_messages, "makemessages found no gettext strings in src/tierdesk"
    catalogue = {e.key: e for e in messages(committed)}
    missing = [str(e) for key, e in code_messages.items() if key not in catalogue]
    plural_changed = [
        str(e)
        for key, e in code_messages.items()
        if key in catalogue and catalogue[key].msgid_plural != e.msgid_plural
    ]
    untranslated = [
        str(catalogue[key])
        for key in code_messages
        if key in catalogue
        and (catalogue[key].fuzzy or not catalogue[key].forms or not all(catalogue[key].forms))
    ]
    hint = "run bin/update-messages and translate the new entries"
    assert not missing, f"strings in the code missing from {PO_PATH.name} ({hint}): {missing}"
    assert not plural_changed, f"plural forms changed in the code ({hint}): {plural_changed}"
    assert not untranslated, f"strings in the code without a translation ({hint}): {untranslated}"


def test_update_script_uses_the_same_makemessages_options() -> None:
    assert UPDATE_SCRIPT.is_file(), f"{UPDATE_SCRIPT} is missing"
    assert os.access(UPDATE_SCRIPT, os.X_OK), f"{UPDATE_SCRIPT} is not executable"
    script = UPDATE_SCRIPT.read_text(encoding="utf-8")
    assert "makemessages -l ru --no-location" in script
    assert "compilemessages -l ru" in script
    ignores = [pattern.strip("'\"") for pattern in re.findall(r"--ignore=(\S+)", script)]
    # (compilemessages' --ignore=.venv and --ignore=bench are in the makemessages list as well.)
    assert set(ignores) == set(MAKEMESSAGES_IGNORES), "keep MAKEMESSAGES_IGNORES in sync with the script"


# --- (c) the committed .mo is the compiled .po --------------------------------------------------


def _load_mo(path: Path) -> gettext.GNUTranslations:
    with path.open("rb") as handle:
        return gettext.GNUTranslations(handle)


def test_committed_mo_matches_the_po(tmp_path: Path) -> None:
    if shutil.which("msgfmt") is None:
        pytest.skip("msgfmt (GNU gettext) is not installed: cannot compile the .po to compare")
    assert MO_PATH.is_file(), f"{MO_PATH} is missing: run bin/update-messages"
    fresh = tmp_path / "django.mo"
    result = subprocess.run(  # noqa: S603
        ["msgfmt", "--check-format", "-o", str(fresh), str(PO_PATH)],  # noqa: S607 - found on PATH above
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"msgfmt refuses {PO_PATH}:\n{result.stderr}"
    committed_mo, compiled = _load_mo(MO_PATH), _load_mo(fresh)
    stale = sorted(
        repr(key)
        for key in set(committed_mo._catalog) | set(compiled._catalog)  # type: ignore[attr-defined]
        if committed_mo._catalog.get(key) != compiled._catalog.get(key)  # type: ignore[attr-defined]
    )
    assert not stale, f"{MO_PATH.name} is stale (run bin/update-messages); differing messages: {stale}"


def test_compiled_plural_rule_is_russian() -> None:
    plural = _load_mo(MO_PATH).plural  # type: ignore[attr-defined]  # set from the Plural-Forms header
    forms = {n: plural(n) for n in (0, 1, 2, 4, 5, 11, 12, 14, 21, 22, 25, 101, 111, 112, 1001)}
    assert forms == {
        0: 2,
        1: 0,
        2: 1,
        4: 1,
        5: 2,
        11: 2,
        12: 2,
        14: 2,
        21: 0,
        22: 1,
        25: 2,
        101: 0,
        111: 2,
        112: 2,
        1001: 0,
    }


# --- (d) users get Russian -------------------------------------------------------------------------


def _rendered(entries: list[PoEntry], **params: object) -> set[str]:
    """Every translation of the catalogue as it reads with ``params`` substituted."""
    texts = set()
    for entry in messages(entries):
        for form in entry.forms:
            try:
                texts.add(form % params if "python-format" in entry.flags else form)
            except (KeyError, TypeError, ValueError):
                continue
    return texts


def test_impact_urgency_and_priority_agree_with_their_nouns_in_russian() -> None:
    """One English "High", three Russian genders: «влияние» (neuter), «срочность» (feminine),
    «приоритет» (masculine)."""
    from tierdesk.tickets.choices import Impact, Priority, Urgency

    with translation.override("ru"):
        labels = [(str(Impact(n).label), str(Urgency(n).label)) for n in (1, 2, 3)]
        priorities = [str(p.label) for p in Priority]
    assert labels == [("Высокое", "Высокая"), ("Среднее", "Средняя"), ("Низкое", "Низкая")]
    assert priorities == ["Критический", "Высокий", "Средний", "Низкий", "Плановый"]
    with translation.override("en"):
        assert (Impact.HIGH.label, Urgency.LOW.label, Priority.MEDIUM.label) == ("High", "Low", "Medium")


def test_domain_error_from_a_service_is_russian(committed: list[PoEntry]) -> None:
    with translation.override(LOCALE), pytest.raises(DomainError) as russian:
        clean_text("", field="subject", max_chars=10, required=True)
    with translation.override("en"), pytest.raises(DomainError) as english:
        clean_text("", field="subject", max_chars=10, required=True)
    message = russian.value.message
    assert CYRILLIC.search(message), message
    assert "subject" in message
    assert message in _rendered(committed, field="subject")
    assert not CYRILLIC.search(english.value.message)
    assert russian.value.field == english.value.field == "subject"


@pytest.mark.django_db
def test_api_answers_an_anonymous_request_in_the_requested_language(committed: list[PoEntry]) -> None:
    # LocaleMiddleware leaves the request's language active in this thread; override restores it.
    with translation.override("en"):
        russian = Client().get("/api/v1/me", headers={"Accept-Language": "ru"})
        english = Client().get("/api/v1/me", headers={"Accept-Language": "en"})
    assert russian.status_code == english.status_code == 401
    assert russian["Content-Language"] == LOCALE
    detail = russian.json()["detail"]
    assert CYRILLIC.search(detail), detail
    assert detail in _rendered(committed)
    assert russian.json()["code"] == english.json()["code"] == "not_authenticated"
    assert not CYRILLIC.search(english.json()["detail"])


def test_request_size_limit_message_follows_accept_language() -> None:
    with translation.override("en"):
        response = Client().generic(
            "POST",
            "/api/v1/tickets",
            b"",
            content_type="application/json",
            headers={"Accept-Language": "ru"},
            CONTENT_LENGTH=str(10**12),
        )
    assert response.status_code == 413
    assert CYRILLIC.search(response.json()["detail"]), response.json()["detail"]


@pytest.mark.django_db
def test_a_persons_chosen_language_wins_over_the_browser() -> None:
    from tests.factories import build_world
    from tierdesk.accounts.services import update_user

    world = build_world()
    update_user(world.customer_a, actor=world.admin, changes={"language": "ru"})
    token = world.token(world.customer_a)
    response = Client().post(
        "/api/v1/tickets",
        data={"subject": "   "},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert CYRILLIC.search(response.json()["detail"]), response.json()["detail"]
