"""Settings come from the environment; with none, the embedded default."""

import json
import os
import subprocess
import sys

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
)


def settings_with(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    clean["DJANGO_SETTINGS_MODULE"] = "registry.settings"
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_with_no_environment_it_runs_embedded():
    s = settings_with()
    assert s["db"] == "django.db.backends.sqlite3" and s["db_name"].endswith("db.sqlite3")
    assert s["cache"].endswith("LocMemCache")
    assert s["eager"] is True and s["broker"] == "memory://"
    assert s["hf"] == ["https://huggingface.co", ""]
    assert s["debug"] is False
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
