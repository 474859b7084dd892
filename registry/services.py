"""Writes to the catalog."""

from __future__ import annotations

from django.db import transaction
from django.db.models.functions import Lower

from .models import HubModel, ProviderAlias


@transaction.atomic
def provider_assign_models() -> int:
    """Point every model at the provider its author is an alias of (or none).

    Called when curators change providers or aliases, so the change shows at
    once without waiting for the next refresh. Returns the models changed.
    """
    aliases = dict(
        ProviderAlias.objects.annotate(a=Lower("author")).values_list("a", "provider_id")
    )
    changed = 0
    for author, provider_id in aliases.items():
        changed += (
            HubModel.objects.annotate(a=Lower("author"))
            .filter(a=author)
            .exclude(provider_id=provider_id)
            .update(provider_id=provider_id)
        )
    changed += (
        HubModel.objects.annotate(a=Lower("author"))
        .exclude(a__in=list(aliases))
        .filter(provider__isnull=False)
        .update(provider=None)
    )
    return changed
