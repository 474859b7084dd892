"""Modelboard settings: one module, driven by the environment.

With DEBUG=1 and nothing else the site runs embedded: SQLite, a local-memory
cache and Celery in eager mode, so `make run` works on a bare machine. Setting
`DATABASE_URL` and `REDIS_URL` moves it onto PostgreSQL and Redis, the way
production runs. With DEBUG off (the default) it is production: SECRET_KEY
must be set, or start-up stops.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Sessions, signed values and whatever else is derived from this key are
# only as safe as it is: production (DEBUG off) never falls back to a key
# that is published with the source.
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. DEBUG is off, so Modelboard runs as in production and "
            "will not use a development key. Set SECRET_KEY to a long random value, e.g. "
            "the output of: python -c 'from django.core.management.utils import "
            "get_random_secret_key; print(get_random_secret_key())' "
            "(or set DEBUG=1 for local development)."
        )
    SECRET_KEY = "modelboard-insecure-development-key-for-DEBUG-only"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by us
    "csp",
    "django_filters",
    "registry",
    "tagging",
    "webhooks",
    "snapshots",
    "api",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "api.middleware.ApiGateMiddleware",  # /api/ only: keys, plans, rate limits
    # Outside in: 304s and strong ETags on the bytes as sent, compression,
    # then Cache-Control and Vary (registry.cache_policy), so each sees what
    # the next one decided. Static files are WhiteNoise's (precompressed).
    "django.middleware.http.ConditionalGetMiddleware",
    "registry.compression.CompressionMiddleware",
    "registry.cache_policy.CachePolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "registry.urls"
WSGI_APPLICATION = "registry.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that tests can hand the database to a child
    # process (the refresh that gets killed mid-run); one per test run.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"modelboard-test-{os.getpid()}.sqlite3")
    }
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -----------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
CACHE_KEY_PREFIX = env("CACHE_KEY_PREFIX", default="modelboard")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "TIMEOUT": env.int("CACHE_TIMEOUT", default=3600),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "modelboard",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "snapshots.tasks.*": {"queue": "refresh"},
    # Deliveries are sent to webhooks or webhooks_priority by the code that
    # enqueues them (the plan decides). The sweeper rides the priority queue,
    # so a backlog of ordinary deliveries never holds it up.
    "webhooks.tasks.sweep_deliveries": {"queue": "webhooks_priority"},
    "webhooks.tasks.*": {"queue": "webhooks"},
}
CELERY_TIMEZONE = "UTC"

# Each entry expires just under its period, so a backlog never runs stale
# refreshes back to back; periods can be changed from the environment.
REFRESH_EVERY_MINUTES = env.int("REFRESH_EVERY_MINUTES", default=60)
REFRESH_EXPIRES_SECONDS = env.int(
    "REFRESH_EXPIRES_SECONDS", default=int(REFRESH_EVERY_MINUTES * 60 * 0.9)
)
CRAWL_EVERY_MINUTES = env.int("CRAWL_EVERY_MINUTES", default=15)
CRAWL_EXPIRES_SECONDS = env.int(
    "CRAWL_EXPIRES_SECONDS", default=int(CRAWL_EVERY_MINUTES * 60 * 0.9)
)
PRUNE_EVERY_HOURS = env.int("PRUNE_EVERY_HOURS", default=24)
PRUNE_EXPIRES_SECONDS = env.int(
    "PRUNE_EXPIRES_SECONDS", default=int(PRUNE_EVERY_HOURS * 3600 * 0.9)
)
WEBHOOK_SWEEP_EVERY_SECONDS = env.int("WEBHOOK_SWEEP_EVERY_SECONDS", default=15)
WEBHOOK_PRUNE_EVERY_HOURS = env.int("WEBHOOK_PRUNE_EVERY_HOURS", default=24)
CELERY_BEAT_SCHEDULE = {
    "refresh-hub-snapshot": {
        "task": "snapshots.tasks.refresh_snapshot",
        "schedule": timedelta(minutes=REFRESH_EVERY_MINUTES),
        "options": {"expires": REFRESH_EXPIRES_SECONDS},
    },
    "crawl-hub-daily": {
        "task": "snapshots.tasks.crawl_hub",
        "schedule": timedelta(minutes=CRAWL_EVERY_MINUTES),
        "options": {"expires": CRAWL_EXPIRES_SECONDS},
    },
    "prune-observations": {
        "task": "snapshots.tasks.prune_observations",
        "schedule": timedelta(hours=PRUNE_EVERY_HOURS),
        "options": {"expires": PRUNE_EXPIRES_SECONDS},
    },
    # Hands out due retries, and deliveries whose worker died (expired lease).
    "sweep-webhook-deliveries": {
        "task": "webhooks.tasks.sweep_deliveries",
        "schedule": timedelta(seconds=WEBHOOK_SWEEP_EVERY_SECONDS),
        "options": {"expires": max(1, int(WEBHOOK_SWEEP_EVERY_SECONDS * 0.9))},
    },
    "prune-webhook-log": {
        "task": "webhooks.tasks.prune_delivery_log",
        "schedule": timedelta(hours=WEBHOOK_PRUNE_EVERY_HOURS),
        "options": {"expires": int(WEBHOOK_PRUNE_EVERY_HOURS * 3600 * 0.9)},
    },
}

# Retention: every observation for this many days; the daily history (one
# row per model and UTC day, written at publish) for DAILY_HISTORY_DAYS, and
# forever when 0 (the default: the history is the product).
OBSERVATION_RETENTION_DAYS = env.int("OBSERVATION_RETENTION_DAYS", default=30)
DAILY_HISTORY_DAYS = env.int("DAILY_HISTORY_DAYS", default=0)

# Cached /api/v4 answers are served before Django's request cycle
# (registry/wsgi.py); each worker re-checks with Redis at most this often.
RESPONSE_CACHE_ENABLED = env.bool("RESPONSE_CACHE_ENABLED", default=True)
RESPONSE_CACHE_LOCAL_SECONDS = env.float("RESPONSE_CACHE_LOCAL_SECONDS", default=1.0)
RESPONSE_CACHE_LOCAL_BYTES = env.int("RESPONSE_CACHE_LOCAL_BYTES", default=32 * 1024 * 1024)

# The API gate (api/gate.py): a fixed window per caller, counted in Redis;
# the plan's rate_limit_per_minute is scaled to the window. Anonymous callers
# are counted by address: behind proxies that append to X-Forwarded-For, say
# how many (1 behind deploy/nginx.conf), else everyone is the proxy.
RATE_LIMIT_ENABLED = env.bool("RATE_LIMIT_ENABLED", default=True)
RATE_LIMIT_WINDOW_SECONDS = env.int("RATE_LIMIT_WINDOW_SECONDS", default=60)
RATE_LIMIT_TRUSTED_PROXIES = env.int("RATE_LIMIT_TRUSTED_PROXIES", default=0)
# Counted never (operators' probes poll them), though X-Plan is still sent.
RATE_LIMIT_EXEMPT_PATHS = env.list("RATE_LIMIT_EXEMPT_PATHS", default=["/api/v4/health"])
# How long a process trusts its memo of an API key or a plan (revocations
# and plan edits show in other processes within this time).
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=5.0)

# Operators' figures: /metrics and the detailed /api/v4/health answer a
# bearer METRICS_TOKEN, an address (REMOTE_ADDR) in METRICS_ALLOWED_NETWORKS,
# or a staff user; with neither configured they are open in DEBUG only.
# Everyone else gets the health's status alone, worked out at most once per
# HEALTH_PUBLIC_SECONDS (the endpoint is not rate limited).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])
HEALTH_PUBLIC_SECONDS = env.float("HEALTH_PUBLIC_SECONDS", default=5.0)

# /api/v4/health: a snapshot older than twice the schedule plus this grace is
# degraded; a queue longer than this is a warning.
HEALTH_GRACE_MINUTES = env.int("HEALTH_GRACE_MINUTES", default=15)
HEALTH_QUEUE_WARNING = env.int("HEALTH_QUEUE_WARNING", default=1000)
# A webhook delivery due for longer than this makes the backlog check warn.
HEALTH_BACKLOG_WARNING_SECONDS = env.int("HEALTH_BACKLOG_WARNING_SECONDS", default=300)

# Scores are shown in this curated profile when a request names none.
SCORING_DEFAULT_PROFILE = env("SCORING_DEFAULT_PROFILE", default="community")

# --- The Hugging Face Hub -------------------------------------------------
# HF_ENDPOINT and HF_TOKEN are the Hub's own conventions (huggingface_hub).
HF_ENDPOINT = env("HF_ENDPOINT", default="https://huggingface.co").rstrip("/")
HF_TOKEN = env("HF_TOKEN", default="")
HUB_TIMEOUT_CONNECT = env.float("HUB_TIMEOUT_CONNECT", default=5.0)
HUB_TIMEOUT_READ = env.float("HUB_TIMEOUT_READ", default=30.0)
HUB_MAX_RETRIES = env.int("HUB_MAX_RETRIES", default=4)
HUB_MAX_WAIT_SECONDS = env.float("HUB_MAX_WAIT_SECONDS", default=300.0)

# What an hourly refresh takes from the Hub (the hot tier, snapshots.hot_tier),
# and what it may spend doing it: the top HOT_TIER_SIZE by each of
# HOT_TIER_SORTS, and the models created in the last HOT_TIER_NEW_DAYS days
# (at most HOT_TIER_NEW_MAX). REFRESH_MAX_MODELS is the old name of
# HOT_TIER_SIZE and still works; REFRESH_SORT, when set, takes one listing in
# that order instead of the tier.
HOT_TIER_SIZE = env.int("HOT_TIER_SIZE", default=env.int("REFRESH_MAX_MODELS", default=50_000))
REFRESH_MAX_MODELS = HOT_TIER_SIZE
HOT_TIER_SORTS = env.list("HOT_TIER_SORTS", default=["downloads", "trendingScore"])
HOT_TIER_NEW_DAYS = env.int("HOT_TIER_NEW_DAYS", default=7)
HOT_TIER_NEW_MAX = env.int("HOT_TIER_NEW_MAX", default=HOT_TIER_SIZE)
REFRESH_SORT = env("REFRESH_SORT", default="")
REFRESH_PAGE_SIZE = env.int("REFRESH_PAGE_SIZE", default=1000)
REFRESH_CALL_BUDGET = env.int("REFRESH_CALL_BUDGET", default=400)
# A refresh holds a lease that it renews as it works; a worker that dies
# stops renewing it, and the next refresh may take over after this long.
REFRESH_LEASE_SECONDS = env.int("REFRESH_LEASE_SECONDS", default=600)

# The daily crawl of every public model (snapshots.crawl). Each beat tick
# (every CRAWL_EVERY_MINUTES, above) resumes the unfinished crawl, or starts the UTC
# day's once the previous one is published; a run spends at most
# CRAWL_CALL_BUDGET calls and leaves CRAWL_QUOTA_RESERVE calls of the Hub's
# window to the hourly refresh (it waits for the window, up to
# HUB_MAX_WAIT_SECONDS, or stops and lets the next tick go on). A crawl not
# published within CRAWL_MAX_HOURS of its start is given up.
CRAWL_ENABLED = env.bool("CRAWL_ENABLED", default=True)
CRAWL_PAGE_SIZE = env.int("CRAWL_PAGE_SIZE", default=1000)
CRAWL_CALL_BUDGET = env.int("CRAWL_CALL_BUDGET", default=1000)
CRAWL_QUOTA_RESERVE = env.int("CRAWL_QUOTA_RESERVE", default=100)
CRAWL_MAX_HOURS = env.int("CRAWL_MAX_HOURS", default=24)
CRAWL_LEASE_SECONDS = env.int("CRAWL_LEASE_SECONDS", default=600)
# Records per step of the publish (catalog upsert, tags, families, daily rows).
CRAWL_PUBLISH_CHUNK = env.int("CRAWL_PUBLISH_CHUNK", default=20_000)

# --- Webhooks ---------------------------------------------------------------
# Subscribers' URLs must be HTTPS in production (REDIS_URL set, DEBUG off);
# the embedded default accepts http:// so receivers can run locally.
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=not DEBUG and bool(REDIS_URL))
# CIDRs a subscriber's address may be in although private or loopback (local
# development, tests). It opens those ranges only: every other check stays.
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
# Fernet keys for the signing secrets at rest, comma-separated, newest first:
# the first encrypts, all decrypt (webhooks.secrets). Required unless DEBUG;
# checked at start-up. WEBHOOK_SECRET_KEY is the older name.
WEBHOOK_SECRET_KEYS = env.list("WEBHOOK_SECRET_KEYS", default=[]) or env.list(
    "WEBHOOK_SECRET_KEY", default=[]
)
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0)
WEBHOOK_TOTAL_TIMEOUT = env.float("WEBHOOK_TOTAL_TIMEOUT", default=15.0)
WEBHOOK_RESPONSE_BYTES = 4096
# CA bundle to verify subscribers' certificates with; unset: certifi's.
WEBHOOK_CA_BUNDLE = env("WEBHOOK_CA_BUNDLE", default="")
# Seconds to wait after each failed attempt (the first is sent at once), with
# +/- WEBHOOK_RETRY_JITTER of jitter: about 3 days in all.
WEBHOOK_RETRY_SCHEDULE = env.list(
    "WEBHOOK_RETRY_SCHEDULE",
    cast=int,
    default=[5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
)
WEBHOOK_RETRY_JITTER = env.float("WEBHOOK_RETRY_JITTER", default=0.15)
WEBHOOK_RETRY_AFTER_MAX_SECONDS = env.int("WEBHOOK_RETRY_AFTER_MAX_SECONDS", default=86400)
WEBHOOK_ROTATION_OVERLAP_HOURS = env.int("WEBHOOK_ROTATION_OVERLAP_HOURS", default=24)
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=5)
WEBHOOK_LOG_RETENTION_DAYS = env.int("WEBHOOK_LOG_RETENTION_DAYS", default=30)
# A claimed delivery not finished by then is handed out again by the sweeper.
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=60)
# A due delivery enqueued this long ago and still pending is enqueued again.
WEBHOOK_REQUEUE_AFTER_SECONDS = env.int("WEBHOOK_REQUEUE_AFTER_SECONDS", default=300)
WEBHOOK_SWEEP_BATCH = env.int("WEBHOOK_SWEEP_BATCH", default=2000)

# --- Auth, i18n, static -----------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "STATICFILES_BACKEND",
            # Production sets CompressedManifestStaticFilesStorage after
            # collectstatic (deploy/README.md); this default needs no build step.
            default="whitenoise.storage.CompressedStaticFilesStorage",
        )
    },
}

# Serve straight from the app folders too, so no collectstatic is needed to run.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI document at /api/v4/schema/ (api/v4/schema.py says how to
# describe an endpoint). v3 is frozen and left out.
SPECTACULAR_SETTINGS = {
    "TITLE": "Modelboard API",
    "VERSION": "v4",
    "DESCRIPTION": (
        "Hugging Face Hub models over time: the latest snapshot's leaderboard with 24h "
        "and 7d deltas, each model's 30-day history, capability tags and snapshot runs. "
        'Every error is `{"error": {"code", "message", "fields"}}`. Responses '
        "carry strong ETags (send `If-None-Match` for a 304) and are compressed with "
        "zstd, br or gzip by `Accept-Encoding`."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["api.v4.schema.only_v4"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.v4.schema.empty_means_default",
        "api.v4.schema.closed_request_bodies",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"DeliveryStatusEnum": "webhooks.models.Delivery.Status"},
    "SCHEMA_PATH_PREFIX": "/api/v4",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- HTTPS and browser policy ------------------------------------------------
# Production is HTTPS only. Behind a proxy that terminates TLS (deploy/nginx.conf)
# set SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https so Django knows a
# request came over HTTPS; the proxy must overwrite that header, and without
# one it stays unset, as a client could write it.
SECURE_PROXY_SSL_HEADER = env.tuple("SECURE_PROXY_SSL_HEADER", default=None)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers and Prometheus may probe the web processes directly over HTTP.
SECURE_REDIRECT_EXEMPT = [r"^api/v4/health$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Content-Security-Policy (django-csp): the pages are server-rendered with
# inline SVG and no script or inline style; the admin and Swagger UI (served
# from drf-spectacular-sidecar, never a CDN) load theirs from our static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.NONE],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
        "base-uri": [csp.NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
    "loggers": {
        "modelboard": {"level": env("MODELBOARD_LOG_LEVEL", default="INFO"), "propagate": True},
    },
}
