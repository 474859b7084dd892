"""manage.py demo: generated history, then a live refresh through the real client."""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from registry.models import HubModel
from snapshots.models import Observation, Snapshot

pytestmark = pytest.mark.django_db


def demo(*args) -> str:
    out = StringIO()
    call_command("demo", "--models=80", "--days=4", *args, stdout=out)
    return out.getvalue()


def test_it_builds_daily_history_and_takes_today_live():
    out = demo()
    snapshots = list(Snapshot.objects.order_by("taken_at"))
    assert [s.source for s in snapshots] == ["demo"] * 3 + ["hub"]
    assert all(s.status == Snapshot.Status.COMPLETE for s in snapshots)
    today = snapshots[-1]
    assert today.calls_used >= 1 and today.source_name.startswith("http://127.0.0.1:")
    assert today.models_seen == Observation.objects.filter(snapshot=today).count() > 0
    history = snapshots[:-1]
    assert {(b.taken_at - a.taken_at).days for a, b in zip(history, history[1:], strict=False)} == {
        1
    }
    assert HubModel.objects.exclude(provider=None).exists()
    assert HubModel.objects.exclude(base_models=[]).exists()  # families linked by base_model
    assert "Admin login: admin / modelboard" in out
    assert User.objects.get(username="admin").is_superuser


def test_it_leaves_existing_data_alone_unless_asked():
    demo()
    assert "already loaded" in demo("--if-empty")
    with pytest.raises(CommandError, match="--reset"):
        demo()
    first_ids = set(Snapshot.objects.values_list("id", flat=True))
    demo("--reset", "--seed=7")
    assert Snapshot.objects.count() == 4
    assert not first_ids & set(Snapshot.objects.values_list("id", flat=True))
