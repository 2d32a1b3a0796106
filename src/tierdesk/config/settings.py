"""Django settings for Tierdesk.

Everything comes from the environment (see README, "Configuration"). The defaults describe the
embedded single-machine mode: SQLite in WAL mode, a Celery broker kept in a SQLite file, files
under ``var/``. Production sets ``DATABASE_URL`` (PostgreSQL), ``CELERY_BROKER_URL`` (Redis or
RabbitMQ), ``TIERDESK_SECRET_KEY`` and ``TIERDESK_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parents[3]

env = environ.Env()

DEBUG = env.bool("TIERDESK_DEBUG", default=False)

# Where uploaded files, the SQLite database and the embedded broker live.
DATA_DIR = Path(env.str("TIERDESK_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()


def _secret_key() -> str:
    """The secret key comes from the environment, a file, or is generated once into DATA_DIR.

    A generated key is written to ``DATA_DIR/secret_key`` (mode 0600) so that sessions and
    tokens survive restarts of the embedded mode; production passes its own.
    """
    if key := env.str("TIERDESK_SECRET_KEY", default=""):
        return key
    if path := env.str("TIERDESK_SECRET_KEY_FILE", default=""):
        return Path(path).read_text().strip()
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    if not DEBUG and env.bool("TIERDESK_REQUIRE_SECRET_KEY", default=False):
        raise ImproperlyConfigured("Set TIERDESK_SECRET_KEY or TIERDESK_SECRET_KEY_FILE.")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.touch(mode=0o600)
    key_file.write_text(key)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("TIERDESK_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("TIERDESK_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "ninja",
    "django_htmx",
    "tierdesk.common",
    "tierdesk.accounts",
    "tierdesk.orgs",
    "tierdesk.audit",
    "tierdesk.tickets",
    "tierdesk.workspace",
    "tierdesk.portal",
    "tierdesk.sla",
    "tierdesk.mail",
    "tierdesk.kb",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tierdesk.common.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # After LocaleMiddleware, so the 413 it may answer is in the caller's language.
    "tierdesk.common.middleware.RequestGuardMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in person's chosen language wins over the cookie and the browser's guess.
    "tierdesk.common.middleware.UserLanguageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tierdesk.config.urls"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
ASGI_APPLICATION = "tierdesk.config.asgi.application"
WSGI_APPLICATION = "tierdesk.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]
# Selects are rendered in Python (same markup, ~40x faster than an include per option).
FORM_RENDERER = "tierdesk.common.forms.FormRenderer"

# --- Database -------------------------------------------------------------------------------
# SQLite by default (WAL, IMMEDIATE transactions so that the web server and the worker queue
# for the write lock instead of failing with "database is locked"); PostgreSQL via DATABASE_URL.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'tierdesk.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "TIERDESK_DB_POOL", default=True
):
    # A connection pool per process (psycopg_pool through Django): with CONN_MAX_AGE = 0 each
    # request would otherwise open its own connection, which costs more than a queue page's
    # queries; the pool also bounds the connections of a server's threads.
    # Django requires CONN_MAX_AGE = 0 with a pool; the pool keeps the connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # .iterator() (e.g. the options of every select on a page) would otherwise DECLARE, FETCH
    # and CLOSE a server-side cursor: three round trips for a handful of rows.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("TIERDESK_DB_POOL_MIN", default=2),
        "max_size": env.int("TIERDESK_DB_POOL_MAX", default=10),
        "timeout": 10,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = env.str("TIERDESK_LANGUAGE", default="en")
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "src" / "tierdesk" / "locale"]
TIME_ZONE = env.str("TIERDESK_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on a missing directory
MEDIA_ROOT = Path(env.str("TIERDESK_STORAGE_PATH", default=str(DATA_DIR / "media"))).resolve()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Largest accepted attachment; larger uploads are refused before anything is stored.
TIERDESK_MAX_ATTACHMENT_BYTES = env.int("TIERDESK_MAX_ATTACHMENT_BYTES", default=25 * 1024 * 1024)
# Django refuses request bodies above this outside file fields (JSON API bodies).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("TIERDESK_MAX_REQUEST_BYTES", default=2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

TIERDESK_TICKET_PREFIX = env.str("TIERDESK_TICKET_PREFIX", default="TD")

# --- Background work ------------------------------------------------------------------------
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL", default=f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}"
)
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND", default=f"db+sqlite:///{DATA_DIR / 'celery-results.sqlite3'}"
)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# The SLA sweep every 30 s; IMAP mailboxes polled every minute (`tierdesk watch_mailboxes`
# adds IMAP IDLE for mail within seconds); the outbox delivered every minute besides the kick
# each commit gives it (this picks up retries). `make run` embeds the scheduler in its worker
# (--beat); production runs one `celery beat` beside the workers (a second scheduler only adds
# runs, which are safe to overlap).
CELERY_BEAT_SCHEDULE = {
    "sla-sweep": {"task": "tierdesk.sla.sweep", "schedule": 30.0},
    "mail-poll": {"task": "tierdesk.mail.poll_mailboxes", "schedule": 60.0},
    "mail-deliver": {"task": "tierdesk.mail.deliver", "schedule": 60.0},
    # Owners of knowledge base articles whose review is overdue: once a day, in the morning UTC.
    "kb-review-reminders": {"task": "tierdesk.kb.review_reminders", "schedule": crontab(hour=6, minute=0)},
    # Account claims whose confirmation link expired: they keep an unproven password's hash.
    "portal-purge-claims": {"task": "tierdesk.portal.purge_claims", "schedule": crontab(hour=3, minute=30)},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Outgoing mail --------------------------------------------------------------------------
# Password resets and invitations. The single-machine default prints mails to the server's log;
# production sets e.g. smtp+tls://user:password@mail.example.com:587.
_email = env.email_url("TIERDESK_EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
DEFAULT_FROM_EMAIL = env.str("TIERDESK_FROM_EMAIL", default="Tierdesk <tierdesk@localhost>")
# Notifications (tierdesk.mail): the domain of the Message-IDs Tierdesk writes (replies thread
# back by them; default: the domain of the From address), and the address people reach the
# desk at, for the absolute links in mails (the portal, the workspace, the rating page).
TIERDESK_MAIL_DOMAIN = env.str(
    "TIERDESK_MAIL_DOMAIN", default=DEFAULT_FROM_EMAIL.rstrip(">").rpartition("@")[2] or "localhost"
)
TIERDESK_BASE_URL = env.str("TIERDESK_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- Caches ---------------------------------------------------------------------------------
# Rate limits of the public forms count in the cache: per process by default, shared when
# TIERDESK_CACHE_URL points at Redis (redis://127.0.0.1:6379/2), as production should.
CACHES = {"default": env.cache_url("TIERDESK_CACHE_URL", default="locmemcache://")}

# --- Portal ---------------------------------------------------------------------------------
# The public web form and the call-back request accept COUNT submissions per client address
# within SECONDS ("5/600": five in ten minutes).
_form_rate = (env.str("TIERDESK_PORTAL_FORM_RATE", default="") or "5/600").partition("/")
if not (_form_rate[0].strip().isdigit() and _form_rate[2].strip().isdigit()) or int(_form_rate[2]) < 1:
    raise ImproperlyConfigured("TIERDESK_PORTAL_FORM_RATE must read COUNT/SECONDS, e.g. 5/600.")
TIERDESK_PORTAL_FORM_RATE = (int(_form_rate[0]), int(_form_rate[2]))
# Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For names the client; empty:
# the header is ignored and the connecting address is the client.
TIERDESK_TRUSTED_PROXIES = env.list("TIERDESK_TRUSTED_PROXIES", default=[])

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("TIERDESK_BEHIND_TLS_PROXY", default=False) else None
)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("TIERDESK_SECURE_COOKIES", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("TIERDESK_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# E-mail channel (tierdesk.mail). A received message larger than this is quarantined (LMTP
# refuses it with 552); a sender who writes more than COUNT messages in SECONDS is ignored
# until the window passes (mail storms, loops with other robots).
TIERDESK_MAIL_MAX_BYTES = env.int("TIERDESK_MAIL_MAX_BYTES", default=40 * 1024 * 1024)
_sender_rate = (env.str("TIERDESK_MAIL_SENDER_RATE", default="") or "30/3600").partition("/")
if not (_sender_rate[0].isdigit() and _sender_rate[2].isdigit()):
    raise ImproperlyConfigured("TIERDESK_MAIL_SENDER_RATE must read COUNT/SECONDS, e.g. 30/3600.")
TIERDESK_MAIL_SENDER_RATE = (int(_sender_rate[0]), int(_sender_rate[2]))
