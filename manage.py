#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
    # manage.py is the developer's tool on a checkout: with no environment at
    # all (neither DEBUG nor DATABASE_URL) it is development, as `make` runs
    # it. The settings stay strict (DEBUG unset = production): gunicorn and
    # Celery never come through here, and production's one-off commands run in
    # its environment, which sets DEBUG=0 and a DATABASE_URL.
    if "DEBUG" not in os.environ and "DATABASE_URL" not in os.environ:
        os.environ["DEBUG"] = "1"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
