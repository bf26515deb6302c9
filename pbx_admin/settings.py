"""Settings for the PBX extension dashboard.

Everything that differs between machines comes from the environment (see `.env.example`).
No secret has a default outside debug mode, and with DEBUG off the app servers refuse to start
until every setting in PRODUCTION_SETTINGS is set (core.checks).
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
import redis
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_networks(name: str) -> list[str]:
    """IP addresses / CIDR networks, normalised (`10.0.0.1` → `10.0.0.1/32`). A typo must not
    quietly trust nothing, or trust the wrong hosts: an entry that is not one is an error."""
    networks = []
    for entry in env_list(name):
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {entry!r} is not an IP address or network.") from None
    return networks


DEBUG = env_bool("DJANGO_DEBUG", False)
# With DEBUG on, error pages are still the branded ones (core.middleware.BrandedErrorPagesMiddleware)
# unless this is on: then Django's technical 404 and 500 pages, for a developer.
DEBUG_PAGES = env_bool("DJANGO_DEBUG_PAGES", False)

# What production must set, and what for. With DEBUG off, the app servers (pbx_admin/wsgi.py,
# asgi.py) refuse to start and `check --deploy` fails, naming every one that is missing
# (core.checks); management commands are never stopped (migrate, create_tenant, …), so the
# development defaults below stay for them. Secrets have no default outside debug mode: any
# use of a missing one raises ImproperlyConfigured.
PRODUCTION_SETTINGS = {
    "DJANGO_SECRET_KEY": "signs sessions, CSRF tokens and signed links",
    "SIP_ENCRYPTION_KEYS": "Fernet keys that encrypt the stored SIP passwords",
    "DJANGO_ALLOWED_HOSTS": "the host names the dashboard answers to, e.g. pbx.example.vn",
    "DATABASE_URL": "the PostgreSQL database (without it the app would run on an embedded SQLite file)",
    "REDIS_URL": "the cache all app servers share (sessions, reveal rate limits)",
    "SIP_DOMAIN_SUFFIX": "the suffix of every hotline's SIP domain, e.g. sip.example.vn",
    "SIP_OUTBOUND_PROXY": "the SIP server's host:port shown in the login info",
    "SIP_WEBSOCKET_URL": "the wss:// address of the SIP server shown in the login info",
}

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",
    "core",
    "tenants",
    "hotlines",
    "extensions",
    "audit",
    "axes",
    "webhooks",
    "dialplan",
    "sip",
    "monitoring",
    # The task queue's worker command, `manage.py run_huey` (HUEY below).
    "huey.contrib.djhuey",
]

MIDDLEWARE = [
    # First, so it times every request and counts every response (monitoring.metrics).
    "monitoring.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.DefaultLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "core.middleware.BrandedErrorPagesMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pbx_admin.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "tenants.context_processors.membership",
            ],
            # {% cached_url %} on every page: {% url %} for id arguments, reversed once. With the
            # "fragments" cache below it takes ~11 % off the list page (measured paired:
            # bench/bench_template_caches.py, docs/performance.md "Template caches").
            "builtins": ["core.templatetags.cached_urls"],
        },
    },
]

WSGI_APPLICATION = "pbx_admin.wsgi.application"

# SQLite is only the embedded default so `make run` works on a bare machine; PostgreSQL is
# the production database and what the test suite and the SIP server use.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The `make run` demo only (production is PostgreSQL). WAL lets Kamailio and the pages read
    # while one writer writes; SQLite has one writer at a time, and every other write waits for
    # it rather than fail with "database is locked". IMMEDIATE takes the write lock when the
    # transaction begins, where SQLite waits for it (a read turned write mid-transaction would
    # fail at once instead). `timeout` is that wait: the longest write (a 20,000-row CSV import
    # holds the lock ~8 s on a quiet 2-core machine; a 1,000-extension range ~0.5 s) with room
    # for a slow machine. Kamailio waits 20 s (kamailio.cfg). synchronous=NORMAL: in WAL mode a
    # commit no longer waits for fsync, so the lock is held for less (safe; a power cut may lose
    # the last commits, never the file).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A PostgreSQL that does not accept connections (down, unreachable, hung) fails the request in
    # seconds, as a 503 (core.views.server_error), instead of holding the worker; libpq's minimum
    # is 2 s. A connect_timeout in DATABASE_URL's query string wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # brute-force lockout before the password check
    # Django's ModelBackend, loading the membership with the user (one query, not two).
    "tenants.backends.MembershipModelBackend",
]
# Lock a (username, IP) pair out for 15 minutes after 5 failed sign-ins.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The branded 429 page, saying in minutes when signing in works again.
AXES_LOCKOUT_CALLABLE = "core.views.locked_out"
# The client address is core.net.client_ip's, as for the audit trail and share links (django-ipware
# is not installed; without this axes would see the proxy, and lock everyone behind it out).
AXES_CLIENT_IP_CALLABLE = "core.net.client_ip"
# A sign-in refused because of the lockout is not written down by axes (it would extend the lockout
# and append the POST data to the attempt row each time); the audit trail counts it instead.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Off (as by default): a row per failure, kept for ever. The audit trail records failures.
AXES_ENABLE_ACCESS_FAILURE_LOG = False

# Proxies (nginx, a load balancer) whose X-Real-IP / X-Forwarded-For headers are believed, as IP
# addresses or CIDR networks. Empty: no header is believed, the client is REMOTE_ADDR.
TRUSTED_PROXIES = env_networks("DJANGO_TRUSTED_PROXIES")

# Strict Content Security Policy: only our own files; no inline script or style anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Vietnamese first, English second; times in Vietnam's time zone.
LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", _("Vietnamese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True
# One date and number format per language, in one place (pbx_admin/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["pbx_admin.formats"]
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# frontend/build: the bundles npm builds from frontend/ (the web phone with JsSIP; `make js-deps`,
# also run by `make run` and `make test`), never committed.
STATICFILES_DIRS = [BASE_DIR / "static", BASE_DIR / "frontend" / "build"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis is a cache here (core.redis_pool): a request never waits long for it. A command that gets
# no answer within a quarter of a second fails (django-redis's default is redis-py's 5 s), and
# then the process leaves Redis alone for a few seconds. Failures are not ignored globally
# (IGNORE_EXCEPTIONS): sessions fall back to the database (core.sessions), the import progress
# bar goes without, and the guard refuses (503) rather than admit without counting.
REDIS_CACHE_OPTIONS = {
    "CLIENT_CLASS": "django_redis.client.DefaultClient",
    "CONNECTION_POOL_CLASS": "core.redis_pool.FailFastConnectionPool",
    "SOCKET_CONNECT_TIMEOUT": 0.25,
    "SOCKET_TIMEOUT": 0.25,
}
CACHES = {
    "default": (
        {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
    # Template fragments that depend only on the code, the language and a few ids ({% cache …
    # using="fragments" %}): kept in each process's memory, gone with it at a deploy. Kept
    # because it pays: with {% cached_url %}, ~11 % of the list page (docs/performance.md,
    # "Template caches"; rerun bench/bench_template_caches.py after changing the templates).
    "fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "fragments",
        "OPTIONS": {"MAX_ENTRIES": 5000},
    },
}
# Sessions are read from Redis on every request and kept in the database too (a restart of Redis
# signs nobody out; while Redis is down or hung they are read from the database: core.sessions).
# Without Redis (the embedded `make run`), from the database only: a cache local to one process
# would keep a signed-out session alive in the other processes.
SESSION_ENGINE = "core.sessions" if REDIS_URL else "django.contrib.sessions.backends.db"

# A body read into memory (JSON, form fields) is at most 2.5 MB (Django's default, said here): the
# API answers a larger one 413 JSON (core.api.exceptions). Uploaded files do not count: the CSV
# import has its own limit (extensions.csvio.MAX_BYTES), which nginx's client_max_body_size
# must let through (docs/deployment.md).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The bulk pages post one `pk` field per selected extension, up to the batch limit of 1,000
# (extensions.services.bulk.MAX_BATCH), plus the form's own fields: Django's default of 1,000
# fields would refuse a full batch before the form could say anything.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1_200

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON only: one body format to document, validate and fuzz.
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PBX extension dashboard API",
    "DESCRIPTION": "Hotlines (đầu số), number groups (nhóm đầu số) and extensions (máy lẻ).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {},
}

# --- SIP --------------------------------------------------------------------------------
# Keys that encrypt stored SIP passwords (Fernet, url-safe base64, 32 bytes), newest first.
# Rotate by prepending a new key and running `manage.py rotate_sip_keys`.
SIP_ENCRYPTION_KEYS = env_list("SIP_ENCRYPTION_KEYS")
if not SIP_ENCRYPTION_KEYS and DEBUG:
    # A fixed development key: only ever used with DEBUG on, for the demo database.
    SIP_ENCRYPTION_KEYS = ["ZGV2LW9ubHktc2lwLWtleS1kby1ub3QtdXNlLXByb2Q="]

SIP_DOMAIN_SUFFIX = os.environ.get("SIP_DOMAIN_SUFFIX", "sip.example.vn")
# SIP over TLS (5061) and WebSocket over TLS (8443) from `make sip`, with this certificate and
# key (PEM); without them a self-signed one for 127.0.0.1/localhost is made under var/ on the
# first start. The login info then offers TLS and wss:// by default.
SIP_TLS = env_bool("SIP_TLS", False)
SIP_TLS_CERT_FILE = os.environ.get("SIP_TLS_CERT_FILE", "")
SIP_TLS_KEY_FILE = os.environ.get("SIP_TLS_KEY_FILE", "")
SIP_OUTBOUND_PROXY = os.environ.get("SIP_OUTBOUND_PROXY", "127.0.0.1:5060")
# What the login info offers; `manage.py run_kamailio` refuses to start when it offers anything
# Kamailio would not serve (sip.kamailio.login_info_problems).
SIP_TRANSPORTS = env_list("SIP_TRANSPORTS", "udp,tcp,tls,wss" if SIP_TLS else "udp,tcp,ws")
SIP_WEBSOCKET_URL = os.environ.get(
    "SIP_WEBSOCKET_URL", "wss://127.0.0.1:8443/ws" if SIP_TLS else "ws://127.0.0.1:8088/ws"
)
# Where the SIP server sends calls to external numbers (`make sip` passes it to Kamailio): the
# carrier gateway, as a SIP URI, e.g. sip:gw.carrier.example:5060. Empty: answered 503.
# (Supervision, *33, goes to our listen service, which `make sip` starts: LISTEN_SERVICE.)
SIP_GATEWAY_URI = os.environ.get("SIP_GATEWAY_URI", "")
# The web phone (/phone/) signs in with short-lived credentials that Kamailio checks with this
# shared secret (auth_ephemeral; `make sip` hands it to Kamailio). Unset, it is derived from
# DJANGO_SECRET_KEY; set it when Kamailio is started some other way, with the same value there
# (docs/sip.md, "The web phone"). How long one credential is valid: at most 12 hours.
SIP_EPHEMERAL_SECRET = os.environ.get("SIP_EPHEMERAL_SECRET", "")
WEB_PHONE_CREDENTIAL_SECONDS = int(os.environ.get("WEB_PHONE_CREDENTIAL_SECONDS", str(12 * 3600)))
# TURN for the web phone (sip.turn; docs/deployment.md "TURN for the web phone"): the ICE server
# URLs (turn:host:3478?transport=udp, turns:host:5349?transport=tcp, …) and coturn's
# static-auth-secret, from which each credential the browser gets is derived (valid no longer
# than its SIP credential). Empty: no TURN; calls reach the media relay directly or not at all.
# The policy "relay" (every call through TURN, none direct) is for diagnosing TURN only.
WEB_PHONE_TURN_URLS = env_list("WEB_PHONE_TURN_URLS")
WEB_PHONE_TURN_SECRET = os.environ.get("WEB_PHONE_TURN_SECRET", "")
WEB_PHONE_ICE_TRANSPORT_POLICY = os.environ.get("WEB_PHONE_ICE_TRANSPORT_POLICY", "all").strip().lower()
# How the carrier wants the caller ID: "national" (0912345678, 19001234) or "e164" (+84…).
SIP_GATEWAY_CALLER_ID_FORMAT = os.environ.get("SIP_GATEWAY_CALLER_ID_FORMAT", "national").strip().lower()
if SIP_GATEWAY_CALLER_ID_FORMAT not in ("national", "e164"):
    raise ImproperlyConfigured("SIP_GATEWAY_CALLER_ID_FORMAT must be national or e164.")
# Several Kamailio nodes (docs/deployment.md, "A cluster of SIP servers"): the control socket of
# each (kamcmd -s: unix:/path, tcp:host:port), comma-separated. The dashboard sends its reloads
# and removals to every one and reads counters and locks from all (sip.kamailio.rpc_each).
# Empty: the one Kamailio of `make sip` (var/kamailio/kamailio_ctl).
SIP_CLUSTER_CTL_SOCKETS = env_list("SIP_CLUSTER_CTL_SOCKETS")

# Protection at the SIP server, in one place (sip.kamailio.Protection passes it to Kamailio):
# failed digest logins from one address within AUTH_FAIL_WINDOW s → the address is blocked for
# IP_BLOCK_SECONDS; wrong passwords for one extension → it is locked for EXTENSION_LOCK_SECONDS
# (short: the lock refuses its owner too); PIKE_DENSITY requests per 2 s from one address is a
# flood (dropped; 0: off); more than REGISTER_RATE_LIMIT REGISTERs per second in all are
# answered 503 with Retry-After: RETRY_AFTER (0: no limit).
SIP_PROTECTION = {
    name: int(os.environ.get(f"SIP_{name}", default))
    for name, default in (
        ("AUTH_FAIL_LIMIT", 10),
        ("AUTH_FAIL_WINDOW", 60),
        ("IP_BLOCK_SECONDS", 900),
        ("EXTENSION_FAIL_LIMIT", 10),
        ("EXTENSION_LOCK_SECONDS", 120),
        ("PIKE_DENSITY", 60),
        ("REGISTER_RATE_LIMIT", 1000),
        ("RETRY_AFTER", 5),
    )
}

# The guard in front of SIP access (core.guard, DESIGN.md's table): re-enter the password when
# the last sign-in is older than this; at most N secrets per user per sliding window (seconds).
REVEAL_REAUTH_SECONDS = int(os.environ.get("REVEAL_REAUTH_SECONDS", str(15 * 60)))
REVEAL_RATE_LIMIT = (
    int(os.environ.get("REVEAL_RATE_LIMIT", "20")),
    int(os.environ.get("REVEAL_RATE_WINDOW", "600")),
)
# Bulk routes (export with passwords, many at once): a fresher sign-in, and N operations of any
# size per user per sliding window.
BULK_REAUTH_SECONDS = int(os.environ.get("BULK_REAUTH_SECONDS", str(5 * 60)))
BULK_RATE_LIMIT = (
    int(os.environ.get("BULK_RATE_LIMIT", "5")),
    int(os.environ.get("BULK_RATE_WINDOW", "3600")),
)
REVEAL_VISIBLE_SECONDS = int(os.environ.get("REVEAL_VISIBLE_SECONDS", "60"))
SHARE_LINK_HOURS = int(os.environ.get("SHARE_LINK_HOURS", "24"))
# A phone-setup (provisioning) link works once, within this many hours (extensions.provisioning).
PROVISIONING_LINK_HOURS = int(os.environ.get("PROVISIONING_LINK_HOURS", "24"))

# --- Task queue and webhooks -------------------------------------------------------------
# Webhook deliveries run on a Huey worker (`manage.py run_huey`; `make run` starts one): on Redis
# in production (the same REDIS_URL), on an SQLite file of its own in the `make run` demo (a file
# apart from the dashboard's database, so the worker's polling never takes its write lock). Never
# "immediate": a request only enqueues, the worker does the HTTP.
if not REDIS_URL and "TASK_QUEUE_FILE" not in os.environ:
    # Huey opens its SQLite file when the settings load (any management command): var/ must exist.
    (BASE_DIR / "var").mkdir(exist_ok=True)
# Short timeouts: a request that enqueues after its commit must not hang on a Redis that does
# not answer (the sweep sends what could not be enqueued).
TASK_QUEUE_CONNECTION: dict[str, object] = (
    {"connection_pool": redis.ConnectionPool.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=5)}
    if REDIS_URL
    else {"filename": os.environ.get("TASK_QUEUE_FILE", str(BASE_DIR / "var" / "tasks.sqlite3"))}
)
HUEY = {
    "name": os.environ.get("TASK_QUEUE_NAME", "pbx"),
    "huey_class": "huey.RedisHuey" if REDIS_URL else "huey.SqliteHuey",
    "immediate": False,
    "results": False,
    "connection": TASK_QUEUE_CONNECTION,
    "consumer": {"workers": int(os.environ.get("TASK_QUEUE_WORKERS", "4")), "worker_type": "thread"},
}
# Retries of a failed delivery: after BASE, 2×BASE, 4×BASE … seconds (at most MAX_DELAY apart),
# until RETRY_FOR seconds after the event; then it is marked failed.
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", "30"))
WEBHOOK_RETRY_MAX_DELAY_SECONDS = float(os.environ.get("WEBHOOK_RETRY_MAX_DELAY_SECONDS", "3600"))
WEBHOOK_RETRY_FOR_SECONDS = float(os.environ.get("WEBHOOK_RETRY_FOR_SECONDS", "86400"))
# One attempt waits at most this long to connect, then to each read of the answer.
WEBHOOK_CONNECT_TIMEOUT = float(os.environ.get("WEBHOOK_CONNECT_TIMEOUT", "3"))
WEBHOOK_TIMEOUT = float(os.environ.get("WEBHOOK_TIMEOUT", "5"))
# …and ends after this many seconds in all, however slowly the endpoint trickles its answer.
WEBHOOK_DEADLINE = float(os.environ.get("WEBHOOK_DEADLINE", "10"))
# Deliveries are kept this many days in the log, then deleted by the worker.
WEBHOOK_LOG_DAYS = int(os.environ.get("WEBHOOK_LOG_DAYS", "30"))
# Whether a webhook may target loopback, private, link-local or reserved addresses (the server's
# own network): off in production, so a tenant cannot make the server call its neighbours.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", DEBUG)

# --- Call history exports ----------------------------------------------------------------
# A CSV export of up to this many calls streams in the request; a larger one is written by the
# task queue's worker and downloaded from the exports page (sip.call_exports).
CALL_EXPORT_INLINE_ROWS = int(os.environ.get("CALL_EXPORT_INLINE_ROWS", "50000"))
# Where the worker writes the files: outside STATIC_ROOT and every served path; only the
# exports' own download view reads them.
CALL_EXPORT_ROOT = Path(os.environ.get("CALL_EXPORT_ROOT", str(BASE_DIR / "var" / "exports")))
# Files and their rows are deleted by the worker this many hours after the export was asked.
CALL_EXPORT_RETENTION_HOURS = float(os.environ.get("CALL_EXPORT_RETENTION_HOURS", "24"))
# A running export whose worker has not reported for this long (it reports every few seconds
# while it writes) was interrupted (a worker crash or restart): the sweep marks it failed.
CALL_EXPORT_STALE_SECONDS = int(os.environ.get("CALL_EXPORT_STALE_SECONDS", "300"))
# Exports a user may have queued or running at once.
CALL_EXPORT_MAX_ACTIVE = int(os.environ.get("CALL_EXPORT_MAX_ACTIVE", "3"))

# --- Metrics ------------------------------------------------------------------------------
# GET /metrics (Prometheus) answers clients on loopback and in these networks (core.net.client_ip
# decides who the client is); anyone else gets 403.
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_NETWORKS")

# Live status (sip.live): the open pages of a hotline share one reading of its status for this
# long (seconds, in the cache); 0 reads it for every poll. A change reaches the pages within
# this plus their 1 s pause plus a request (docs/performance.md, "Live status: 100 open pages").
LIVE_STATUS_CACHE_SECONDS = float(os.environ.get("LIVE_STATUS_CACHE_SECONDS", "0.5"))

# Functions and views that hold SIP passwords are marked with `sensitive_variables` /
# `sensitive_post_parameters`; this filter honours the marks on DEBUG error pages too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.debug.SecretSafeExceptionReporterFilter"

# Every line goes through a handler that keeps provisioning tokens out of the log
# (core.log_redaction): Django's own loggers hand their records to the root's handler instead of
# the handlers Django gives them by default, and the demo server's request lines keep their
# format through a filtered handler of their own.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_path_secrets": {"()": "core.log_redaction.RedactPathSecrets"}},
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_path_secrets"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_path_secrets"],
        },
    },
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Prometheus scrapes the app server itself over plain HTTP (monitoring.views decides who may).
    SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
