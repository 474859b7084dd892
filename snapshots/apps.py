from django.apps import AppConfig


class SnapshotsConfig(AppConfig):
    name = "snapshots"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from .models import Snapshot
        from .partitions import snapshot_drop_observations

        # Before the cascade: on PostgreSQL the snapshot's partition is
        # dropped whole, so the cascade's DELETE finds nothing left to delete.
        pre_delete.connect(
            snapshot_drop_observations, sender=Snapshot, dispatch_uid="snapshot_partition"
        )
