"""Curators own capability tags: tags, rules and overrides in full; the
applied tags (ModelTag, written only by the rules) they may look at."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CURATOR_PERMISSIONS = [
    *(
        f"{verb}_{model}"
        for model in ("tag", "tagrule", "tagoverride")
        for verb in ("view", "add", "change", "delete")
    ),
    "view_modeltag",
]


def _permissions(apps):
    # Permissions are normally created after all migrations; make sure they exist now.
    app_config = apps.get_app_config("tagging")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(
        content_type__app_label="tagging", codename__in=CURATOR_PERMISSIONS
    )
    missing = set(CURATOR_PERMISSIONS) - set(perms.values_list("codename", flat=True))
    if missing:
        raise RuntimeError(f"missing permissions for the curator group: {sorted(missing)}")
    return perms


def grant(apps, schema_editor):
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name="curator")
    group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="curator").first()
    if group is not None:
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("tagging", "0002_seed_tags_and_rules"),
        ("snapshots", "0002_curator_group"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
