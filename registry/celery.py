"""The Celery app. Tasks live in each app's tasks.py; the beat schedule in settings."""

import os

from celery import Celery

from . import celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")

app = Celery("modelboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
celery_signals.connect()
