"""Template filters for numbers people read at a glance."""

from django import template

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
