"""Snapshots of the Hub's metrics, and the observations they hold."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q

from registry.models import Family, HubModel


class SnapshotQuerySet(models.QuerySet):
    def visible(self) -> SnapshotQuerySet:
        """Snapshots readers may see: only complete ones (atomic publish)."""
        return self.filter(status=Snapshot.Status.COMPLETE)


class Snapshot(models.Model):
    """One look at the Hub at one moment.

    A snapshot is written as `running` and becomes `complete` in the same
    transaction that writes its observations, so readers never see half of
    one. A run that stops early is kept, with its reason, as `partial` or
    `failed`, and is never served.
    """

    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETE = "complete"
        PARTIAL = "partial"
        FAILED = "failed"

    class Source(models.TextChoices):
        HUB = "hub", "Hub refresh"
        ARCHIVE = "archive", "Archived file"
        DEMO = "demo", "Demo generator"

    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.HUB)
    source_name = models.CharField(
        max_length=300, blank=True, help_text="The Hub endpoint, or the archived file's name."
    )
    source_digest = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of an imported file; re-imports are no-ops."
    )
    taken_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    source_count = models.PositiveIntegerField(
        default=0, help_text="Records the source returned, duplicates included."
    )
    models_seen = models.PositiveIntegerField(default=0)
    details_fetched = models.PositiveIntegerField(default=0)
    details_deferred = models.PositiveIntegerField(
        default=0, help_text="New or changed models whose detail waits for the next refresh."
    )
    calls_used = models.PositiveIntegerField(default=0)
    call_budget = models.PositiveIntegerField(null=True, blank=True)
    quota_remaining = models.PositiveIntegerField(null=True, blank=True)
    quota_limit = models.PositiveIntegerField(null=True, blank=True)
    ttl_seconds = models.PositiveIntegerField(
        default=3600, help_text="How long this snapshot counts as fresh."
    )
    error = models.TextField(blank=True)
    baseline_24h = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    baseline_7d = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deltas_computed_at = models.DateTimeField(null=True, blank=True)

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["-taken_at", "-id"]
        get_latest_by = "taken_at"
        permissions = [("run_refresh", "Can start a refresh from the Hub")]
        indexes = [models.Index(fields=["status", "-taken_at"], name="snapshot_status_taken")]
        constraints = [
            models.UniqueConstraint(
                fields=["source_digest"],
                condition=~Q(source_digest=""),
                name="snapshot_source_digest_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.taken_at:%Y-%m-%d %H:%M} UTC ({self.status})"

    @property
    def duration(self) -> timedelta | None:
        if self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def is_visible(self) -> bool:
        return self.status == self.Status.COMPLETE


class Observation(models.Model):
    """One model's metrics in one snapshot."""

    # No index of its own: the unique (snapshot, model) constraint leads with it.
    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="observations", db_index=False
    )
    model = models.ForeignKey(HubModel, on_delete=models.CASCADE, related_name="observations")
    rank = models.PositiveIntegerField(
        null=True, blank=True, help_text="By 30-day downloads, then likes, then id."
    )
    downloads = models.BigIntegerField(null=True, blank=True, help_text="Rolling 30 days.")
    downloads_all_time = models.BigIntegerField(null=True, blank=True)
    likes = models.IntegerField(null=True, blank=True)
    trending_score = models.FloatField(null=True, blank=True)
    last_modified = models.DateTimeField(null=True, blank=True)
    # Computed once, as the snapshot's observations are written (snapshots.ingest,
    # with snapshots.deltas for recomputes). Null means unknown (no baseline
    # snapshot, or a side lacks the figure), never 0.
    rank_change_24h = models.IntegerField(
        null=True, blank=True, help_text="Places gained since the 24h baseline (negative: lost)."
    )
    is_new_24h = models.BooleanField(
        default=False, db_default=False, help_text="Absent from the 24h baseline snapshot."
    )
    is_new_7d = models.BooleanField(default=False, db_default=False)
    delta_downloads_24h = models.BigIntegerField(null=True, blank=True)
    delta_likes_24h = models.IntegerField(null=True, blank=True)
    delta_downloads_7d = models.BigIntegerField(null=True, blank=True)
    delta_likes_7d = models.IntegerField(null=True, blank=True)
    daily_downloads = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="True downloads since the 24h baseline, from all-time counts on both sides.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "model"], name="observation_unique"),
        ]
        indexes = [models.Index(fields=["snapshot", "rank"], name="observation_snapshot_rank")]

    def __str__(self) -> str:
        return f"{self.model_id} @ {self.snapshot_id}"


class Lease(models.Model):
    """A named, expiring lock held in the database (one row per name).

    Claimed with a conditional UPDATE, so two workers never both hold it;
    renewed while work goes on; taken over once it expires or, on the same
    host, once its holder's process is gone.
    """

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} ({self.holder or 'free'})"


class DailyObservation(models.Model):
    """One model's figures for one UTC day: the compact history kept for a year.

    Rolled up from observations when they are pruned (the day's latest
    snapshot wins), so trends longer than the 30 days of full observations stay
    possible; the last 30 days come from the observations themselves.
    """

    model = models.ForeignKey(HubModel, on_delete=models.CASCADE, related_name="daily")
    day = models.DateField()
    snapshot = models.ForeignKey(
        Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rank = models.PositiveIntegerField(null=True, blank=True)
    downloads = models.BigIntegerField(null=True, blank=True)
    downloads_all_time = models.BigIntegerField(null=True, blank=True)
    likes = models.IntegerField(null=True, blank=True)
    trending_score = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "day"], name="daily_observation_unique"),
        ]
        indexes = [models.Index(fields=["day"], name="daily_observation_day")]

    def __str__(self) -> str:
        return f"{self.model_id} on {self.day}"


class FamilyRollup(models.Model):
    """One family's figures in one snapshot: the sums over its public members.

    Written in bulk as a snapshot is published (snapshots.rollups), from the
    memberships of that moment. A delta is the sum of the members' known
    deltas (members new in the window add nothing), and null when no member
    has one: unknown, never 0.
    """

    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="family_rollups", db_index=False
    )
    family = models.ForeignKey(Family, on_delete=models.CASCADE, related_name="rollups")
    members = models.PositiveIntegerField()
    downloads = models.BigIntegerField(help_text="Sum of the members' 30-day downloads.")
    likes = models.BigIntegerField()
    delta_downloads_24h = models.BigIntegerField(null=True, blank=True)
    delta_likes_24h = models.BigIntegerField(null=True, blank=True)
    delta_downloads_7d = models.BigIntegerField(null=True, blank=True)
    delta_likes_7d = models.BigIntegerField(null=True, blank=True)
    top_member = models.ForeignKey(
        HubModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "family"], name="family_rollup_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.family_id} @ {self.snapshot_id}"
