from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"

    def ready(self) -> None:
        from registry.caching import FAST_PATH_ROUTES

        from .v4.views import CACHE_NAMESPACE

        # v4 responses may be answered in front of Django (registry.wsgi).
        FAST_PATH_ROUTES["/api/v4/"] = CACHE_NAMESPACE

        from prometheus_client import REGISTRY

        from .health import HealthCollector

        if not getattr(ApiConfig, "_collector_registered", False):
            REGISTRY.register(HealthCollector())
            ApiConfig._collector_registered = True
