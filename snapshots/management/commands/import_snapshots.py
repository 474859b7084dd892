"""manage.py import_snapshots PATH...: archived Hub snapshots into the database.

Every file is read and checked before anything is written, so a bad file
(an odd record too: an over-long field, a NUL, a lone surrogate, a date that
overflows, a count past 64 bits) stops the whole import, naming the file and
the record, with nothing written and exit status 1. The import is then
all-or-nothing: the files are written in one transaction, so a file that
fails while being written (a database error) rolls back the ones before it
too. Each file becomes one snapshot; a file imported before is recognised by
its bytes and skipped. Files are imported in the order they were taken,
oldest first.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from registry.archive import (
    ArchiveError,
    iter_archive_paths,
    read_archive,
    taken_at_from_filename,
    validate_records,
)
from snapshots.services import snapshot_import

MAX_ERRORS_SHOWN = 20


def _parse_taken_at(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--taken-at: '{value}' is not an ISO-8601 time (2026-03-02T12:17Z)")
    if parsed.tzinfo is None:
        raise CommandError(f"--taken-at: '{value}' has no UTC offset; add Z or +00:00")
    return parsed


class Command(BaseCommand):
    help = (
        "Import archived Hub snapshots (JSON array, {fetched_at|date, models} object, "
        "or JSON Lines). Directories are searched for *.json and *.jsonl."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="Files or directories.")
        parser.add_argument(
            "--taken-at",
            help="When the snapshot was taken (ISO-8601 with offset); only for a single file. "
            "Otherwise taken from the file's fetched_at/date field, then from its name.",
        )
        parser.add_argument("--no-progress", action="store_true", help="Do not draw progress bars.")

    def handle(self, *args, paths: list[str], taken_at: str | None, no_progress: bool, **opts):
        started = time.monotonic()
        try:
            files = iter_archive_paths(paths)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        if not files:
            raise CommandError("No .json or .jsonl files found in: " + ", ".join(paths))
        forced = _parse_taken_at(taken_at) if taken_at else None
        if forced and len(files) > 1:
            raise CommandError(
                f"--taken-at names one moment, but {len(files)} files were given; "
                "import them one at a time or let each file say when it was taken."
            )
        hide = True if no_progress else None  # None: bars only on a terminal

        checked, errors = [], []
        for path in tqdm(files, desc="Checking", unit="file", disable=hide):
            try:
                archive = read_archive(path)
                records = validate_records(archive)
                # Checked and parsed: the raw records are not needed again.
                archive = replace(archive, records=())
            except ArchiveError as exc:
                errors.append(str(exc))
                continue
            when = forced or archive.taken_at or taken_at_from_filename(path.name)
            if when is None:
                errors.append(
                    f"{path}: no snapshot time: the file has no fetched_at or date field and "
                    "its name has no timestamp; pass --taken-at"
                )
                continue
            checked.append((archive, records, when))
        if errors:
            shown = "\n  ".join(errors[:MAX_ERRORS_SHOWN])
            more = len(errors) - MAX_ERRORS_SHOWN
            tail = f"\n  … and {more} more" if more > 0 else ""
            raise CommandError(
                f"{len(errors)} of {len(files)} file(s) cannot be imported; nothing was "
                f"written:\n  {shown}{tail}"
            )

        # Oldest first, so each snapshot's baselines are already in when its
        # deltas are computed (file names need not sort by time).
        checked.sort(key=lambda item: item[2])
        created = skipped = observations = 0
        already: list[str] = []
        archive = None
        try:
            with transaction.atomic():
                for archive, records, when in tqdm(
                    checked, desc="Importing", unit="file", disable=hide
                ):
                    outcome = snapshot_import(archive=archive, records=records, taken_at=when)
                    if outcome.created:
                        created += 1
                        observations += outcome.snapshot.models_seen
                    else:
                        skipped += 1
                        already.append(
                            f"{archive.path.name}: already imported as snapshot "
                            f"#{outcome.snapshot.pk}"
                        )
        except DatabaseError as exc:
            failed = archive.path if archive is not None else "the import"
            raise CommandError(
                f"{failed}: could not be written ({type(exc).__name__}: "
                f"{str(exc).strip()[:300]}); nothing was written: the {created} file(s) "
                "imported before it in this run were rolled back with it"
            ) from exc
        if opts["verbosity"] >= 2:
            for line in already:
                self.stdout.write(line)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {created} snapshot(s) with {observations:,} observations; "
                f"{skipped} already imported; {elapsed:.1f}s."
            )
        )
