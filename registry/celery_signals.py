"""Celery task instrumentation: counts, failures, retries and runtimes per task.

Connected once by `registry.celery` when the Celery app is created, so every
worker (and eager runs in the web process) reports into registry.metrics.
"""

from __future__ import annotations

import time

from celery import signals

from . import metrics

# Start times of the tasks running in this process, by task id. A worker runs
# a bounded number of tasks at once, and postrun removes each entry.
_started: dict[str, float] = {}


def _name(sender, task=None) -> str:
    task = task or sender
    return getattr(task, "name", None) or str(task)


def on_task_prerun(sender=None, task_id=None, task=None, **kwargs) -> None:
    metrics.TASKS_STARTED.labels(task=_name(sender, task)).inc()
    if task_id:
        _started[task_id] = time.monotonic()


def on_task_postrun(sender=None, task_id=None, task=None, state=None, **kwargs) -> None:
    name = _name(sender, task)
    metrics.TASKS_FINISHED.labels(task=name, state=str(state or "unknown").lower()).inc()
    started = _started.pop(task_id, None) if task_id else None
    if started is not None:
        metrics.TASK_RUNTIME.labels(task=name).observe(time.monotonic() - started)


def on_task_failure(sender=None, exception=None, **kwargs) -> None:
    metrics.TASK_FAILURES.labels(
        task=_name(sender), exception=type(exception).__name__ if exception else "unknown"
    ).inc()


def on_task_retry(sender=None, **kwargs) -> None:
    metrics.TASK_RETRIES.labels(task=_name(sender)).inc()


def connect() -> None:
    """Connect the handlers (idempotent: each has a dispatch uid)."""
    signals.task_prerun.connect(on_task_prerun, weak=False, dispatch_uid="modelboard-prerun")
    signals.task_postrun.connect(on_task_postrun, weak=False, dispatch_uid="modelboard-postrun")
    signals.task_failure.connect(on_task_failure, weak=False, dispatch_uid="modelboard-failure")
    signals.task_retry.connect(on_task_retry, weak=False, dispatch_uid="modelboard-retry")
