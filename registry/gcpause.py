"""Holding off Python's cycle collector during bulk allocation."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Hold off the cycle collector while bulk work allocates acyclic objects.

    Reading, parsing and ingesting a snapshot make millions of small objects,
    none of them in a cycle, next to a heap that already holds the snapshot's
    raw records. Every full collection those allocations set off walks the
    whole heap; together they cost about as much as the work itself (measured
    with bench/ingest.py). Nothing is lost: reference counting still frees
    memory, and collection resumes afterwards. Nests safely.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
