"""A `curator` group that holds only curation permissions.

Curators edit providers and their aliases, browse models and snapshots, and
may start a refresh; they cannot touch plans, organizations, users or the
snapshot history itself.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CURATOR_PERMISSIONS = {
    "registry": [
        "view_provider",
        "add_provider",
        "change_provider",
        "delete_provider",
        "view_provideralias",
        "add_provideralias",
        "change_provideralias",
        "delete_provideralias",
        "view_hubmodel",
        "view_plan",
        "view_organization",
    ],
    "snapshots": ["view_snapshot", "view_observation", "run_refresh"],
}


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="curator")
    for app_label, codenames in CURATOR_PERMISSIONS.items():
        perms = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"missing permissions for the curator group: {sorted(missing)}")
        group.permissions.add(*perms)


def revoke(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="curator").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0001_initial"),
        ("registry", "0002_seed_plans_and_providers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
