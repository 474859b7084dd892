from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ApiConfig(AppConfig):
    name = "api"

    def ready(self) -> None:
        from registry import caching
        from registry.models import Organization, Plan

        from . import gate
        from .models import ApiKey
        from .v4.views import CACHE_NAMESPACE

        # v4 responses may be answered in front of Django (registry.wsgi),
        # once the gate has let the request through.
        caching.FAST_PATH_ROUTES["/api/v4/"] = CACHE_NAMESPACE
        caching.FAST_PATH_GATE = gate.fast_path_gate

        # An edit made in this process shows at once; in others within
        # API_KEY_CACHE_SECONDS.
        for model in (Plan, Organization, ApiKey):
            post_save.connect(_forget, sender=model, dispatch_uid=f"gate-forget-{model.__name__}")
            post_delete.connect(_forget, sender=model, dispatch_uid=f"gate-del-{model.__name__}")

        from prometheus_client import REGISTRY

        from .health import HealthCollector

        if not getattr(ApiConfig, "_collector_registered", False):
            REGISTRY.register(HealthCollector())
            ApiConfig._collector_registered = True


def _forget(**kwargs) -> None:
    from .gate import forget

    forget()
