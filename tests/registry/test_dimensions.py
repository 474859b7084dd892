import pytest

from registry.dimensions import (
    LICENSE_CLASSES,
    PARAM_CLASS_ORDER,
    LicenseClass,
    ParamClass,
    license_class,
    param_class,
)


@pytest.mark.parametrize(
    ("license", "expected"),
    [
        ("apache-2.0", "permissive"),
        ("mit", "permissive"),
        ("bsd-3-clause", "permissive"),
        ("cc-by-4.0", "permissive"),
        ("cc0-1.0", "permissive"),
        ("unlicense", "permissive"),
        ("bsl-1.0", "permissive"),
        ("wtfpl", "permissive"),
        ("gpl-3.0", "copyleft"),
        ("agpl-3.0", "copyleft"),
        ("lgpl-2.1", "copyleft"),
        ("cc-by-sa-4.0", "copyleft"),
        ("mpl-2.0", "copyleft"),
        ("osl-3.0", "copyleft"),
        ("openrail", "open-weights"),
        ("openrail++", "open-weights"),
        ("bigscience-openrail-m", "open-weights"),
        ("creativeml-openrail-m", "open-weights"),
        ("llama2", "open-weights"),
        ("llama3", "open-weights"),
        ("llama3.1", "open-weights"),
        ("llama3.2", "open-weights"),
        ("llama3.3", "open-weights"),
        ("llama4", "open-weights"),
        ("gemma", "open-weights"),
        ("deepseek", "open-weights"),
        ("qwen", "open-weights"),
        ("tongyi-qianwen", "open-weights"),
        ("cc-by-nd-4.0", "open-weights"),
        ("cc-by-nc-4.0", "non-commercial"),
        ("cc-by-nc-sa-4.0", "non-commercial"),
        ("cc-by-nc-nd-3.0", "non-commercial"),
        ("flux-1-dev-non-commercial-license", "non-commercial"),
        ("apple-amlr", "non-commercial"),
        ("other", "unknown"),
        ("unknown", "unknown"),
        ("cc", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_it_classifies_hub_licenses(license, expected):
    assert license_class(license) == expected


def test_it_ignores_case_whitespace_and_variant_spellings():
    assert license_class(" Apache-2.0 ") == "permissive"
    assert license_class("MIT") == "permissive"
    assert license_class("Apache 2.0") == "permissive"
    assert license_class("llama-3.1") == "open-weights"
    assert license_class("CC_BY_NC_4.0") == "non-commercial"


def test_it_falls_back_on_the_shape_of_unlisted_licenses():
    assert license_class("my-research-only-license") == "non-commercial"
    assert license_class("cc-by-nc-2.5") == "non-commercial"
    assert license_class("gpl-1.0") == "copyleft"
    assert license_class("some-openrail-variant") == "open-weights"
    assert license_class("llama5") == "open-weights"
    assert license_class("totally-custom") == "unknown"


def test_it_maps_every_table_entry_to_a_license_class():
    values = set(LicenseClass.values)
    assert all(value in values for value in LICENSE_CLASSES.values())
    assert all(key == key.lower().strip() for key in LICENSE_CLASSES)


def test_it_labels_open_weights_with_restrictions():
    assert LicenseClass.OPEN_WEIGHTS.label == "Open weights with restrictions"
    assert LicenseClass.OPEN_WEIGHTS == "open-weights"


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (None, "unknown"),
        (0, "unknown"),
        (-5, "unknown"),
        (1, "<1B"),
        (999_999_999, "<1B"),
        (1_000_000_000, "1-3B"),
        (2_999_999_999, "1-3B"),
        (3_000_000_000, "3-8B"),
        (7_999_999_999, "3-8B"),
        (8_000_000_000, "8-15B"),
        (8_030_261_248, "8-15B"),
        (15_000_000_000, "15-40B"),
        (39_999_999_999, "15-40B"),
        (40_000_000_000, "40-100B"),
        (70_553_706_496, "40-100B"),
        (100_000_000_000, "100B+"),
        (684_531_386_000, "100B+"),
    ],
)
def test_it_classifies_parameter_counts_at_the_boundaries(parameters, expected):
    assert param_class(parameters) == expected


def test_it_orders_parameter_classes_by_size():
    assert PARAM_CLASS_ORDER == (
        "<1B",
        "1-3B",
        "3-8B",
        "8-15B",
        "15-40B",
        "40-100B",
        "100B+",
        "unknown",
    )
    assert set(PARAM_CLASS_ORDER) == set(ParamClass.values)
