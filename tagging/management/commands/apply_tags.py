"""Re-apply the tag rules and overrides to every model (or some), now."""

from django.core.management.base import BaseCommand

from registry.models import HubModel
from tagging.services import tags_apply


class Command(BaseCommand):
    help = (
        "Decide every model's capability tags from the active rules and overrides. "
        "Publishing a snapshot and editing rules in the admin already do this; "
        "run it after loading rules by other means."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "hub_ids", nargs="*", metavar="ORG/NAME", help="Only these models (default: all)."
        )

    def handle(self, *args, hub_ids, **options):
        scope = None
        if hub_ids:
            scope = list(HubModel.objects.filter(hub_id__in=hub_ids).values_list("pk", flat=True))
            unknown = set(hub_ids) - set(
                HubModel.objects.filter(pk__in=scope).values_list("hub_id", flat=True)
            )
            for hub_id in sorted(unknown):
                self.stderr.write(f"unknown model: {hub_id}")
        result = tags_apply(model_ids=scope)
        self.stdout.write(
            f"Tags applied to {result.models} models: {result.added} added, "
            f"{result.removed} removed, {result.source_changed} changed source."
        )
