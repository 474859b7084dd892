"""Modelboard settings: one module, driven by the environment.

With no environment at all the site runs embedded: SQLite, a local-memory
cache and Celery in eager mode, so `make run` works on a bare machine. Setting
`DATABASE_URL` and `REDIS_URL` moves it onto PostgreSQL and Redis, the way
production runs.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env(
    "SECRET_KEY", default="modelboard-insecure-development-key-set-SECRET_KEY-in-production"
)
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
    "whitenoise.middleware.WhiteNoiseMiddleware",
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
CELERY_TASK_ROUTES = {"snapshots.tasks.*": {"queue": "refresh"}}
CELERY_TIMEZONE = "UTC"

# Each entry expires just under its period, so a backlog never runs stale
# refreshes back to back; periods can be changed from the environment.
REFRESH_EVERY_MINUTES = env.int("REFRESH_EVERY_MINUTES", default=60)
REFRESH_EXPIRES_SECONDS = env.int(
    "REFRESH_EXPIRES_SECONDS", default=int(REFRESH_EVERY_MINUTES * 60 * 0.9)
)
PRUNE_EVERY_HOURS = env.int("PRUNE_EVERY_HOURS", default=24)
PRUNE_EXPIRES_SECONDS = env.int(
    "PRUNE_EXPIRES_SECONDS", default=int(PRUNE_EVERY_HOURS * 3600 * 0.9)
)
CELERY_BEAT_SCHEDULE = {
    "refresh-hub-snapshot": {
        "task": "snapshots.tasks.refresh_snapshot",
        "schedule": timedelta(minutes=REFRESH_EVERY_MINUTES),
        "options": {"expires": REFRESH_EXPIRES_SECONDS},
    },
    "prune-observations": {
        "task": "snapshots.tasks.prune_observations",
        "schedule": timedelta(hours=PRUNE_EVERY_HOURS),
        "options": {"expires": PRUNE_EXPIRES_SECONDS},
    },
}

# Retention: every observation for this many days; after that one row per
# model and day (the daily history) for DAILY_HISTORY_DAYS.
OBSERVATION_RETENTION_DAYS = env.int("OBSERVATION_RETENTION_DAYS", default=30)
DAILY_HISTORY_DAYS = env.int("DAILY_HISTORY_DAYS", default=365)

# Cached /api/v4 answers are served before Django's request cycle
# (registry/wsgi.py); each worker re-checks with Redis at most this often.
RESPONSE_CACHE_ENABLED = env.bool("RESPONSE_CACHE_ENABLED", default=True)
RESPONSE_CACHE_LOCAL_SECONDS = env.float("RESPONSE_CACHE_LOCAL_SECONDS", default=1.0)
RESPONSE_CACHE_LOCAL_BYTES = env.int("RESPONSE_CACHE_LOCAL_BYTES", default=32 * 1024 * 1024)

# /api/v4/health: a snapshot older than twice the schedule plus this grace is
# degraded; a queue longer than this is a warning.
HEALTH_GRACE_MINUTES = env.int("HEALTH_GRACE_MINUTES", default=15)
HEALTH_QUEUE_WARNING = env.int("HEALTH_QUEUE_WARNING", default=1000)

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

# What a refresh takes from the Hub, and what it may spend doing it.
REFRESH_SORT = env("REFRESH_SORT", default="downloads")
REFRESH_MAX_MODELS = env.int("REFRESH_MAX_MODELS", default=5000)
REFRESH_PAGE_SIZE = env.int("REFRESH_PAGE_SIZE", default=1000)
REFRESH_CALL_BUDGET = env.int("REFRESH_CALL_BUDGET", default=400)
# A refresh holds a lease that it renews as it works; a worker that dies
# stops renewing it, and the next refresh may take over after this long.
REFRESH_LEASE_SECONDS = env.int("REFRESH_LEASE_SECONDS", default=600)

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
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and bool(REDIS_URL))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

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
