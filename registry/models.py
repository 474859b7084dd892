"""The catalog: models on the Hub, who makes them, and who pays for the API."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from .dimensions import LicenseClass, ParamClass

# Anonymous API callers are on this plan: it can be edited, not renamed or deleted.
ANONYMOUS_PLAN_SLUG = "free"


class Plan(models.Model):
    """What a caller may do: limits for the API, exports and webhooks.

    Seeded with free, pro and enterprise; curators edit the figures in the
    admin. Anonymous callers are on free.
    """

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=50)
    rate_limit_per_minute = models.PositiveIntegerField(default=60)
    max_page_size = models.PositiveIntegerField(default=100)
    filter_depth = models.PositiveSmallIntegerField(
        default=3, help_text="How many filters one request may combine."
    )
    premium_filters = models.BooleanField(default=False)
    export_rows = models.PositiveIntegerField(default=1000)
    webhook_endpoints = models.PositiveSmallIntegerField(default=1)
    webhook_concurrency = models.PositiveSmallIntegerField(default=1)
    priority_delivery = models.BooleanField(default=False)
    custom_profiles = models.BooleanField(
        default=False, help_text="May score with the organization's own scoring profiles."
    )

    class Meta:
        ordering = ["rate_limit_per_minute", "slug"]

    def __str__(self) -> str:
        return self.name


class Organization(models.Model):
    """A customer: owns API keys, webhook subscriptions and private feeds."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(unique=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="organizations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Provider(models.Model):
    """A maker of models as people know it ("Meta"), over one or more Hub authors."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    website = models.URLField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProviderAlias(models.Model):
    """One Hub author (organization or user) that belongs to a provider."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="aliases")
    author = models.CharField(max_length=100, help_text="The Hub author, e.g. meta-llama.")

    class Meta:
        ordering = ["author"]
        constraints = [
            models.UniqueConstraint(Lower("author"), name="provider_alias_author_unique_ci"),
        ]
        verbose_name_plural = "provider aliases"

    def __str__(self) -> str:
        return f"{self.author} → {self.provider}"


class HubModel(models.Model):
    """A model repository on the Hub, with its normalized dimensions.

    Metrics over time live in snapshots.Observation; this row holds what
    describes the model, as last seen.
    """

    hub_id = models.CharField("Hub id", max_length=200, unique=True)
    author = models.CharField(max_length=100)
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="models"
    )
    pipeline_tag = models.CharField("task", max_length=64, blank=True)
    library_name = models.CharField("library", max_length=64, blank=True)
    license = models.CharField(max_length=64, blank=True)
    license_class = models.CharField(
        max_length=16, choices=LicenseClass.choices, default=LicenseClass.UNKNOWN
    )
    parameters = models.BigIntegerField(null=True, blank=True)
    param_class = models.CharField(
        "parameter class",
        max_length=8,
        choices=ParamClass.choices,
        default=ParamClass.UNKNOWN,
    )
    hub_tags = models.JSONField(default=list, blank=True)
    base_models = models.JSONField(
        default=list, blank=True, help_text="[relation, base model id] pairs from the Hub."
    )
    sha = models.CharField(max_length=64, blank=True)
    last_modified = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField("created on the Hub", null=True, blank=True)
    private = models.BooleanField(default=False)
    gated = models.CharField(max_length=16, blank=True)
    detail_version = models.CharField(
        max_length=100,
        blank=True,
        help_text="The sha (or last modification) at which the Hub's detail was last fetched.",
    )
    first_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["hub_id"]
        verbose_name = "Hub model"
        # Plain B-tree indexes in Meta rather than db_index=True, which on
        # PostgreSQL adds a second, pattern-matching index per text column
        # that no query here uses and every ingest has to maintain.
        indexes = [
            models.Index(fields=["author"], name="hubmodel_author"),
            models.Index(fields=["pipeline_tag"], name="hubmodel_pipeline_tag"),
            models.Index(fields=["license_class"], name="hubmodel_license_class"),
            models.Index(fields=["param_class"], name="hubmodel_param_class"),
        ]

    def __str__(self) -> str:
        return self.hub_id

    @property
    def name(self) -> str:
        return self.hub_id.rsplit("/", 1)[-1]

    @property
    def hub_url(self) -> str:
        return f"https://huggingface.co/{self.hub_id}"

    @property
    def provider_name(self) -> str:
        """The provider as people know it, else the Hub author."""
        return self.provider.name if self.provider_id else self.author


class Family(models.Model):
    """A model family as people name it ("Llama", "Qwen"), with its finetunes,
    quantizations, adapters and merges.

    Which models belong is decided by `FamilyRule`s and by `base_model` links
    (registry.families.families_assign); the result is `FamilyMember`.
    """

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="families"
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "families"

    def __str__(self) -> str:
        return self.name


class FamilyRule(models.Model):
    """Puts the models it matches into a family.

    Rules on a model's own id or author beat anything inherited through
    `base_model` links; among several matching rules the lowest `priority`
    wins, then the longest pattern.
    """

    class Kind(models.TextChoices):
        ID_PREFIX = "id_prefix", "Model id starts with"
        ID_REGEX = "id_regex", "Model id matches regex"
        AUTHOR = "author", "Author equals"
        BASE_MODEL = "base_model", "A base model's id starts with"

    # Kinds that look at the model itself, not at what it derives from.
    OWN_KINDS = (Kind.ID_PREFIX, Kind.ID_REGEX, Kind.AUTHOR)

    family = models.ForeignKey(Family, on_delete=models.CASCADE, related_name="rules")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    pattern = models.CharField(
        max_length=200,
        help_text="Compared case-insensitively. A regex is searched in the id "
        "(e.g. ^google/gemma-); a base model prefix is matched against the ids in "
        "the model's base_model tags (e.g. meta-llama/).",
    )
    priority = models.PositiveSmallIntegerField(
        default=100, help_text="When several rules match a model, the lowest wins."
    )
    is_active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["family", "priority", "kind", "pattern"]
        constraints = [
            models.UniqueConstraint(
                fields=["family", "kind", "pattern"], name="family_rule_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pattern!r} → {self.family}"

    def clean(self) -> None:
        self.pattern = (self.pattern or "").strip()
        if not self.pattern:
            raise ValidationError({"pattern": "A rule needs a pattern."})
        if self.kind == self.Kind.ID_REGEX:
            try:
                compiled = re.compile(self.pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValidationError(
                    {"pattern": f"Not a valid regular expression: {exc}"}
                ) from exc
            # A pattern that matches the empty string matches every id.
            if compiled.search("") is not None:
                raise ValidationError(
                    {"pattern": "This pattern matches every model id; make it more specific."}
                )
        elif self.kind == self.Kind.AUTHOR and "/" in self.pattern:
            raise ValidationError({"pattern": "An author has no '/': use 'id starts with'."})


class FamilyMember(models.Model):
    """The family a model belongs to now, and how: one family per model.

    Written only by registry.families.families_assign.
    """

    class Relation(models.TextChoices):
        BASE = "base"
        FINETUNE = "finetune"
        QUANTIZED = "quantized"
        ADAPTER = "adapter"
        MERGE = "merge"

    class Via(models.TextChoices):
        RULE = "rule", "a family rule"
        BASE_MODEL = "base_model", "its base model"

    model = models.OneToOneField(
        HubModel, on_delete=models.CASCADE, primary_key=True, related_name="family_membership"
    )
    family = models.ForeignKey(Family, on_delete=models.CASCADE, related_name="members")
    relation = models.CharField(max_length=16, choices=Relation.choices)
    via = models.CharField(max_length=16, choices=Via.choices)
    source = models.ForeignKey(
        HubModel,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        help_text="The base model the family came through (inherited members only).",
    )

    def __str__(self) -> str:
        return f"{self.model_id} in {self.family_id} ({self.relation})"
