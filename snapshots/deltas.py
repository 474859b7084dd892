"""Deltas and rank movement: each snapshot compared with its 24h and 7d baselines.

Computed once, never per request, and readers take the stored figures as
they are. Usually they are computed as the snapshot's observations are
written (`snapshots.ingest` asks `snapshot_baselines` for the baselines'
figures, read once, and `Baselines.figures` for each row), so publishing
rewrites nothing. When an archive arrives late and changes which snapshot is
whose baseline, or after correcting data, `snapshot_compute_deltas` computes
the same figures again over stored observations with one UPDATE.

The baseline for a window W is DESIGN.md's rule: among the complete
snapshots, the one closest to `taken_at − W` within ±W/4 of it (ties: the
older); none, and every delta of that window is null. A model absent from the
baseline is "new" for that window, and its deltas are null too. Null always
means unknown: no baseline, or one side lacks the figure. It is never 0.

The UPDATE is one statement for the whole snapshot, whatever the number of
models, each row looking up its baseline rows through the unique (snapshot,
model) index: on PostgreSQL one row-valued look-up per window, elsewhere one
ORM subquery per figure. The same rules are written out once more in
`Baselines.figures`; a test holds the paths to the same results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.utils import timezone

from registry.caching import content_changed

from .models import Observation, Snapshot
from .rollups import family_rollups_compute
from .scoring import snapshot_compute_components

logger = logging.getLogger("modelboard.deltas")

WINDOW_24H = timedelta(hours=24)
WINDOW_7D = timedelta(days=7)
# A snapshot at t can be the baseline of snapshots taken from t + 3W/4 to
# t + 5W/4: those are the ones to recompute when t arrives late.
AFFECTED_FROM = WINDOW_24H * 3 / 4
AFFECTED_UNTIL = WINDOW_7D * 5 / 4

# Every field this module writes on an observation.
DELTA_FIELDS = (
    "delta_downloads_24h",
    "delta_likes_24h",
    "rank_change_24h",
    "daily_downloads",
    "is_new_24h",
    "delta_downloads_7d",
    "delta_likes_7d",
    "is_new_7d",
)


def _with_observations(snapshots):
    # A snapshot whose observations were pruned (snapshots.retention) keeps
    # its row but can no longer be compared with: against it every model
    # would look new. The (snapshot, model) index answers this per row.
    return snapshots.filter(Exists(Observation.objects.filter(snapshot=OuterRef("pk"))))


def baseline_for(*, snapshot: Snapshot, window: timedelta) -> Snapshot | None:
    """The snapshot `snapshot` is compared with over `window`, or None.

    Among complete snapshots other than this one, whose observations are
    still kept, and taken within ±window/4 of `snapshot.taken_at − window`:
    the one closest to that moment; of two equally close, the older.
    """
    target = snapshot.taken_at - window
    slack = window / 4
    candidates = list(
        _with_observations(
            Snapshot.objects.served()
            .exclude(pk=snapshot.pk)
            .filter(taken_at__gte=target - slack, taken_at__lte=target + slack)
        ).order_by("taken_at", "id")
    )
    if not candidates:
        return None
    return min(candidates, key=lambda s: (abs(s.taken_at - target), s.taken_at, s.pk))


# What `Baselines.figures` gives an observation without a baseline, or absent from it.
_NO_BASELINE_24H = (None, None, None, None, False)
_NEW_24H = (None, None, None, None, True)
_NO_BASELINE_7D = (None, None, False)
_NEW_7D = (None, None, True)


@dataclass(frozen=True)
class Baselines:
    """A snapshot's two baselines and their figures, for computing deltas row by row.

    `day` and `week` are the 24h and 7d baselines (None: none); `day_figures`
    maps a model id to its (rank, downloads, likes, downloads_all_time) in
    `day`, `week_figures` to its (downloads, likes) in `week`.
    """

    day: Snapshot | None
    week: Snapshot | None
    day_figures: dict[int, tuple] = field(default_factory=dict, repr=False)
    week_figures: dict[int, tuple] = field(default_factory=dict, repr=False)

    def figures(
        self,
        model_id: int,
        rank: int | None,
        downloads: int | None,
        likes: int | None,
        downloads_all_time: int | None,
    ) -> tuple:
        """One observation's DELTA_FIELDS, in that order, as `snapshot_compute_deltas` stores them.

        Called once per row of a 100k-model snapshot: the null rules are
        written inline rather than through a helper per figure.
        """
        if self.day is None:
            day = _NO_BASELINE_24H
        else:
            base = self.day_figures.get(model_id)
            if base is None:
                day = _NEW_24H
            else:
                b_rank, b_downloads, b_likes, b_all_time = base
                day = (
                    None if downloads is None or b_downloads is None else downloads - b_downloads,
                    None if likes is None or b_likes is None else likes - b_likes,
                    None if rank is None or b_rank is None else b_rank - rank,
                    None
                    if downloads_all_time is None or b_all_time is None
                    else downloads_all_time - b_all_time,
                    False,
                )
        if self.week is None:
            return day + _NO_BASELINE_7D
        base = self.week_figures.get(model_id)
        if base is None:
            return day + _NEW_7D
        b_downloads, b_likes = base
        return day + (
            None if downloads is None or b_downloads is None else downloads - b_downloads,
            None if likes is None or b_likes is None else likes - b_likes,
            False,
        )


def snapshot_baselines(*, snapshot: Snapshot) -> Baselines:
    """The snapshot's baselines with their observations' figures, one read of each.

    Two look-ups for the baselines, then one query per baseline found: a
    plain scan of its rows through the (snapshot, model) index.
    """
    day = baseline_for(snapshot=snapshot, window=WINDOW_24H)
    week = baseline_for(snapshot=snapshot, window=WINDOW_7D)
    day_figures: dict[int, tuple] = {}
    week_figures: dict[int, tuple] = {}
    if day is not None:
        rows = (
            Observation.objects.filter(snapshot=day)
            .order_by()
            .values_list("model_id", "rank", "downloads", "likes", "downloads_all_time")
        )
        day_figures = {row[0]: row[1:] for row in rows}
    if week is not None:
        rows = (
            Observation.objects.filter(snapshot=week)
            .order_by()
            .values_list("model_id", "downloads", "likes")
        )
        week_figures = {row[0]: row[1:] for row in rows}
    return Baselines(day=day, week=week, day_figures=day_figures, week_figures=week_figures)


def deltas_mark_computed(*, snapshot: Snapshot, baselines: Baselines) -> None:
    """Record on the snapshot which baselines its stored deltas were computed against."""
    snapshot.baseline_24h = baselines.day
    snapshot.baseline_7d = baselines.week
    snapshot.deltas_computed_at = timezone.now()
    snapshot.save(update_fields=["baseline_24h", "baseline_7d", "deltas_computed_at"])


def snapshot_compute_deltas(*, snapshot: Snapshot) -> None:
    """Compute and store the snapshot's baselines and every observation's deltas.

    Sets `baseline_24h`, `baseline_7d` and `deltas_computed_at` on the
    snapshot, and on each of its observations the 24h and 7d download and
    like deltas, the "new" flags, the 24h rank change (places gained:
    baseline rank − rank) and the true daily downloads (difference of
    all-time downloads against the 24h baseline). Recomputing overwrites
    everything, so it is safe to run again. Run it inside a transaction.

    Ingest already stores these figures as it writes a snapshot; this is
    the path for stored observations (recomputes, late archives).
    """
    baseline_24h = baseline_for(snapshot=snapshot, window=WINDOW_24H)
    baseline_7d = baseline_for(snapshot=snapshot, window=WINDOW_7D)
    if connection.vendor == "postgresql":
        _update_postgresql(snapshot, baseline_24h, baseline_7d)
    else:
        _update_generic(snapshot, baseline_24h, baseline_7d)
    deltas_mark_computed(snapshot=snapshot, baselines=Baselines(day=baseline_24h, week=baseline_7d))


def _update_generic(
    snapshot: Snapshot, baseline_24h: Snapshot | None, baseline_7d: Snapshot | None
) -> None:
    # A missing baseline row makes its subquery NULL, and NULL arithmetic
    # gives the null delta the rule asks for.
    values: dict[str, object] = {}
    for suffix, baseline in (("24h", baseline_24h), ("7d", baseline_7d)):
        if baseline is None:
            values[f"delta_downloads_{suffix}"] = None
            values[f"delta_likes_{suffix}"] = None
            values[f"is_new_{suffix}"] = False
            continue
        base = Observation.objects.filter(snapshot=baseline, model=OuterRef("model"))
        values[f"delta_downloads_{suffix}"] = F("downloads") - Subquery(base.values("downloads"))
        values[f"delta_likes_{suffix}"] = F("likes") - Subquery(base.values("likes"))
        values[f"is_new_{suffix}"] = ~Exists(base)
        if suffix == "24h":
            values["rank_change_24h"] = Subquery(base.values("rank")) - F("rank")
            values["daily_downloads"] = F("downloads_all_time") - Subquery(
                base.values("downloads_all_time")
            )
    values.setdefault("rank_change_24h", None)
    values.setdefault("daily_downloads", None)
    Observation.objects.filter(snapshot=snapshot).update(**values)


def _update_postgresql(
    snapshot: Snapshot, baseline_24h: Snapshot | None, baseline_7d: Snapshot | None
) -> None:
    # Each row looks up its baseline row once per window (a row-valued
    # subquery over the unique (snapshot, model) index) instead of once per
    # figure. Correlated look-ups rather than a join: the snapshot's rows
    # were written in this very transaction, so the planner's statistics do
    # not know them yet, and a join planned on "about one row" can go
    # quadratic. A missing baseline sets constants and looks nothing up.
    table = connection.ops.quote_name(Observation._meta.db_table)
    figures_24h = (
        "o.downloads - d.downloads, o.likes - d.likes, d.rank - o.rank, "
        "o.downloads_all_time - d.downloads_all_time, d.model_id IS NULL"
    )
    figures_7d = "o.downloads - d.downloads, o.likes - d.likes, d.model_id IS NULL"
    assignments, params = [], []
    for columns, figures, baseline, unknown in (
        (
            "delta_downloads_24h, delta_likes_24h, rank_change_24h, daily_downloads, is_new_24h",
            figures_24h,
            baseline_24h,
            "NULL, NULL, NULL, NULL, false",
        ),
        (
            "delta_downloads_7d, delta_likes_7d, is_new_7d",
            figures_7d,
            baseline_7d,
            "NULL, NULL, false",
        ),
    ):
        if baseline is None:
            assignments.append(f"({columns}) = ROW({unknown})")
            continue
        # `(SELECT 1) LEFT JOIN`: exactly one row back, the baseline's or nulls.
        assignments.append(
            f"({columns}) = (SELECT {figures} FROM (SELECT 1) AS one "
            f"LEFT JOIN {table} AS d ON d.snapshot_id = %s AND d.model_id = o.model_id)"
        )
        params.append(baseline.pk)
    sql = f"UPDATE {table} AS o SET {', '.join(assignments)} WHERE o.snapshot_id = %s"
    params.append(snapshot.pk)
    if baseline_24h is None and baseline_7d is None:
        # Nothing to compare with: only rows holding figures need rewriting
        # (none, when the snapshot was just written).
        sql += (
            " AND (o.is_new_24h OR o.is_new_7d OR num_nonnulls(o.delta_downloads_24h, "
            "o.delta_likes_24h, o.rank_change_24h, o.daily_downloads, "
            "o.delta_downloads_7d, o.delta_likes_7d) > 0)"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def snapshots_recompute_deltas(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute the deltas of complete snapshots taken in [since, until], oldest first.

    For archives imported out of order, and after correcting data. Both
    bounds are optional (None: no bound). Snapshots whose observations were
    pruned are skipped, and a baseline whose observations were pruned no
    longer counts, so recompute within the retention window. Each snapshot
    commits on its own; the caches are invalidated once at the end. Returns
    how many snapshots were recomputed; `on_progress(done, total)` is called
    after each.
    """
    snapshots = _with_observations(Snapshot.objects.visible())
    if since is not None:
        snapshots = snapshots.filter(taken_at__gte=since)
    if until is not None:
        snapshots = snapshots.filter(taken_at__lte=until)
    pks = list(snapshots.order_by("taken_at", "id").values_list("pk", flat=True))
    done = 0
    for pk in pks:
        with transaction.atomic():
            snapshot = Snapshot.objects.filter(pk=pk).first()
            if snapshot is None:  # deleted meanwhile
                continue
            snapshot_compute_deltas(snapshot=snapshot)
            # Family rollups sum the members' deltas: they move with them.
            family_rollups_compute(snapshot=snapshot)
            # Growth components are percentiles of the 7d deltas just rewritten.
            snapshot_compute_components(snapshot=snapshot)
        done += 1
        if on_progress is not None:
            on_progress(done, len(pks))
    if done:
        logger.info("recomputed deltas of %d snapshot(s)", done)
        transaction.on_commit(lambda: content_changed(reason=f"deltas of {done} recomputed"))
    return done


def snapshots_recompute_after(*, snapshot: Snapshot) -> int:
    """Recompute the snapshots that may take `snapshot` as a baseline.

    For a snapshot that arrived after newer ones (an archive imported late):
    only those taken from 18 hours to 8¾ days after it can have it as a
    baseline. Returns how many were recomputed (0 when none is newer).
    """
    return snapshots_recompute_deltas(
        since=snapshot.taken_at + AFFECTED_FROM, until=snapshot.taken_at + AFFECTED_UNTIL
    )
