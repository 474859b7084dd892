"""Small helpers shared by the tagging tests."""

from __future__ import annotations

from registry.models import HubModel
from tagging.models import ModelTag


def tag_slugs(model: HubModel) -> set[str]:
    """The slugs of the tags a model carries now."""
    return set(ModelTag.objects.filter(model=model).values_list("tag__slug", flat=True))


def tag_sources(model: HubModel) -> dict[str, str]:
    """slug -> source ("rule" or "override") of a model's tags."""
    return dict(ModelTag.objects.filter(model=model).values_list("tag__slug", "source"))
