"""Throwaway keys for the benches.

Benches run the production settings (DEBUG off), which refuse to start
without a SECRET_KEY and an encryption key for webhook secrets. These are
made up per run, set once in this process's environment (so every process a
bench starts shares them), and never used to serve anything.
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet


def bench_keys() -> dict[str, str]:
    """SECRET_KEY and WEBHOOK_SECRET_KEYS: the environment's, else throwaway ones."""
    os.environ.setdefault("SECRET_KEY", "bench-only-key-never-serve-with-it")
    if not os.environ.get("WEBHOOK_SECRET_KEYS"):
        os.environ["WEBHOOK_SECRET_KEYS"] = Fernet.generate_key().decode()
    return {name: os.environ[name] for name in ("SECRET_KEY", "WEBHOOK_SECRET_KEYS")}
