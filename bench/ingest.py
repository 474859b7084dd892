"""Time the ingest of a large archived snapshot, end to end, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/ingest.py

What is timed is what `manage.py import_snapshots` does with one file: read it
(`read_archive`), validate every record (`validate_records`) and write it
(`snapshot_import`: catalog upsert, observations with their deltas, and the
publish, which applies capability tags to the models created or changed, in
one transaction). The records are generated in memory from a seed and written to a
JSON file first; that part is not timed.

Snapshot 1 finds an empty catalog, so every model is new. Each later snapshot
is taken a day after the one before: every model's metrics move, about 10% of
the models have a new revision (sha, lastModified, tags) and about 1% are new,
which is what an hourly refresh mostly looks like.

DATABASE_URL (or --database-url) names a PostgreSQL server; the benchmark never
writes to the database it names. It creates a scratch database
`modelboard_bench_<pid>` on that server, migrates it, and drops it at the end
unless --keep is given. SQLite runs only with --allow-sqlite, in a temporary
file, for comparison: the target is PostgreSQL.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from bench_keys import bench_keys

REPO = Path(__file__).resolve().parents[1]
TARGET_PER_SECOND = 20_000
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

# --- Records ---------------------------------------------------------------

# Authors behind curated providers (aliases seeded by a migration), so part of
# the catalog resolves to a provider, as on the real Hub.
PROVIDER_AUTHORS = (
    "meta-llama",
    "google",
    "Qwen",
    "mistralai",
    "microsoft",
    "deepseek-ai",
    "nvidia",
    "stabilityai",
    "BAAI",
    "sentence-transformers",
    "HuggingFaceTB",
    "ibm-granite",
    "unsloth",
    "NousResearch",
)
# pipeline_tag, library_name, tags that come with them
KINDS = (
    ("text-generation", "transformers", ("text-generation", "conversational", "safetensors")),
    ("text-generation", "gguf", ("gguf", "text-generation", "llama-cpp")),
    ("image-text-to-text", "transformers", ("image-text-to-text", "conversational")),
    ("text-to-image", "diffusers", ("text-to-image", "diffusers:StableDiffusionPipeline")),
    ("automatic-speech-recognition", "transformers", ("automatic-speech-recognition", "audio")),
    ("sentence-similarity", "sentence-transformers", ("sentence-similarity", "embeddings")),
    ("text-classification", "transformers", ("text-classification", "pytorch")),
    ("fill-mask", "transformers", ("fill-mask", "bert")),
    ("", "peft", ("lora", "adapter")),
    ("", "", ()),
)
KIND_WEIGHTS = (30, 10, 6, 8, 4, 6, 10, 5, 12, 9)
# license as the card says it (None: no card license), weight
LICENSES = (
    ("apache-2.0", 35),
    ("mit", 20),
    ("llama3.1", 6),
    ("gemma", 4),
    ("other", 4),  # with a license_name
    ("cc-by-nc-4.0", 6),
    ("openrail", 5),
    ("gpl-3.0", 2),
    ("cc-by-4.0", 3),
    (None, 15),
)
LANGUAGES = ("en", "zh", "fr", "de", "es", "ja", "ko", "ru", "multilingual")
RELATIONS = ("finetune", "quantized", "adapter", "merge")


def iso(moment: datetime) -> str:
    """The Hub's timestamp format: milliseconds and a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class BenchHub:
    """A seeded population of Hub models whose metrics move from day to day.

    `records()` gives the raw records of the current day, with detail fields
    expanded for most models (card data, safetensors); `next_day()` moves
    every model's metrics, gives some a new revision and adds new models.
    """

    def __init__(self, models: int, *, seed: int) -> None:
        self.rng = random.Random(seed)
        self.today = START
        community = [f"user-{i:05d}" for i in range(max(models // 20, 1))]
        self.authors = list(PROVIDER_AUTHORS) + community
        # A few authors publish most models (quantizers, big orgs): Zipf-like weights.
        self.author_weights = list(
            _accumulate([1.0 / (rank + 1) ** 0.8 for rank in range(len(self.authors))])
        )
        self.kind_weights = list(_accumulate(KIND_WEIGHTS))
        self.license_weights = list(_accumulate(w for _, w in LICENSES))
        self.models: list[dict] = []
        self.serial = 0
        self.add_models(models)

    def _sha(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    def add_models(self, count: int) -> None:
        rng = self.rng
        for _ in range(count):
            self.serial += 1
            author = rng.choices(self.authors, cum_weights=self.author_weights)[0]
            pipeline, library, kind_tags = rng.choices(KINDS, cum_weights=self.kind_weights)[0]
            license, _ = rng.choices(LICENSES, cum_weights=self.license_weights)[0]
            created = self.today - timedelta(seconds=rng.randrange(4 * 365 * 86400))
            modified = created + (self.today - created) * rng.random()
            tags = [*kind_tags, "region:us"]
            if library:
                tags.insert(0, library)
            if license:
                tags.append(f"license:{license}")
            if rng.random() < 0.2:
                tags.append(f"arxiv:{rng.randrange(1800, 2600)}.{rng.randrange(10000):05d}")
            card: dict | None = {"language": [rng.choice(LANGUAGES)], "tags": list(kind_tags)}
            if license:
                card["license"] = license
                if license == "other":
                    card["license_name"] = rng.choice(("qwen", "deepseek", "tongyi-qianwen"))
            if self.models and rng.random() < 0.35:
                # Finetunes, quantizations, adapters, merges of earlier models.
                base = rng.choice(self.models)["id"]
                tags += [f"base_model:{base}", f"base_model:{rng.choice(RELATIONS)}:{base}"]
                card["base_model"] = base
            if rng.random() < 0.1:
                card = None  # no model card at all
            daily = int(rng.lognormvariate(2.0, 2.2))
            model = {
                "_id": f"{rng.getrandbits(96):024x}",
                "id": f"{author}/model-{self.serial:06d}-{rng.choice(('7B', 'base', 'it', 'v2'))}",
                "author": author,
                "downloads": daily * 30,
                "downloadsAllTime": daily * 30 + int(daily * rng.uniform(0, 600)),
                "likes": int(rng.paretovariate(1.2)) - 1,
                "trendingScore": int(rng.paretovariate(1.5)) - 1,
                "lastModified": iso(modified),
                "createdAt": iso(created),
                "sha": self._sha(),
                "tags": tags,
                "pipeline_tag": pipeline or None,
                "library_name": library or None,
                "private": False,
                "gated": rng.choices((False, "auto", "manual"), cum_weights=(90, 95, 100))[0],
            }
            if card is not None:
                model["cardData"] = card
            if library in ("transformers", "sentence-transformers", "diffusers"):
                total = int(rng.lognormvariate(20.5, 1.8))
                model["safetensors"] = {"parameters": {"BF16": total}, "total": total}
            self.models.append(model)

    def next_day(self, *, changed: float, new: float) -> tuple[int, int]:
        """Move to the next day; return (models with a new revision, new models)."""
        rng = self.rng
        self.today += timedelta(days=1)
        revised = 0
        for model in self.models:
            daily = max(0, int(model["downloads"] / 30 * rng.lognormvariate(0, 0.3)))
            model["downloads"] = int(model["downloads"] * 29 / 30) + daily
            model["downloadsAllTime"] += daily
            model["likes"] += int(rng.random() < 0.2)
            model["trendingScore"] = max(0, model["trendingScore"] + rng.randint(-2, 3))
            if rng.random() < changed:
                revised += 1
                model["sha"] = self._sha()
                model["lastModified"] = iso(self.today - timedelta(seconds=rng.randrange(86400)))
                if rng.random() < 0.5:
                    model["tags"] = [*model["tags"], "endpoints_compatible"]
        added = int(len(self.models) * new)
        self.add_models(added)
        return revised, added

    def write_archive(self, path: Path) -> None:
        with path.open("w") as out:
            json.dump({"fetched_at": self.today.isoformat(), "models": self.models}, out)


def _accumulate(weights) -> list[float]:
    total, sums = 0.0, []
    for weight in weights:
        total += weight
        sums.append(total)
    return sums


# --- Database --------------------------------------------------------------


def scratch_database_url(server_url: str, name: str) -> str:
    return urlsplit(server_url)._replace(path=f"/{name}").geturl()


def admin_connect(server_url: str):
    """An autocommit connection to the database the URL names, for CREATE/DROP DATABASE."""
    import psycopg

    return psycopg.connect(server_url, autocommit=True)


def create_database(server_url: str, name: str) -> None:
    # Fails if it exists (a run kept with --keep, whose pid came round again).
    with admin_connect(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(server_url: str, name: str) -> None:
    with admin_connect(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Timing ----------------------------------------------------------------


@dataclass
class Run:
    label: str
    models: int
    revised: int
    added: int
    file_mb: float
    read: float
    validate: float
    write: float
    ingest: float  # the part of `write` spent in snapshots.ingest.snapshot_ingest
    tags: float  # the part of `write` spent in tagging.services.tags_apply (publish)
    families: float  # the part of `write` spent assigning families and rolling them up
    observations: int
    catalog_created: int

    @property
    def total(self) -> float:
        return self.read + self.validate + self.write

    @property
    def per_second(self) -> float:
        return self.observations / self.total


@contextmanager
def service_timer(name: str) -> Iterator[list[float]]:
    """Time the calls `snapshots.services` makes to `name`, to split the write phase.

    `snapshot_ingest` is the catalog and the observations; `tags_apply` is the
    publish's capability tags. The rest of the write (the snapshot row, the
    status flip, the commit and its deferred constraint checks) belongs to
    `snapshots.services`.
    """
    from snapshots import services

    spent: list[float] = []
    original = getattr(services, name)

    def timed(**kwargs):
        start = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    setattr(services, name, timed)
    try:
        yield spent
    finally:
        setattr(services, name, original)


def time_import(path: Path, *, profiler: cProfile.Profile | None) -> tuple[float, ...]:
    """Read, validate and import one archive file.

    Returns (read, validate, write, ingest, tags, families).
    """
    from registry.archive import read_archive, validate_records
    from snapshots.services import snapshot_import

    with (
        service_timer("snapshot_ingest") as ingest,
        service_timer("tags_apply") as tags,
        service_timer("families_assign") as assign,
        service_timer("family_rollups_compute") as rollups,
    ):
        if profiler:
            profiler.enable()
        t0 = time.perf_counter()
        archive = read_archive(path)
        t1 = time.perf_counter()
        records = validate_records(archive)
        t2 = time.perf_counter()
        outcome = snapshot_import(archive=archive, records=records, taken_at=archive.taken_at)
        t3 = time.perf_counter()
        if profiler:
            profiler.disable()
    if not outcome.created:
        raise SystemExit(f"{path.name} was imported before: nothing was written")
    return t1 - t0, t2 - t1, t3 - t2, sum(ingest), sum(tags), sum(assign) + sum(rollups)


@dataclass
class ArchiveDay:
    path: Path
    models: int
    revised: int
    added: int


def write_archives(args: argparse.Namespace, workdir: Path) -> list[ArchiveDay]:
    """Write every snapshot's archive file up front.

    The generator's state is as big as an archive; generating the files before
    any import and then letting it go keeps it off the heap while the imports
    are timed, so the garbage collector sees what `import_snapshots` would.
    """
    print(f"Generating {args.models:,} models (seed {args.seed})...", flush=True)
    hub = BenchHub(args.models, seed=args.seed)
    days: list[ArchiveDay] = []
    for number in range(1, args.snapshots + 1):
        revised = added = 0
        if number > 1:
            revised, added = hub.next_day(changed=args.changed, new=args.new)
        path = workdir / f"{hub.today:%Y-%m-%dT%H%MZ}.json"
        hub.write_archive(path)
        days.append(ArchiveDay(path, len(hub.models), revised, added))
    return days


def run_benchmark(args: argparse.Namespace, workdir: Path) -> list[Run]:
    from registry.models import HubModel
    from snapshots.models import Observation, Snapshot

    days = write_archives(args, workdir)
    gc.collect()
    profiler = cProfile.Profile() if args.profile else None
    runs: list[Run] = []
    for number, day in enumerate(days, start=1):
        catalog_before = HubModel.objects.count()
        print(f"Snapshot {number}: importing {day.path.name}...", flush=True)
        read, validate, write, ingest, tags, families = time_import(day.path, profiler=profiler)
        snapshot = Snapshot.objects.get(source_name=day.path.name)
        observations = Observation.objects.filter(snapshot=snapshot).count()
        if observations != day.models or snapshot.status != Snapshot.Status.COMPLETE:
            raise SystemExit(
                f"snapshot {number} is wrong: {observations} observations for "
                f"{day.models} models, status {snapshot.status}"
            )
        if number > 1 and snapshot.baseline_24h_id is None:
            raise SystemExit(f"snapshot {number} has no 24h baseline: its deltas are missing")
        runs.append(
            Run(
                label="1 (all new)" if number == 1 else f"{number} (+1 day)",
                models=day.models,
                revised=day.revised,
                added=day.added,
                file_mb=day.path.stat().st_size / 1e6,
                read=read,
                validate=validate,
                write=write,
                ingest=ingest,
                tags=tags,
                families=families,
                observations=observations,
                catalog_created=HubModel.objects.count() - catalog_before,
            )
        )
        day.path.unlink()
    if profiler:
        print("\ncProfile of the timed phases (all snapshots), by internal time:")
        stats = pstats.Stats(profiler).strip_dirs().sort_stats("tottime")
        stats.print_stats(args.profile)
        print("...and by cumulative time:")
        stats.sort_stats("cumulative").print_stats(args.profile)
    return runs


def server_version() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}"


def report(runs: list[Run]) -> bool:
    header = (
        f"{'snapshot':<13} {'models':>8} {'new':>7} {'revised':>7} {'MB':>5} | {'read':>5} "
        f"{'valid.':>6} {'write':>5} = {'ingest':>6} + {'publ.':>5} ({'tags':>5} {'fam.':>5}) | "
        f"{'total':>5} {'obs/s':>7}"
    )
    print()
    print(header)
    print("-" * len(header))
    for run in runs:
        print(
            f"{run.label:<13} {run.models:>8,} {run.catalog_created:>7,} {run.revised:>7,} "
            f"{run.file_mb:>5.1f} | {run.read:>5.2f} {run.validate:>6.2f} {run.write:>5.2f} = "
            f"{run.ingest:>6.2f} + {run.write - run.ingest:>5.2f} "
            f"({run.tags:>5.2f} {run.families:>5.2f}) | "
            f"{run.total:>5.2f} {run.per_second:>7,.0f}"
        )
    print(
        "Seconds. read: read_archive; valid.: validate_records; write: snapshot_import, which is\n"
        "ingest (snapshots.ingest: catalog, observations and their deltas) + publ. (the rest:\n"
        "snapshot row, publish with its capability tags (tags: tags_apply on the models created\n"
        "or changed; fam.: families assigned and rolled up), commit with its deferred\n"
        "foreign-key checks)."
    )
    print()
    import django
    import psycopg

    print(
        f"{server_version()}; {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"Django {django.get_version()}; psycopg {psycopg.__version__}"
    )
    slowest = min(run.per_second for run in runs)
    met = slowest >= TARGET_PER_SECOND
    verdict = "met" if met else "NOT met"
    print(
        f"Target {TARGET_PER_SECOND:,} observations/s end to end: {verdict} "
        f"(slowest snapshot {slowest:,.0f}/s)"
    )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100_000, help="models in snapshot 1")
    parser.add_argument("--snapshots", type=int, default=2, help="snapshots, a day apart")
    parser.add_argument(
        "--changed", type=float, default=0.10, help="share of models with a new revision each day"
    )
    parser.add_argument("--new", type=float, default=0.01, help="share of new models each day")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="PostgreSQL server to benchmark on (default: $DATABASE_URL); its database is "
        "only used to create and drop the scratch database",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--allow-sqlite", action="store_true", help="run on a temporary SQLite file"
    )
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=30,
        metavar="LINES",
        help="profile the timed phases with cProfile (slows them down) and print the top LINES",
    )
    args = parser.parse_args(argv)
    if args.snapshots < 1 or args.models < 1:
        parser.error("--models and --snapshots must be at least 1")

    url = args.database_url
    on_postgres = urlsplit(url).scheme in ("postgres", "postgresql", "pgsql", "postgis")
    if not on_postgres and not args.allow_sqlite:
        print(
            "The target is PostgreSQL: set DATABASE_URL (or --database-url) to a PostgreSQL "
            "server, e.g. postgres://postgres@127.0.0.1:5432/postgres. A scratch database is "
            "created there and dropped afterwards. --allow-sqlite runs on a temporary SQLite "
            f"file instead, for comparison only. (Got {url or 'no DATABASE_URL'}.)",
            file=sys.stderr,
        )
        return 2

    with tempfile.TemporaryDirectory(prefix="modelboard-bench-") as tmp:
        workdir = Path(tmp)
        scratch = f"modelboard_bench_{os.getpid()}"
        if on_postgres:
            create_database(url, scratch)
            os.environ["DATABASE_URL"] = scratch_database_url(url, scratch)
            where = f"PostgreSQL database {scratch!r}"
        else:
            os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
            where = "a temporary SQLite file (the target is PostgreSQL)"
        os.environ["DJANGO_SETTINGS_MODULE"] = "registry.settings"
        os.environ.setdefault("MODELBOARD_LOG_LEVEL", "WARNING")  # keep the table readable
        # Production settings (DEBUG off, which would keep every query) need a key.
        bench_keys()
        sys.path.insert(0, str(REPO))
        try:
            import django
            from django.core.management import call_command

            django.setup()
            print(f"Migrating {where}...", flush=True)
            call_command("migrate", verbosity=0, interactive=False)
            runs = run_benchmark(args, workdir)
            report(runs)
        finally:
            if on_postgres:
                from django.db import connections

                connections.close_all()
                if args.keep:
                    print(f"Kept {os.environ['DATABASE_URL']}")
                else:
                    drop_database(url, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
