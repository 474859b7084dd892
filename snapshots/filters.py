"""The leaderboard's filters and sorts: one FilterSet for the pages, the API and the export.

`LeaderboardFilter` works on the observations of one snapshot
(`selectors.leaderboard_rows(snapshot=…)`). Every parameter is declared here,
so the pages' form, the API's validation and its documentation read the same
list. Values are validated against what the catalog holds, and a bad one is
refused with the parameter named and the allowed values listed.

Multi-valued parameters take a comma list, repeated parameters, or both
(`tag=chat,code` is `tag=chat&tag=code`). A model carries several tags, so
`tag` asks for models having *all* of them; every other dimension has one
value per model, so a list there means *any* of them.

Adding a filter is one line in `LeaderboardFilter` (and, when it is a
premium one, its name in PREMIUM_FILTERS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import django_filters
from django import forms
from django.db.models import F, QuerySet

from registry.dimensions import PARAM_CLASS_ORDER, LicenseClass
from registry.models import Family, HubModel, Provider
from tagging.models import ModelTag, Tag

from .family_selectors import family_choices
from .models import Observation

MAX_VALUES = 20  # values one multi-valued parameter may list
MAX_SEARCH = 100


# --- Sorts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sort:
    """One way to order the board: a name people use, the column, its direction.

    Unknown figures (a delta without a baseline) come last in either
    direction, and the Hub id breaks ties, so every order is total and stable.
    """

    name: str  # as given in `sort=`, e.g. "-downloads"
    field: str  # Observation field
    descending: bool
    kind: type  # what a cursor's key holds: int, float or str (ISO time)

    @property
    def key(self) -> str:
        return self.name.lstrip("-")

    def order_by(self) -> tuple:
        column = F(self.field)
        first = column.desc(nulls_last=True) if self.descending else column.asc(nulls_last=True)
        return (first, F("model__hub_id").asc())


# sort name -> (Observation field, the type of its values)
SORT_FIELDS: dict[str, tuple[str, type]] = {
    "rank": ("rank", int),
    "downloads": ("downloads", int),
    "likes": ("likes", int),
    "delta_24h": ("delta_downloads_24h", int),
    "delta_7d": ("delta_downloads_7d", int),
    # From the daily history: annotations of selectors.with_daily_figures.
    "daily_downloads": ("day_downloads", int),
    "weekly_downloads": ("week_downloads", int),
    "trending_score": ("trending_score", float),
    "last_modified": ("last_modified", str),
    # The profile's score: only on rows annotated by scoring.with_profile_score.
    "score": ("score", float),
}
DEFAULT_SORT = "rank"
SORT_CHOICES: tuple[str, ...] = tuple(name for key in SORT_FIELDS for name in (key, f"-{key}"))
# The sorts the pages' form offers, with their labels.
SORT_LABELS: tuple[tuple[str, str], ...] = (
    ("rank", "Rank"),
    ("-downloads", "Downloads"),
    ("-likes", "Likes"),
    ("-delta_24h", "Downloads gained, 24h"),
    ("-delta_7d", "Downloads gained, 7d"),
    ("-daily_downloads", "Downloads/day"),
    ("-weekly_downloads", "Downloads, last 7 days"),
    ("-trending_score", "Trending score"),
    ("-last_modified", "Recently updated"),
    ("-score", "Score"),
)


def sort_named(name: str) -> Sort:
    field, kind = SORT_FIELDS[name.lstrip("-")]
    return Sort(name=name, field=field, descending=name.startswith("-"), kind=kind)


# What a paid plan adds (Plan.premium_filters): the fine-grained catalog
# filters and the week-long growth sort. Everything a visitor of the pages
# can do with the coarse classes stays free.
PREMIUM_FILTERS: frozenset[str] = frozenset({"license", "library"})
PREMIUM_SORTS: frozenset[str] = frozenset({"delta_7d"})
# Parameters that shape the answer without narrowing it: they never count
# towards a plan's filter depth.
NOT_FILTERS: frozenset[str] = frozenset({"sort"})


# --- Allowed values, from the catalog ------------------------------------------------


def tag_slugs() -> list[str]:
    return list(Tag.objects.order_by("position", "name").values_list("slug", flat=True))


def provider_slugs() -> list[str]:
    return list(Provider.objects.order_by("slug").values_list("slug", flat=True))


def family_slugs() -> list[str]:
    return list(Family.objects.order_by("slug").values_list("slug", flat=True))


def catalog_values(field: str) -> Callable[[], list[str]]:
    """The distinct non-empty values of a HubModel column among public models."""

    def values() -> list[str]:
        return list(
            HubModel.objects.filter(private=False)
            .exclude(**{field: ""})
            .order_by(field)
            .values_list(field, flat=True)
            .distinct()
        )

    return values


def fixed(values: Iterable[str]) -> Callable[[], list[str]]:
    """Allowed values known in advance (the schema can list them, unlike the catalog's)."""
    found = list(values)

    def allowed() -> list[str]:
        return found

    allowed.fixed_values = found
    return allowed


def data_dependent(name: str) -> bool:
    """Whether the values `name` accepts depend on the data (tags, providers …)."""
    field = LeaderboardFilter.base_filters[name].field
    return isinstance(field, ValuesField) and not hasattr(field.allowed, "fixed_values")


# --- Fields and filters ----------------------------------------------------------------


class ValuesWidget(forms.Widget):
    """Reads repeated parameters and comma lists alike, as one list."""

    def value_from_datadict(self, data, files, name):
        raw = data.getlist(name) if hasattr(data, "getlist") else [data.get(name) or ""]
        found: list[str] = []
        for item in raw:
            for part in str(item).split(","):
                part = part.strip()
                if part and part not in found:
                    found.append(part)
        return found


class ValuesField(forms.Field):
    """A list of values, each one of `allowed()` (matched case-insensitively).

    The allowed values are read from the database once per form, and only
    when the parameter is given.
    """

    widget = ValuesWidget

    def __init__(self, *, allowed: Callable[[], list[str]], noun: str, **kwargs):
        super().__init__(**kwargs)
        self.allowed = allowed
        self.noun = noun
        self._allowed: dict[str, str] | None = None

    def __deepcopy__(self, memo):
        copied = super().__deepcopy__(memo)
        copied._allowed = None
        return copied

    def canonical(self) -> dict[str, str]:
        if self._allowed is None:
            self._allowed = {value.lower(): value for value in self.allowed()}
        return self._allowed

    def to_python(self, value) -> list[str]:
        values = list(value or [])
        if len(values) > MAX_VALUES:
            raise forms.ValidationError(f"at most {MAX_VALUES} values")
        if not values:
            return []
        known = self.canonical()
        unknown = [v for v in values if v.lower() not in known]
        if unknown:
            listed = ", ".join(f"'{v}'" for v in unknown)
            options = ", ".join(known.values()) or f"none (no {self.noun} yet)"
            plural = "s" if len(unknown) > 1 else ""
            raise forms.ValidationError(f"unknown {self.noun}{plural} {listed}; allowed: {options}")
        return [known[v.lower()] for v in values]


class ValuesFilter(django_filters.Filter):
    """Models whose `field_name` is any of the values; `every=True`: all of them (tags)."""

    field_class = ValuesField

    def __init__(self, *args, every: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.every = every

    def filter(self, qs: QuerySet, value: list[str]) -> QuerySet:
        if not value:
            return qs
        if self.every:
            for one in value:
                qs = qs.filter(**{f"{self.field_name}__in": self.subquery(one)})
            return qs
        return qs.filter(**{f"{self.field_name}__in": value})

    def subquery(self, value: str):
        raise NotImplementedError


class TagFilter(ValuesFilter):
    def subquery(self, value: str):
        return ModelTag.objects.filter(tag__slug=value).values("model_id")


class SearchField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_SEARCH)
        kwargs.setdefault("strip", True)
        kwargs.setdefault("error_messages", {"max_length": f"at most {MAX_SEARCH} characters"})
        super().__init__(**kwargs)


class SearchFilter(django_filters.CharFilter):
    field_class = SearchField


class MinimumFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class ChoiceField(forms.ChoiceField):
    """A ChoiceField whose error lists what it takes."""

    def validate(self, value):
        try:
            super().validate(value)
        except forms.ValidationError:
            options = ", ".join(str(key) for key, _ in self.choices)
            raise forms.ValidationError(f"must be one of: {options}") from None


class ChoiceFilter(django_filters.ChoiceFilter):
    field_class = ChoiceField


class SortFilter(django_filters.Filter):
    field_class = ChoiceField

    def filter(self, qs: QuerySet, value: str) -> QuerySet:
        return qs.order_by(*sort_named(value or DEFAULT_SORT).order_by())


class LeaderboardFilter(django_filters.FilterSet):
    """Filters and sorts over one snapshot's observations (see the module docstring)."""

    search = SearchFilter(
        field_name="model__hub_id",
        lookup_expr="icontains",
        help_text="Text in the model id, e.g. 'llama'.",
    )
    tag = TagFilter(
        field_name="model_id",
        every=True,
        allowed=tag_slugs,
        noun="tag",
        help_text="Capability tag slugs; models having all of them.",
    )
    provider = ValuesFilter(
        field_name="model__provider__slug",
        allowed=provider_slugs,
        noun="provider",
        help_text="Provider slugs; any of them.",
    )
    family = ValuesFilter(
        field_name="model__family_membership__family__slug",
        allowed=family_slugs,
        noun="family",
        help_text="Family slugs, e.g. 'llama-3'; members of any of them.",
    )
    license_class = ValuesFilter(
        field_name="model__license_class",
        allowed=fixed(LicenseClass.values),
        noun="license class",
        help_text="License classes; any of them.",
    )
    license = ValuesFilter(
        field_name="model__license",
        allowed=catalog_values("license"),
        noun="license",
        help_text="Exact Hub license ids, e.g. 'apache-2.0'; any of them. Premium.",
    )
    param_class = ValuesFilter(
        field_name="model__param_class",
        allowed=fixed(PARAM_CLASS_ORDER),
        noun="parameter class",
        help_text="Parameter classes; any of them.",
    )
    pipeline_tag = ValuesFilter(
        field_name="model__pipeline_tag",
        allowed=catalog_values("pipeline_tag"),
        noun="pipeline tag",
        help_text="The Hub's task, e.g. 'text-generation'; any of them.",
    )
    library = ValuesFilter(
        field_name="model__library_name",
        allowed=catalog_values("library_name"),
        noun="library",
        help_text="The Hub's library name, e.g. 'transformers'; any of them. Premium.",
    )
    min_downloads = MinimumFilter(
        field_name="downloads",
        lookup_expr="gte",
        min_value=0,
        max_value=10**15,
        help_text="Models with at least this many downloads over 30 days.",
    )
    new = ChoiceFilter(
        choices=(("24h", "New in 24 hours"), ("7d", "New in 7 days")),
        method="filter_new",
        help_text="Only models absent from the 24h (7d) baseline snapshot.",
    )
    sort = SortFilter(
        choices=[(name, name) for name in SORT_CHOICES],
        help_text="rank (default), downloads, likes, delta_24h, delta_7d (changes of the 30-day "
        "count), daily_downloads, weekly_downloads (from all-time counts), trending_score, "
        "last_modified or score (the `profile`'s); '-' first for descending. Unknown values "
        "sort last; ties by id.",
    )

    class Meta:
        model = Observation
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, **kwargs):
        super().__init__(data=data, queryset=queryset, **kwargs)
        for field in self.form.fields.values():
            if isinstance(field, forms.IntegerField):
                field.error_messages.update(
                    {
                        "invalid": "must be a whole number from 0",
                        "min_value": "must be a whole number from 0",
                        "max_value": "too large",
                    }
                )

    def filter_new(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        if value == "24h":
            return qs.filter(is_new_24h=True)
        if value == "7d":
            return qs.filter(is_new_7d=True)
        return qs

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("sort"):
            queryset = queryset.order_by(*sort_named(DEFAULT_SORT).order_by())
        return queryset

    # --- What the request asked for, for plans and paging -------------------------

    @property
    def ordering(self) -> Sort:
        """The validated sort (call after is_valid())."""
        return sort_named(self.form.cleaned_data.get("sort") or DEFAULT_SORT)

    def used_filters(self) -> list[str]:
        """The filters the request gives a value to, sort aside: a plan's filter depth."""
        return [name for name, _ in self.normalized() if name not in NOT_FILTERS]

    def premium_used(self) -> list[str]:
        """The premium filters and sorts this request uses, by parameter name."""
        used = [name for name in self.used_filters() if name in PREMIUM_FILTERS]
        sort = self.data.get("sort", "") if self.data is not None else ""
        if sort.lstrip("-") in PREMIUM_SORTS:
            used.append(f"sort={sort}")
        return used

    def problems(self) -> dict[str, list[str]]:
        """Each bad parameter's problems, as plain strings (after is_valid())."""
        return {name: [str(m) for m in messages] for name, messages in self.errors.items()}

    def normalized(self) -> list[tuple[str, str]]:
        """The given filters as (parameter, value) pairs, in declaration order.

        Comma lists and repeated parameters come out the same, so two URLs
        asking the same question share a cache entry.
        """
        pairs = []
        for name in self.filters:
            if self.data is None:
                break
            value = self.filters[name].field.widget.value_from_datadict(self.data, {}, name)
            if isinstance(value, list):
                if value:
                    pairs.append((name, ",".join(value)))
            elif value and str(value).strip():
                pairs.append((name, str(value).strip()))
        return pairs


FILTER_NAMES: tuple[str, ...] = tuple(LeaderboardFilter.base_filters)


def filter_options() -> dict[str, list[tuple[str, str]]]:
    """The choices the pages' form offers, (value, label), from the catalog."""
    return {
        "tag": list(Tag.objects.order_by("position", "name").values_list("slug", "name")),
        "provider": list(Provider.objects.order_by("name").values_list("slug", "name")),
        "family": family_choices(),
        "license_class": list(LicenseClass.choices),
        "param_class": [(value, value) for value in PARAM_CLASS_ORDER],
        "pipeline_tag": [(value, value) for value in catalog_values("pipeline_tag")()],
        "new": [("24h", "New in 24h"), ("7d", "New in 7 days")],
        "sort": list(SORT_LABELS),
    }


# The pages' filter bar, in order: (parameter, label, input). Parameters of
# the FilterSet not listed here still work in a URL, and the form keeps them.
FORM_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("search", "Search", "search"),
    ("tag", "Capability", "select"),
    ("provider", "Provider", "select"),
    ("family", "Family", "select"),
    ("license_class", "License", "select"),
    ("param_class", "Size", "select"),
    ("pipeline_tag", "Task", "select"),
    ("min_downloads", "Min. downloads", "number"),
    ("new", "New", "select"),
    ("sort", "Sort", "select"),
)


def filter_form(filterset: LeaderboardFilter, options: dict[str, list]) -> dict:
    """What the filter bar shows: each field with its value as given, and its options.

    Values come back as typed, valid or not, so a refused value is shown
    where it was entered, next to the message that says why.
    """
    given = dict(filterset.normalized())
    invalid = set(filterset.errors) if filterset.is_bound else set()
    fields = []
    for name, label, kind in FORM_FIELDS:
        value = given.get(name, "")
        field = {"name": name, "label": label, "kind": kind, "value": value}
        field["invalid"] = name in invalid
        if kind == "select":
            choices = list(options.get(name, []))
            known = {str(v).lower() for v, _ in choices}
            chosen = value.lower()
            if chosen and chosen not in known:
                choices.append((value, value))  # a shared URL's list, or a bad value
            blank = [] if name == "sort" else [("", "Any")]
            field["options"] = [(v, text, str(v).lower() == chosen) for v, text in blank + choices]
        fields.append(field)
    shown = {name for name, _, _ in FORM_FIELDS}
    hidden = [(name, value) for name, value in given.items() if name not in shown]
    return {"fields": fields, "hidden": hidden}
