"""Snapshots of the Hub's metrics, and the observations they hold."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q

from registry.models import Family, HubModel


class RealField(models.FloatField):
    """A single-precision float (`real`, four bytes) where a double is more than enough."""

    def db_type(self, connection):
        return "real"


class SnapshotQuerySet(models.QuerySet):
    def visible(self) -> SnapshotQuerySet:
        """Snapshots readers may see: only complete ones (atomic publish), of any kind."""
        return self.filter(status=Snapshot.Status.COMPLETE)

    def served(self) -> SnapshotQuerySet:
        """Complete snapshots with observations: those a leaderboard is served from.

        Daily-crawl snapshots (kind "daily") write the daily history only.
        """
        return self.visible().filter(kind=Snapshot.Kind.HOURLY)


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

    class Kind(models.TextChoices):
        HOURLY = "hourly", "Observations (served as a leaderboard)"
        DAILY = "daily", "Daily crawl (daily history only)"

    class Source(models.TextChoices):
        HUB = "hub", "Hub refresh"
        ARCHIVE = "archive", "Archived file"
        DEMO = "demo", "Demo generator"

    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.HUB)
    # A daily snapshot writes the daily history only, no observations: it is
    # never the leaderboard readers are served (`SnapshotQuerySet.served`).
    kind = models.CharField(
        max_length=8,
        choices=Kind.choices,
        default=Kind.HOURLY,
        help_text="Hourly snapshots write observations; the daily crawl writes the daily table.",
    )
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
    records_skipped = models.PositiveIntegerField(
        default=0, help_text="Odd records left out (the rest was published)."
    )
    skipped_reasons = models.JSONField(
        default=dict,
        blank=True,
        help_text='Reason → {"count": n, "examples": [Hub ids]} for the records left out.',
    )
    baseline_24h = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    baseline_7d = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deltas_computed_at = models.DateTimeField(null=True, blank=True)
    components_computed_at = models.DateTimeField(
        null=True, blank=True, help_text="When its observations' score components were computed."
    )

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


class Int32ForeignKey(models.ForeignKey):
    """A foreign key stored as a 32-bit integer, whatever the target's key type.

    Observations are the one table with a row per model per snapshot; half
    of their primary key is the model's id. Catalog and snapshot ids stay far
    below 2^31 (two billion models, or a snapshot every hour for 245,000
    years), so four bytes hold them: a PostgreSQL `integer` compares with the
    `bigint` it references, and the foreign key holds.
    """

    def db_type(self, connection):
        return "integer"

    def rel_db_type(self, connection):
        return "integer"


class Observation(models.Model):
    """One model's metrics in one snapshot.

    Narrow on purpose (DESIGN.md, "Observations and their partitions"): no
    surrogate id, the primary key is (snapshot, model); both keys are 32-bit;
    the score components are single precision (`real`: 24 bits of mantissa,
    far finer than a percentile of a few million models needs). Counts stay
    64-bit. On PostgreSQL the table is partitioned by snapshot (see
    `snapshots.partitions`); elsewhere it is a plain table.
    """

    # Model first: the key also serves a model's history across snapshots,
    # and a snapshot's rows are reached through the (snapshot, rank) index
    # (on PostgreSQL, through its partition).
    pk = models.CompositePrimaryKey("model", "snapshot")
    snapshot = Int32ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="observations", db_index=False
    )
    model = Int32ForeignKey(
        HubModel, on_delete=models.CASCADE, related_name="observations", db_index=False
    )
    rank = models.PositiveIntegerField(
        null=True, blank=True, help_text="By 30-day downloads, then likes, then id."
    )
    downloads = models.BigIntegerField(null=True, blank=True, help_text="Rolling 30 days.")
    downloads_all_time = models.BigIntegerField(null=True, blank=True)
    # Every count is 64-bit: the Hub's figures can pass 2^31 (likes included).
    likes = models.BigIntegerField(null=True, blank=True)
    trending_score = models.FloatField(null=True, blank=True)
    # The revision this snapshot saw (the catalog keeps only the latest).
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
    delta_likes_24h = models.BigIntegerField(null=True, blank=True)
    delta_downloads_7d = models.BigIntegerField(null=True, blank=True)
    delta_likes_7d = models.BigIntegerField(null=True, blank=True)
    daily_downloads = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="True downloads since the 24h baseline, from all-time counts on both sides.",
    )
    # Score components (snapshots.scoring): percentiles within the snapshot,
    # 0 to 1, computed once as the snapshot is written; null: figure unknown.
    pct_downloads = RealField(null=True, blank=True)
    pct_likes = RealField(null=True, blank=True)
    pct_downloads_growth = RealField(null=True, blank=True)
    pct_likes_growth = RealField(null=True, blank=True)
    pct_recency = RealField(null=True, blank=True)
    pct_trending = RealField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["snapshot", "rank"], name="observation_snapshot_rank")]

    def __str__(self) -> str:
        return f"{self.model_id} @ {self.snapshot_id}"


class Crawl(models.Model):
    """One whole-Hub daily crawl: its cursor checkpoint, progress and outcome.

    The crawl pages through every public model over several runs (beat ticks,
    or `manage.py crawl`); each page read is staged (`CrawlPage`) in the same
    transaction that advances `next_url`, so a kill loses at most the page in
    flight and a resume neither repeats nor skips one. When the listing ends,
    the staged pages are published in one transaction as a daily snapshot
    (`snapshots.crawl`).
    """

    class Status(models.TextChoices):
        RUNNING = "running"  # a run is paging (or was killed while it did)
        PAUSED = "paused"  # budget, quota or the Hub stopped a run: the next one resumes
        COMPLETE = "complete"
        FAILED = "failed"  # outlived its day, or could not be published

    day = models.DateField(help_text="The UTC day the crawl was started for.")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    next_url = models.TextField(
        blank=True, help_text="The next listing page to read; empty once the listing is done."
    )
    listing_done = models.BooleanField(default=False)
    pages_done = models.PositiveIntegerField(default=0)
    records_read = models.PositiveIntegerField(default=0, help_text="Records the Hub returned.")
    records_staged = models.PositiveIntegerField(default=0)
    records_skipped = models.PositiveIntegerField(default=0)
    skipped_reasons = models.JSONField(default=dict, blank=True)
    runs = models.PositiveIntegerField(default=0, help_text="Runs that worked on it.")
    calls_used = models.PositiveIntegerField(default=0)
    quota_remaining = models.PositiveIntegerField(null=True, blank=True)
    quota_limit = models.PositiveIntegerField(null=True, blank=True)
    quota_resets_at = models.DateTimeField(null=True, blank=True)
    snapshot = models.OneToOneField(
        Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="crawl"
    )
    error = models.TextField(blank=True, help_text="Why the last run stopped early.")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-day"], name="crawl_day")]

    def __str__(self) -> str:
        return f"crawl {self.day} ({self.status}, {self.pages_done} pages)"


class CrawlPage(models.Model):
    """One staged listing page of a crawl: the records it held, as JSON text.

    A page per row (about 1,000 records in one text value) is one cheap
    INSERT per upstream call, cheaper than a row per record even with COPY,
    and PostgreSQL compresses the text. Deleted when the crawl publishes.
    """

    crawl = models.ForeignKey(Crawl, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField()
    records = models.TextField(help_text="A JSON array of the page's well-formed raw records.")
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["crawl", "number"], name="crawl_page_unique"),
        ]

    def __str__(self) -> str:
        return f"page {self.number} of {self.crawl_id}"


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
    """One model's figures for one UTC day: the history kept indefinitely by default.

    A day's row is the model's latest sighting that day: the latest complete
    snapshot of that UTC day that saw it, of any kind (an hourly snapshot, an
    archive, the daily crawl). Written as each snapshot is published
    (`snapshots.daily`), kept for DAILY_HISTORY_DAYS (0: forever).

    `daily_downloads` is the day's true downloads, the difference of the
    all-time counts of this day and the day before; null when either row is
    missing or either count unknown (a gap, never interpolated), so a model's
    first day has none.

    Compact on purpose (one row per model per day, for the whole Hub): the
    (model, day) pair is the primary key, and neither reference is a
    foreign-key constraint in the database, so a day of millions of rows pays
    no per-row check at commit. Model ids come from the catalog written in
    the same transaction, and deleting a model deletes its rows (Django's
    CASCADE, by the key's leading column); the supplying snapshot is a bare
    id without an index (retention never deletes snapshots, and a dangling id
    only means the sighting can no longer say when it was taken).
    Both references are 32-bit (`Int32ForeignKey`), so a row is 80 bytes and
    its primary-key entry 16.
    """

    pk = models.CompositePrimaryKey("model", "day")
    model = Int32ForeignKey(
        HubModel,
        on_delete=models.CASCADE,
        related_name="daily",
        db_index=False,
        db_constraint=False,
    )
    day = models.DateField()
    snapshot = Int32ForeignKey(
        Snapshot,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        help_text="The snapshot that supplied the row: the model's latest sighting that day.",
    )
    downloads = models.BigIntegerField(null=True, blank=True, help_text="Rolling 30 days.")
    downloads_all_time = models.BigIntegerField(null=True, blank=True)
    daily_downloads = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="All-time downloads minus the previous day's; null: unknown (a gap).",
    )
    likes = models.BigIntegerField(null=True, blank=True)
    trending_score = models.FloatField(null=True, blank=True)

    # No index beside the primary key: every read names the model (history,
    # the day's figures joined to a leaderboard); only retention, off by
    # default, selects by day alone. An index on day would cost a fifth of
    # the row again for every model every day.

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


# --- Scoring profiles and anomalies -------------------------------------------------


class ScoringProfileQuerySet(models.QuerySet):
    def curated(self) -> ScoringProfileQuerySet:
        """The public profiles curators keep (research, production, community)."""
        return self.filter(organization__isnull=True)


class ScoringProfile(models.Model):
    """How to weigh a model: points over normalized components, and anomaly thresholds.

    Each component is a model's percentile within its snapshot (0 to 1; license
    openness is a fixed value per license class, see `snapshots.scoring`). A
    profile gives each component points; the points add up to 100, so the
    score, the sum of points × component, is on a 0–100 scale and each part
    of it says how many of those points the component earned.

    A profile without an organization is curated and free to use; one that
    belongs to an organization is custom, visible only to it, and needs a
    plan with `custom_profiles`.
    """

    WEIGHT_FIELDS = (
        "weight_downloads",
        "weight_likes",
        "weight_downloads_growth",
        "weight_likes_growth",
        "weight_recency",
        "weight_trending",
        "weight_license",
    )
    TOTAL_POINTS = 100
    MIN_Z_THRESHOLD = 2

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    organization = models.ForeignKey(
        "registry.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scoring_profiles",
        help_text="Empty for the curated public profiles; set for an organization's own.",
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in lists.")
    weight_downloads = models.PositiveSmallIntegerField(
        default=0, help_text="Points for 30-day downloads (percentile in the snapshot)."
    )
    weight_likes = models.PositiveSmallIntegerField(default=0, help_text="Points for likes.")
    weight_downloads_growth = models.PositiveSmallIntegerField(
        default=0, help_text="Points for 7-day download growth, relative to a week ago."
    )
    weight_likes_growth = models.PositiveSmallIntegerField(
        default=0, help_text="Points for 7-day likes growth, relative to a week ago."
    )
    weight_recency = models.PositiveSmallIntegerField(
        default=0, help_text="Points for how recently the model was modified."
    )
    weight_trending = models.PositiveSmallIntegerField(
        default=0, help_text="Points for the Hub's trending score."
    )
    weight_license = models.PositiveSmallIntegerField(
        default=0, help_text="Points for license openness (permissive highest)."
    )
    anomaly_z_threshold = models.FloatField(
        default=3.5,
        help_text="Robust z-score from which a day's velocity is an anomaly (at least 2).",
    )
    anomaly_min_downloads = models.PositiveIntegerField(
        default=1000, help_text="Least change in daily downloads (above the median) to flag."
    )
    anomaly_min_likes = models.PositiveIntegerField(
        default=10, help_text="Least change in daily likes (above the median) to flag."
    )

    objects = ScoringProfileQuerySet.as_manager()

    class Meta:
        ordering = ["position", "slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    weight_downloads__gte=0,
                    weight_likes__gte=0,
                    weight_downloads_growth__gte=0,
                    weight_likes_growth__gte=0,
                    weight_recency__gte=0,
                    weight_trending__gte=0,
                    weight_license__gte=0,
                    anomaly_z_threshold__gte=2,
                ),
                name="scoring_profile_valid_figures",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_custom(self) -> bool:
        return self.organization_id is not None

    def weights(self) -> dict[str, int]:
        """Component name → points, in the order components are shown."""
        return {name.removeprefix("weight_"): getattr(self, name) for name in self.WEIGHT_FIELDS}

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors: dict[str, list[str]] = {}
        values = {name: getattr(self, name) for name in self.WEIGHT_FIELDS}
        for name, value in values.items():
            if value is None or value < 0:
                errors.setdefault(name, []).append("Points cannot be negative.")
        total = sum(v for v in values.values() if v is not None and v >= 0)
        if not errors and total != self.TOTAL_POINTS:
            errors["__all__"] = [
                f"The weights must add up to {self.TOTAL_POINTS} points; they add up to {total}."
            ]
        if self.anomaly_z_threshold is not None and self.anomaly_z_threshold < self.MIN_Z_THRESHOLD:
            errors["anomaly_z_threshold"] = [
                f"Below {self.MIN_Z_THRESHOLD}, ordinary noise would be flagged every day."
            ]
        if errors:
            raise ValidationError(errors)


class Anomaly(models.Model):
    """A day on which a model's velocity left its recent range.

    One row per model, UTC day and metric, written when at least one profile
    flags it: its robust z-score against the previous 14 days reaches the
    profile's threshold and its change over the median reaches the profile's
    minimum. Which profiles flag it is decided when read, from `z` and
    `change`, so tightening a threshold needs no recompute.
    """

    class Metric(models.TextChoices):
        DOWNLOADS = "downloads", "Daily downloads"
        LIKES = "likes", "Daily likes"

    class Basis(models.TextChoices):
        ALL_TIME = "all_time", "Change in all-time downloads"
        ROLLING_30D = "rolling_30d", "Change in 30-day downloads"
        LIKES = "likes", "Change in likes"

    # No index of its own: the unique (model, day, metric) constraint leads with it.
    model = models.ForeignKey(
        HubModel, on_delete=models.CASCADE, related_name="anomalies", db_index=False
    )
    day = models.DateField()
    metric = models.CharField(max_length=16, choices=Metric.choices)
    basis = models.CharField(
        max_length=16,
        choices=Basis.choices,
        help_text="What the daily value is the change of (all-time downloads when known).",
    )
    snapshot = models.ForeignKey(
        Snapshot,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="anomalies",
        help_text="The snapshot whose publish first flagged it.",
    )
    value = models.FloatField(help_text="The day's velocity (per day).")
    median = models.FloatField(help_text="Median velocity of the previous 14 days.")
    mad = models.FloatField(help_text="Median absolute deviation of those days.")
    scale = models.FloatField(
        help_text="The spread z is measured in (1.4826 × MAD, or a fallback)."
    )
    z = models.FloatField("robust z-score")
    change = models.FloatField(help_text="value − median.")
    history_days = models.PositiveSmallIntegerField(help_text="Days of history judged against.")
    detected_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "-z"]
        verbose_name_plural = "anomalies"
        constraints = [
            models.UniqueConstraint(fields=["model", "day", "metric"], name="anomaly_unique"),
        ]
        indexes = [
            models.Index(fields=["day", "metric"], name="anomaly_day_metric"),
            models.Index(fields=["snapshot"], name="anomaly_snapshot"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.metric} on {self.day} (z={self.z:.1f})"
