"""Template filters for numbers people read at a glance."""

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

_UNITS = ((1_000_000_000_000, "T"), (1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k"))


@register.filter
def compact(value) -> str:
    """1234567 → "1.2M"; None → "—" (unknown is never shown as 0)."""
    if value is None or value == "":
        return "—"
    number = float(value)
    for size, unit in _UNITS:
        if abs(number) >= size:
            scaled = number / size
            text = f"{scaled:.1f}" if abs(scaled) < 100 else f"{scaled:.0f}"
            return text.removesuffix(".0") + unit
    return f"{number:.0f}" if number == int(number) else f"{number:.1f}"


@register.filter
def exact(value) -> str:
    """1234567 → "1,234,567"; None → "unknown"."""
    if value is None or value == "":
        return "unknown"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


@register.filter
def duration(seconds) -> str:
    """3600 → "1 hour", 5400 → "90 minutes", 172800 → "2 days", 45 → "45 seconds"."""
    if seconds is None or seconds == "":
        return "—"
    seconds = int(seconds)
    if seconds < 120 and seconds % 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"about {round(seconds / 60)} minutes"


@register.filter
def ago(moment) -> str:
    """A relative time to one unit, for tables: "4 months ago", "just now"; None → "—"."""
    if not moment:
        return "—"
    if moment > timezone.now():
        return "just now"
    text = timesince(moment, depth=1)
    return "just now" if text.startswith("0\xa0") else f"{text} ago"
