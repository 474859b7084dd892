"""The pages in a real browser: headless Chromium loads them from a live server.

Chromium runs as a plain subprocess: `--dump-dom` prints the DOM it built and
`--screenshot` saves what it drew. No driver package and no browser download,
only the distribution's chromium (`make e2e-deps` installs it). Without it
these tests skip locally, and fail under CI, where a missing browser must not
pass silently.

Screenshots (light, dark, and a 390-pixel phone) go to var/e2e/, or to
$E2E_SCREENSHOTS; the paths are printed (`pytest -s` or `-rP` shows them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.utils import timezone

from registry.models import HubModel
from snapshots.models import Observation, Snapshot
from tagging.models import ModelTag, Tag
from tests.factories import hub_record, published_snapshot

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS", REPO / "var" / "e2e"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


# --- the browser ---------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class Dom(HTMLParser):
    """The elements of a page, each with its text, to query by tag and class."""

    VOID = {"area", "br", "col", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        for element in self._open:
            element.parts.append(data)

    def all(self, tag: str | None = None, *classes: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if (tag is None or e.tag == tag)
            and set(classes) <= e.classes
            and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str | None = None, *classes: str, **attrs: str) -> Element:
        found = self.all(tag, *classes, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} class={classes} {attrs}>"
        return found[0]


class Chromium:
    FLAGS = (
        "--headless",
        "--no-sandbox",  # root in CI containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    )

    def __init__(self, path: str) -> None:
        self.path = path

    def load(
        self, url: str, *, name: str, width: int = 1280, height: int = 1100, dark: bool = False
    ) -> Dom:
        """Load `url`, save a screenshot as `name`.png, and return the rendered DOM."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{name}.png"
        shot.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory(prefix="modelboard-chromium-") as profile:
            args = [
                self.path,
                *self.FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={shot}",
                "--dump-dom",
            ]
            if dark:
                args += ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]
            done = subprocess.run(
                [*args, url], capture_output=True, text=True, timeout=120, check=False
            )
        assert done.returncode == 0, done.stderr[-3000:]
        assert shot.is_file() and shot.stat().st_size > 5_000, f"no screenshot at {shot}"
        print(f"screenshot: {shot}")
        return Dom(done.stdout)


def find_chromium() -> str | None:
    for candidate in (
        os.environ.get("CHROMIUM"),
        "/usr/bin/chromium",
        "chromium",
        "chromium-browser",
    ):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    path = find_chromium()
    if path is None:
        reason = "headless Chromium not found (install it with `make e2e-deps`)"
        if IN_CI:
            pytest.fail(f"{reason}: under CI the browser tests must run, not skip")
        pytest.skip(reason)
    return Chromium(path)


# --- the data --------------------------------------------------------------------


@pytest.fixture
def board() -> Snapshot:
    """Eight daily snapshots up to now of six models, two of them tagged."""
    now = timezone.now().replace(microsecond=0)
    ids = [
        "meta-llama/Llama-3.1-8B-Instruct",
        "Qwen/Qwen2.5-Coder-7B-Instruct",
        "sentence-transformers/all-MiniLM-L6-v2",
        "google-bert/bert-base-uncased",
        "openai/whisper-large-v3",
        "acme/newcomer-1b",
    ]
    snapshot = None
    for day in range(8, -1, -1):
        records = [
            hub_record(
                hub_id,
                downloads=5_000_000 // (i + 1) + (8 - day) * (40_000 if i % 2 else -25_000),
                downloadsAllTime=90_000_000 // (i + 1) + (8 - day) * 150_000,
                likes=4000 // (i + 1) + (8 - day) * (i + 1),
            )
            for i, hub_id in enumerate(ids)
            if hub_id != "acme/newcomer-1b" or day == 0
        ]
        snapshot = published_snapshot(records, taken_at=now - timedelta(days=day))
    # The deltas come from the publish; these pin one row of each kind of badge.
    latest = Observation.objects.filter(snapshot=snapshot)
    latest.filter(model__hub_id=ids[0]).update(
        rank_change_24h=2, delta_downloads_24h=12_345, delta_downloads_7d=-4_321
    )
    latest.filter(model__hub_id=ids[1]).update(rank_change_24h=-1, delta_likes_7d=None)
    latest.filter(model__hub_id=ids[5]).update(is_new_24h=True, is_new_7d=True)
    chat = Tag.objects.update_or_create(slug="chat", defaults={"name": "Chat"})[0]
    code = Tag.objects.update_or_create(slug="code", defaults={"name": "Code"})[0]
    models = {m.hub_id: m for m in HubModel.objects.filter(hub_id__in=ids[:2])}
    ModelTag.objects.bulk_create(
        [
            ModelTag(model=models[ids[0]], tag=chat, source="rule"),
            ModelTag(model=models[ids[1]], tag=chat, source="rule"),
            ModelTag(model=models[ids[1]], tag=code, source="override"),
        ],
        ignore_conflicts=True,
    )
    return snapshot


def assert_fresh(dom: Dom, snapshot: Snapshot) -> None:
    freshness = dom.one("p", "freshness")
    assert f"Snapshot #{snapshot.pk} taken" in freshness.text
    assert snapshot.taken_at.strftime("%Y-%m-%d %H:%M") in freshness.text
    assert "Stale" not in freshness.text


# --- the pages ---------------------------------------------------------------------


def test_the_leaderboard_in_a_browser(chromium, live_server, board):
    dom = chromium.load(live_server.url + "/", name="leaderboard")
    assert_fresh(dom, board)
    rows = dom.all("td", "model")
    assert len(rows) == 6
    assert rows[0].text.startswith("meta-llama/Llama-3.1-8B-Instruct Meta")
    assert len(dom.all("svg", "spark")) == 5  # the newcomer has one day: no line yet
    assert dom.all("polyline")
    chips = [(a.attrs["href"], a.text) for a in dom.all("a", "chip", "tag")]
    assert ("/tags/chat", "Chat") in chips and ("/tags/code", "Code") in chips
    assert dom.all("span", "delta", "up") and dom.all("span", "delta", "down")
    assert [e.text for e in dom.all("span", "delta", "new")] == ["new"] * 4
    assert dom.all("span", "delta", "unknown")
    assert dom.all("span", "move", "up")[0].text == "▲2"  # the first row's, pinned above
    assert "▼1" in [e.text for e in dom.all("span", "move", "down")]
    assert dom.one("a", "twin", type="application/json").attrs["href"] == "/api/v4/models"
    assert dom.one("a", "twin", type="text/csv").attrs["href"] == "/api/v4/export.csv"
    assert dom.one("form", "filters").attrs["method"] == "get"

    dark = chromium.load(live_server.url + "/", name="leaderboard-dark", dark=True)
    assert len(dark.all("td", "model")) == 6
    phone = chromium.load(live_server.url + "/", name="leaderboard-390", width=390, height=1400)
    assert len(phone.all("td", "model")) == 6


def test_a_model_page_in_a_browser(chromium, live_server, board):
    url = live_server.url + "/models/Qwen/Qwen2.5-Coder-7B-Instruct"
    dom = chromium.load(url, name="model", height=1500)
    assert_fresh(dom, board)
    assert dom.one("h1").text == "Qwen/Qwen2.5-Coder-7B-Instruct"
    charts = dom.all("svg", "chart")
    assert len(charts) == 3  # downloads, likes, rank
    for chart in charts:
        assert chart.attrs["role"] == "img" and chart.attrs["aria-label"]
    assert len(dom.all("text", "yt")) >= 9 and len(dom.all("text", "xt")) >= 3
    tooltips = [t.text for t in dom.all("title") if t.text.endswith(" downloads")]
    assert len(tooltips) == 9  # one per day
    assert all(" UTC: " in t for t in tooltips)
    assert [a.text for a in dom.all("a", "chip", "tag")] == ["Chat", "Code"]
    assert dom.all("span", "value")[0].text == "#2"  # the rank card
    assert "▼1" in [e.text for e in dom.all("span", "move", "down")]
    assert dom.one("a", "twin").attrs["href"] == "/api/v4/models/Qwen/Qwen2.5-Coder-7B-Instruct"

    dark = chromium.load(url, name="model-dark", height=1500, dark=True)
    assert len(dark.all("svg", "chart")) == 3
    phone = chromium.load(url, name="model-390", width=390, height=2200)
    assert len(phone.all("svg", "chart")) == 3


def test_the_tag_pages_in_a_browser(chromium, live_server, board):
    dom = chromium.load(live_server.url + "/tags/code", name="tag")
    assert_fresh(dom, board)
    rows = [e.text for e in dom.all("td", "model")]
    assert len(rows) == 1 and rows[0].startswith("Qwen/Qwen2.5-Coder-7B-Instruct")
    assert [a.text for a in dom.all("a", "chip", "tag")] == ["Chat", "Code"]
    assert len(dom.all("svg", "spark")) == 1

    tags = chromium.load(live_server.url + "/tags/", name="tags")
    assert_fresh(tags, board)
    names = [a.text for a in tags.all("a", "tag-name")]
    assert "Chat" in names and "Code" in names
