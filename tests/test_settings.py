"""Settings come from the environment; with none, the embedded default."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PROBE = """
import json, django
from django.conf import settings
django.setup()
from registry.celery import app
print(json.dumps({
    "db": settings.DATABASES["default"]["ENGINE"],
    "db_name": settings.DATABASES["default"]["NAME"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "broker": app.conf.broker_url,
    "eager": app.conf.task_always_eager,
    "beat": {k: [v["schedule"].total_seconds(), v["options"]["expires"]]
             for k, v in settings.CELERY_BEAT_SCHEDULE.items()},
    "hf": [settings.HF_ENDPOINT, settings.HF_TOKEN],
    "debug": settings.DEBUG,
    "hosts": settings.ALLOWED_HOSTS,
    "https": {
        "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
        "redirect": settings.SECURE_SSL_REDIRECT,
        "hsts": [settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,
                 settings.SECURE_HSTS_PRELOAD],
        "cookies_secure": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
    },
}))
"""

OURS = (
    "DATABASE_URL",
    "REDIS_URL",
    "HF_ENDPOINT",
    "HF_TOKEN",
    "DEBUG",
    "ALLOWED_HOSTS",
    "SECRET_KEY",
    "CELERY_TASK_ALWAYS_EAGER",
    "CELERY_BROKER_URL",
    "REFRESH_EVERY_MINUTES",
    "REFRESH_EXPIRES_SECONDS",
    "PRUNE_EVERY_HOURS",
    "PRUNE_EXPIRES_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SESSION_COOKIE_SECURE",
    "METRICS_TOKEN",
    "METRICS_ALLOWED_NETWORKS",
)


# A key as production would have one (50 random characters).
A_REAL_KEY = "q0v!x8s#k2m@z7r$w4t%y1u^p6n&b3c*d9e(f5g)h-j_l+o=iA"


def probe(code: str = PROBE, **env) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with only `env` of ours set."""
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    clean["DJANGO_SETTINGS_MODULE"] = "registry.settings"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def settings_with(**env) -> dict:
    env.setdefault("SECRET_KEY", A_REAL_KEY)
    out = probe(**env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_in_debug_with_nothing_else_it_runs_embedded_on_a_development_key():
    s = settings_with(DEBUG="1", SECRET_KEY="")
    assert s["db"] == "django.db.backends.sqlite3" and s["db_name"].endswith("db.sqlite3")
    assert s["cache"].endswith("LocMemCache")
    assert s["eager"] is True and s["broker"] == "memory://"
    assert s["hf"] == ["https://huggingface.co", ""]
    assert s["debug"] is True
    assert s["beat"]["refresh-hub-snapshot"] == [3600.0, 3240]
    assert s["beat"]["prune-observations"] == [86400.0, 77760]
    assert s["beat"]["crawl-hub-daily"] == [900.0, 810]
    # Every entry expires before its next run is due.
    assert all(0 < expires < period for period, expires in s["beat"].values())


def test_with_services_it_uses_postgres_redis_and_a_real_broker():
    s = settings_with(
        DATABASE_URL="postgres://u@db.internal:5432/mb",
        REDIS_URL="redis://cache.internal:6379/2",
        HF_ENDPOINT="http://127.0.0.1:8900/",
        HF_TOKEN="hf_x",
        ALLOWED_HOSTS="modelboard.example.com,www.modelboard.example.com",
        REFRESH_EVERY_MINUTES="30",
        REFRESH_EXPIRES_SECONDS="1500",
    )
    assert s["db"] == "django.db.backends.postgresql" and s["db_name"] == "mb"
    assert s["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert s["eager"] is False and s["broker"] == "redis://cache.internal:6379/2"
    assert s["hf"] == ["http://127.0.0.1:8900", "hf_x"]
    assert s["hosts"] == ["modelboard.example.com", "www.modelboard.example.com"]
    assert s["beat"]["refresh-hub-snapshot"] == [1800.0, 1500]


KEY_PROBE = "from django.conf import settings; print(settings.SECRET_KEY)"


@pytest.mark.parametrize("debug", [{"DEBUG": "0"}, {}], ids=["DEBUG=0", "DEBUG unset"])
def test_production_without_a_secret_key_refuses_to_start(debug):
    out = probe(KEY_PROBE, **debug)
    assert out.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: SECRET_KEY is not set" in out.stderr
    assert "get_random_secret_key" in out.stderr  # how to make one
    assert "development-key" not in out.stdout


def test_production_with_a_secret_key_uses_it():
    out = probe(KEY_PROBE, DEBUG="0", SECRET_KEY=A_REAL_KEY)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == A_REAL_KEY


def test_debug_without_a_secret_key_starts_on_a_development_key():
    out = probe(KEY_PROBE, DEBUG="1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "modelboard-insecure-development-key-for-DEBUG-only"


# --- Production: HTTPS only, and Django's deployment checks pass ---------------

# deploy/README.md's environment (services: the ones this run uses, if any).
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": A_REAL_KEY,
    "ALLOWED_HOSTS": "modelboard.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://modelboard.example.com",
    "DATABASE_URL": os.environ.get(
        "DATABASE_URL", "postgres://modelboard@db.internal:5432/modelboard"
    ),
    "REDIS_URL": os.environ.get("REDIS_URL", "redis://cache.internal:6379/0"),
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
}


def test_production_is_https_only():
    s = settings_with(**PRODUCTION)
    assert s["debug"] is False
    assert s["https"] == {
        "proxy_header": ["HTTP_X_FORWARDED_PROTO", "https"],
        "redirect": True,
        "hsts": [31536000, True, True],
        "cookies_secure": [True, True],
    }


def test_without_a_proxy_header_setting_no_forwarded_header_is_trusted():
    s = settings_with(**{**PRODUCTION, "SECURE_PROXY_SSL_HEADER": ""})
    assert s["https"]["proxy_header"] is None


def test_debug_stays_on_plain_http():
    s = settings_with(DEBUG="1")
    assert s["https"] == {
        "proxy_header": None,
        "redirect": False,
        "hsts": [0, True, True],
        "cookies_secure": [False, False],
    }


def test_check_deploy_reports_nothing_in_the_production_environment():
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env={**clean, **PRODUCTION},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "System check identified no issues (0 silenced)."
    assert "WARNING" not in out.stderr


def manage(*args: str, **env) -> subprocess.CompletedProcess:
    """Run manage.py in a fresh interpreter with only `env` of ours set."""
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_manage_py_on_a_bare_checkout_is_development():
    out = manage("makemigrations", "--check", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "No changes detected" in out.stdout


@pytest.mark.slow
def test_manage_py_with_a_database_url_is_production_and_wants_a_key(tmp_path):
    out = manage("check", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert out.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in out.stderr
