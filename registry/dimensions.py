"""Normalized dimensions used by filters: license class and parameter class.

The Hub gives a free-form license identifier and a raw parameter count; the
leaderboard filters on a handful of stable classes instead. Both functions are
pure and cheap (the license lookup is cached), so they can run per record.
"""

from __future__ import annotations

from functools import lru_cache

from django.db import models


class LicenseClass(models.TextChoices):
    PERMISSIVE = "permissive", "Permissive"
    COPYLEFT = "copyleft", "Copyleft"
    OPEN_WEIGHTS = "open-weights", "Open weights with restrictions"
    NON_COMMERCIAL = "non-commercial", "Non-commercial"
    UNKNOWN = "unknown", "Unknown"


class ParamClass(models.TextChoices):
    # Values are stable identifiers used in URLs and the API; labels are for display.
    UNDER_1B = "<1B", "<1B"
    B1_3 = "1-3B", "1–3B"
    B3_8 = "3-8B", "3–8B"
    B8_15 = "8-15B", "8–15B"
    B15_40 = "15-40B", "15–40B"
    B40_100 = "40-100B", "40–100B"
    OVER_100B = "100B+", "100B+"
    UNKNOWN = "unknown", "Unknown"


PARAM_CLASS_ORDER: tuple[str, ...] = (
    ParamClass.UNDER_1B.value,
    ParamClass.B1_3.value,
    ParamClass.B3_8.value,
    ParamClass.B8_15.value,
    ParamClass.B15_40.value,
    ParamClass.B40_100.value,
    ParamClass.OVER_100B.value,
    ParamClass.UNKNOWN.value,
)

# Upper bounds (exclusive) of each sized class, in order.
_PARAM_BOUNDS: tuple[tuple[int, str], ...] = (
    (1_000_000_000, ParamClass.UNDER_1B.value),
    (3_000_000_000, ParamClass.B1_3.value),
    (8_000_000_000, ParamClass.B3_8.value),
    (15_000_000_000, ParamClass.B8_15.value),
    (40_000_000_000, ParamClass.B15_40.value),
    (100_000_000_000, ParamClass.B40_100.value),
)


def param_class(parameters: int | None) -> str:
    """Return the parameter class of a parameter count.

    Each class includes its lower bound and excludes its upper bound:
    ``<1B`` is below 1e9; ``1-3B`` is [1e9, 3e9); ``3-8B`` is [3e9, 8e9);
    ``8-15B`` is [8e9, 15e9); ``15-40B`` is [15e9, 40e9); ``40-100B`` is
    [40e9, 100e9); ``100B+`` is 1e11 and above. So exactly 1e9 is ``1-3B``
    and exactly 8e9 is ``8-15B``. ``None``, zero and negative counts are
    ``unknown`` (the Hub reports no count, or a meaningless one).
    """
    if parameters is None or parameters <= 0:
        return ParamClass.UNKNOWN.value
    for upper, value in _PARAM_BOUNDS:
        if parameters < upper:
            return value
    return ParamClass.OVER_100B.value


_P = LicenseClass.PERMISSIVE.value
_C = LicenseClass.COPYLEFT.value
_W = LicenseClass.OPEN_WEIGHTS.value
_N = LicenseClass.NON_COMMERCIAL.value
_U = LicenseClass.UNKNOWN.value

# Every identifier of the Hub's license list (hub-docs "Licenses"), plus the
# `license_name` values that big model cards use with `license: other`.
# Judgement calls, so the classes stay useful for "can I ship this?":
# - permissive: no share-alike and no use restrictions beyond attribution/notice
#   (Artistic 2.0, AFL, ECL, LPPL and Apple's sample-code licence are here).
# - copyleft: strong and weak share-alike alike (GPL family, MPL, EPL, EUPL,
#   OSL, MS-PL, CC BY-SA, ODbL, CDLA-Sharing, GFDL, OFL).
# - open-weights: weights published under a licence with use-based
#   restrictions, acceptable-use policies, user caps or no-derivatives clauses
#   (RAIL/OpenRAIL family incl. openrail++, Llama, Gemma, vendor model licences).
# - non-commercial: commercial use excluded (CC *-NC-*, research-only licences).
LICENSE_CLASSES: dict[str, str] = {
    # permissive
    "apache-2.0": _P,
    "mit": _P,
    "bsd": _P,
    "bsd-2-clause": _P,
    "bsd-3-clause": _P,
    "bsd-3-clause-clear": _P,
    "0bsd": _P,
    "cc0-1.0": _P,
    "cc-by-2.0": _P,
    "cc-by-2.5": _P,
    "cc-by-3.0": _P,
    "cc-by-4.0": _P,
    "unlicense": _P,
    "isc": _P,
    "zlib": _P,
    "bsl-1.0": _P,
    "artistic-2.0": _P,
    "afl-3.0": _P,
    "ecl-2.0": _P,
    "postgresql": _P,
    "wtfpl": _P,
    "ncsa": _P,
    "lppl-1.3c": _P,
    "cdla-permissive-1.0": _P,
    "cdla-permissive-2.0": _P,
    "odc-by": _P,
    "pddl": _P,
    "etalab-2.0": _P,
    "openmdw-1.0": _P,
    "apple-ascl": _P,
    # copyleft (strong and weak)
    "gpl": _C,
    "gpl-2.0": _C,
    "gpl-3.0": _C,
    "agpl-3.0": _C,
    "lgpl": _C,
    "lgpl-2.1": _C,
    "lgpl-3.0": _C,
    "lgpl-lr": _C,
    "mpl-2.0": _C,
    "epl-1.0": _C,
    "epl-2.0": _C,
    "eupl-1.1": _C,
    "eupl-1.2": _C,
    "osl-3.0": _C,
    "ms-pl": _C,
    "cc-by-sa-3.0": _C,
    "cc-by-sa-4.0": _C,
    "cdla-sharing-1.0": _C,
    "odbl": _C,
    "gfdl": _C,
    "ofl-1.1": _C,
    # open weights with restrictions
    "openrail": _W,
    "openrail++": _W,
    "bigscience-openrail-m": _W,
    "creativeml-openrail-m": _W,
    "bigscience-bloom-rail-1.0": _W,
    "bigcode-openrail-m": _W,
    "llama2": _W,
    "llama3": _W,
    "llama3.1": _W,
    "llama3.2": _W,
    "llama3.3": _W,
    "llama4": _W,
    "gemma": _W,
    "cc-by-nd-4.0": _W,
    "c-uda": _W,
    "grok2-community": _W,
    "deepseek": _W,
    "deepseek-license": _W,
    "qwen": _W,
    "tongyi-qianwen": _W,
    "falcon-llm-license": _W,
    "tii-falcon-llm-license": _W,
    "nvidia-open-model-license": _W,
    "health-ai-developer-foundations": _W,
    "jamba-open-model-license": _W,
    "stabilityai-ai-community": _W,
    "yi-license": _W,
    "glm-4": _W,
    "baichuan": _W,
    "internlm": _W,
    # non-commercial
    "cc-by-nc-2.0": _N,
    "cc-by-nc-3.0": _N,
    "cc-by-nc-4.0": _N,
    "cc-by-nc-nd-3.0": _N,
    "cc-by-nc-nd-4.0": _N,
    "cc-by-nc-sa-2.0": _N,
    "cc-by-nc-sa-3.0": _N,
    "cc-by-nc-sa-4.0": _N,
    "deepfloyd-if-license": _N,
    "fair-noncommercial-research-license": _N,
    "h-research": _N,
    "intel-research": _N,
    "apple-amlr": _N,
    "qwen-research": _N,
    "tongyi-qianwen-research": _N,
    "mnpl": _N,
    "mrl": _N,  # Mistral Research License
    "coqui-public-model-license": _N,
    "mistral-ai-research-licence": _N,
    "flux-1-dev-non-commercial-license": _N,
    "sai-nc-community": _N,
    "nvidia-oneway-noncommercial-license": _N,
    # no information
    "unknown": _U,
    "other": _U,
    "cc": _U,  # "Creative Commons family": could be anything from CC0 to BY-NC-ND
}


@lru_cache(maxsize=4096)
def _classify(key: str) -> str:
    exact = LICENSE_CLASSES.get(key)
    if exact is not None:
        return exact
    # Fallbacks for identifiers outside the table (free-form `license_name`s and
    # variant spellings). Order matters: "non-commercial" beats everything else.
    if "noncommercial" in key or "non-commercial" in key or "-nc" in key or "research" in key:
        return _N
    if key.startswith(("cc-by-sa", "gpl", "agpl", "lgpl", "mpl", "eupl", "epl-")):
        return _C
    if "rail" in key or key.startswith(("llama", "gemma", "meta-llama", "deepseek", "qwen")):
        return _W
    if key.startswith(("apache", "bsd", "cc-by", "mit-")):
        return _P
    return _U


def license_class(license: str | None) -> str:
    """Return the license class of a Hub license identifier.

    Case and surrounding whitespace are ignored; a few common variant spellings
    (``Apache 2.0``, ``llama-3.1``, ``cc_by_nc_4.0``) are normalized. Missing,
    ``unknown`` and ``other`` licenses are ``unknown``.
    """
    if not license or not isinstance(license, str):
        return _U
    key = license.strip().lower().replace("_", "-").replace(" ", "-")
    if key.startswith("llama-"):  # "llama-3.1" -> "llama3.1"
        key = "llama" + key[6:]
    return _classify(key)
