"""requirements/lock.txt pins every dependency, and the Makefile installs from it."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

LOCK = REPO / "requirements" / "lock.txt"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+) \\$")


def pins() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, its hashes), as the lock lists them."""
    found: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match[1])
            found[current] = (match[2], [])
        elif current and line.strip().startswith("--hash=sha256:"):
            found[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        elif not line.startswith(" "):
            current = None
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    build = project["build-system"]["requires"]
    runtime = project["project"]["dependencies"]
    dev = project["project"]["optional-dependencies"]["dev"]
    return [Requirement(spec) for spec in (*build, *runtime, *dev)]


def test_every_declared_dependency_is_pinned_within_its_range():
    locked = pins()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in the lock: run make lock"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)


def test_every_pin_is_exact_and_hashed():
    locked = pins()
    assert len(locked) > 40  # the whole tree, not only what pyproject names
    for name, (version, hashes) in locked.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", version), (name, version)
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name
    text = LOCK.read_text()
    assert "make lock" in text  # how it was made, and so how to remake it
    assert "file://" not in text and "--find-links" not in text  # nothing of one machine


def test_make_installs_the_lock_and_reinstalls_when_it_changes():
    makefile = (REPO / "Makefile").read_text()
    assert "LOCK := requirements/lock.txt" in makefile
    stamp = re.search(r"^\$\(STAMP\): (.*)$", makefile, re.M)
    assert stamp and "$(LOCK)" in stamp[1].split()
    recipe = makefile[stamp.end() :].split("\n\n", 1)[0]
    assert "pip install --quiet --require-hashes -r $(LOCK)" in recipe
    assert "pip install --quiet --no-deps --no-build-isolation -e ." in recipe
    assert "'.[dev]'" not in recipe  # nothing resolved outside the lock
