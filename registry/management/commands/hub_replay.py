"""``manage.py hub_replay``: serve archived or demo Hub records on a local port."""

from __future__ import annotations

import argparse
import logging
import threading
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.replay import FaultPlan, ReplayHub, select_archive


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from exc
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a rate between 0 and 1")
    return rate


class Command(BaseCommand):
    help = (
        "Serve Hub model records like the Hugging Face Hub's /api/models, with its rate-limit "
        "headers and optional injected faults. Point a refresh at it with HF_ENDPOINT."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--data", help="an archived snapshot file, or a directory of them")
        source.add_argument("--demo", action="store_true", help="serve the demo generator's hub")
        parser.add_argument("--at", help="from a directory, the latest snapshot at or before ISO")
        parser.add_argument("--models", type=int, default=3000, help="demo size (default 3000)")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
        parser.add_argument("--quota", type=int, default=500, help="calls per window")
        parser.add_argument("--window", type=int, default=300, help="window length, seconds")
        parser.add_argument("--fault-429", type=_rate, default=0.0, metavar="RATE")
        parser.add_argument("--fault-5xx", type=_rate, default=0.0, metavar="RATE")
        parser.add_argument("--fault-malformed", type=_rate, default=0.0, metavar="RATE")
        parser.add_argument("--fault-truncated", type=_rate, default=0.0, metavar="RATE")
        parser.add_argument("--slow-rate", type=_rate, default=0.0, metavar="RATE")
        parser.add_argument("--slow-seconds", type=float, default=1.0)
        parser.add_argument("--retry-after", type=int, default=1, help="on injected 429s")
        parser.add_argument("--duplicate-ids", action="store_true")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--verbose", action="store_true", help="log every request")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 <= options["port"] <= 65535:
            raise CommandError(f"--port must be between 0 and 65535, got {options['port']}")
        if options["quota"] < 1 or options["window"] < 1:
            raise CommandError("--quota and --window must be positive")
        if options["at"] and not options["data"]:
            raise CommandError("--at only applies to --data")
        try:
            faults = FaultPlan(
                rate_429=options["fault_429"],
                rate_5xx=options["fault_5xx"],
                rate_malformed=options["fault_malformed"],
                rate_truncated=options["fault_truncated"],
                rate_slow=options["slow_rate"],
                slow_seconds=options["slow_seconds"],
                retry_after=options["retry_after"],
                duplicate_ids=options["duplicate_ids"],
                seed=options["seed"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        records, source = self._records(options)
        if options["verbose"]:
            logging.getLogger("modelboard.replay").setLevel(logging.INFO)
            logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
        hub = ReplayHub(
            records,
            faults=faults,
            quota=options["quota"],
            window_seconds=options["window"],
            host=options["host"],
            port=options["port"],
            verbose=options["verbose"],
        )
        try:
            hub.start()
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc

        self.stdout.write(f"Replay hub serving {len(records)} models from {source} at {hub.url}")
        self.stdout.write(f"  try: HF_ENDPOINT={hub.url} python manage.py refresh")
        self.stdout.write("  Ctrl-C to stop")
        try:
            self.serve_until_interrupted(hub)
        except KeyboardInterrupt:
            pass
        finally:
            hub.stop()
        self.stdout.write(f"Stopped after {hub.requests_served} requests.")

    def serve_until_interrupted(self, hub: ReplayHub) -> None:
        """Block while the hub serves in its thread; Ctrl-C raises KeyboardInterrupt."""
        threading.Event().wait()

    def _records(self, options: dict[str, Any]) -> tuple[list[dict], str]:
        if options["demo"]:
            if options["models"] < 1:
                raise CommandError("--models must be positive")
            try:
                from registry.demo import generate_demo_hub
            except ImportError as exc:
                raise CommandError(f"the demo generator is not available: {exc}") from exc

            demo = generate_demo_hub(seed=options["seed"], models=options["models"])
            last_day = len(demo.days) - 1
            return demo.records_at(last_day), f"the demo hub (seed {options['seed']})"

        at = None
        if options["at"]:
            try:
                at = datetime.fromisoformat(options["at"])
            except ValueError as exc:
                raise CommandError(f"--at: {options['at']!r} is not an ISO-8601 time") from exc
        try:
            path, archive = select_archive(options["data"], at)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        taken = f" taken {archive.taken_at.isoformat()}" if archive.taken_at else ""
        return list(archive.records), f"{path}{taken}"
