"""Family rollups: sums over public members, deltas, top member, recomputation."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from registry.models import Family, FamilyRule
from snapshots import family_selectors
from snapshots.models import FamilyRollup
from tests.factories import T0, days, hub_record, published_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def families(db):
    Family.objects.all().delete()
    made = {}
    for slug, author in (("llama", "meta-llama"), ("qwen", "Qwen")):
        made[slug] = Family.objects.create(slug=slug, name=slug.title())
        FamilyRule.objects.create(family=made[slug], kind="author", pattern=author)
    return made


def quant_of(base: str) -> list[str]:
    return ["gguf", f"base_model:quantized:{base}"]


def records(scale: int = 1, *, extra: tuple = ()) -> list[dict]:
    base = "meta-llama/Llama-3.1-8B"
    return [
        hub_record(base, downloads=1_000_000 * scale, likes=500 * scale),
        hub_record("nous/Hermes", downloads=200_000 * scale, likes=90, tags=quant_of(base)),
        hub_record("bob/Hermes-GGUF", downloads=30_000, likes=None, tags=quant_of("nous/Hermes")),
        hub_record(
            "alice/secret-llama", downloads=9_999_999, likes=999, private=True, tags=quant_of(base)
        ),  # fmt: skip
        hub_record("Qwen/Qwen3-8B", downloads=700_000, likes=300),
        hub_record("google/vit-base", downloads=5_000_000, likes=50),
        *extra,
    ]


def rollup(snapshot, family) -> FamilyRollup:
    return FamilyRollup.objects.get(snapshot=snapshot, family=family)


def test_a_family_sums_equal_the_sums_of_its_members(families):
    snapshot = published_snapshot(records())
    for family in families.values():
        members = list(family_selectors.family_members(family=family, snapshot=snapshot))
        row = rollup(snapshot, family)
        assert row.members == len(members) > 0
        assert row.downloads == sum(o.downloads or 0 for o in members)
        assert row.likes == sum(o.likes or 0 for o in members)
    llama = rollup(snapshot, families["llama"])
    assert (llama.members, llama.downloads, llama.likes) == (3, 1_230_000, 590)
    assert llama.top_member.hub_id == "meta-llama/Llama-3.1-8B"
    # Models in no family are in no rollup.
    assert FamilyRollup.objects.filter(snapshot=snapshot).count() == 2


def test_private_models_never_count(families):
    snapshot = published_snapshot(records())
    members = family_selectors.family_members(family=families["llama"], snapshot=snapshot)
    assert "alice/secret-llama" not in {o.model.hub_id for o in members}
    assert rollup(snapshot, families["llama"]).downloads < 9_999_999


def test_deltas_are_the_sums_of_the_members_known_deltas(families):
    published_snapshot(records(), taken_at=T0)
    newcomer = hub_record("carol/Llama-tune", downloads=40_000, likes=4,
                          tags=quant_of("meta-llama/Llama-3.1-8B"))  # fmt: skip
    later = published_snapshot(records(2, extra=(newcomer,)), taken_at=T0 + days(1))
    llama = rollup(later, families["llama"])
    # Base +1,000,000 and Hermes +200,000; the GGUF is flat, the newcomer has no delta.
    assert llama.members == 4
    assert llama.delta_downloads_24h == 1_200_000
    assert llama.delta_likes_24h == 500
    # No snapshot a week before: unknown, not 0.
    assert llama.delta_downloads_7d is None and llama.delta_likes_7d is None
    members = family_selectors.family_members(family=families["llama"], snapshot=later)
    assert llama.delta_downloads_24h == sum(o.delta_downloads_24h or 0 for o in members)


def test_the_first_snapshot_has_no_deltas(families):
    snapshot = published_snapshot(records())
    assert rollup(snapshot, families["qwen"]).delta_downloads_24h is None


def test_the_command_rolls_up_existing_snapshots_after_rules_change(families):
    first = published_snapshot(records(), taken_at=T0)
    second = published_snapshot(records(2), taken_at=T0 + days(1))
    vit = Family.objects.create(slug="vit", name="ViT")
    FamilyRule.objects.create(family=vit, kind="id_prefix", pattern="google/vit")
    assert not FamilyRollup.objects.filter(family=vit).exists()
    out = io.StringIO()
    call_command("recompute_family_rollups", "--no-progress", stdout=out)
    assert "Rolled up families in 2 snapshot(s)" in out.getvalue()
    assert rollup(first, vit).downloads == 5_000_000
    assert rollup(second, vit).members == 1
    assert rollup(second, families["llama"]).downloads == 2_430_000


def test_history_is_oldest_first_within_the_window(families):
    snapshots = [published_snapshot(records(i + 1), taken_at=T0 + days(i)) for i in range(3)]
    points = family_selectors.family_history(family=families["llama"], snapshot=snapshots[-1])
    assert [p.snapshot_id for p in points] == [s.pk for s in snapshots]
    assert [p.downloads for p in points] == [1_230_000, 2_430_000, 3_630_000]
    points = family_selectors.family_history(
        family=families["llama"], snapshot=snapshots[-1], days=1
    )
    assert len(points) == 2
