"""Capability tags: the curated list, the rules that apply them, and overrides."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

from registry.models import HubModel


class Tag(models.Model):
    """A capability people filter by: chat, code, vision, embeddings, …"""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=50)
    description = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=100, help_text="Order in lists.")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class TagRule(models.Model):
    """Maps something the Hub says about a model to a tag."""

    class Kind(models.TextChoices):
        PIPELINE_TAG = "pipeline_tag", "Pipeline tag (task) equals"
        HUB_TAG = "hub_tag", "Hub tag equals"
        LIBRARY = "library", "Library equals"
        ID_PATTERN = "id_pattern", "Model id matches regex"

    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="rules")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(
        max_length=200,
        help_text="Compared case-insensitively; for id patterns a regular expression "
        "searched in the id (e.g. (?:^|[-_/])coder).",
    )
    is_active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["tag", "kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["tag", "kind", "value"], name="tag_rule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value!r} → {self.tag}"

    def clean(self) -> None:
        self.value = (self.value or "").strip()
        if self.kind == self.Kind.ID_PATTERN:
            try:
                pattern = re.compile(self.value, re.IGNORECASE)
            except re.error as exc:
                raise ValidationError({"value": f"Not a valid regular expression: {exc}"}) from exc
            # A pattern that matches nothing at all matches every id: almost
            # certainly a slip (an empty alternative, a lone `.*`).
            if pattern.search("") is not None:
                raise ValidationError(
                    {"value": "This pattern matches every model id; make it more specific."}
                )


class TagOverride(models.Model):
    """A curator's decision for one model and one tag; always beats the rules."""

    class Action(models.TextChoices):
        INCLUDE = "include"
        EXCLUDE = "exclude"

    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="overrides")
    model = models.ForeignKey(HubModel, on_delete=models.CASCADE, related_name="tag_overrides")
    action = models.CharField(max_length=8, choices=Action.choices)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "tag"]
        constraints = [
            models.UniqueConstraint(fields=["tag", "model"], name="tag_override_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.tag} on {self.model}"


class ModelTag(models.Model):
    """A tag a model carries now, as the rules and overrides last decided."""

    class Source(models.TextChoices):
        RULE = "rule"
        OVERRIDE = "override"

    model = models.ForeignKey(HubModel, on_delete=models.CASCADE, related_name="model_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="model_tags")
    source = models.CharField(max_length=8, choices=Source.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "tag"], name="model_tag_unique"),
        ]
        indexes = [models.Index(fields=["tag", "model"], name="model_tag_tag_model")]

    def __str__(self) -> str:
        return f"{self.model_id}: {self.tag_id}"
