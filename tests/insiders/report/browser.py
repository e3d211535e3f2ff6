"""Open a page in headless Chromium from the command line (no driver, no extra package).

- ``--dump-dom`` prints the DOM once the page has loaded (after its load handlers ran);
- ``--screenshot`` saves a PNG of the window;
- ``--enable-logging=stderr`` writes every console message and uncaught exception of the page to
  stderr as a ``CONSOLE`` line: the report has no script, so any such line is an error.

Failed resource loads (a broken image, a missing file) are not console messages; ``probe`` loads a copy
of the page with a small script that turns them into console errors and records, on the <html>
element, how many images there are, how many did not render, and the page height.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CONSOLE = re.compile(r"\bCONSOLE\b")
FLAGS = (
    "--headless",
    "--no-sandbox",  # root in containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
PROBE = """<script>
window.addEventListener("error", function (e) {
  var t = e.target;
  if (t && t !== window) { console.error("resource failed: " + String(t.src || t.href || t.tagName).slice(0, 80)); }
}, true);
window.addEventListener("load", function () {
  var broken = 0;
  Array.prototype.forEach.call(document.images, function (img) {
    if (!img.complete || img.naturalWidth === 0) { broken++; console.error("image not rendered: " + img.alt); }
  });
  var root = document.documentElement;
  root.setAttribute("data-probe-images", document.images.length);
  root.setAttribute("data-probe-broken", broken);
  root.setAttribute("data-probe-height", Math.max(root.scrollHeight, document.body.scrollHeight));
});
</script>"""


def find_chromium() -> str | None:
    configured = os.environ.get("INSIDERS_CHROMIUM")
    if configured:
        return configured
    return next((path for path in map(shutil.which, NAMES) if path), None)


def require_chromium() -> str:
    """The Chromium binary; skips the test without one, except in CI (env CI set) where it fails."""
    binary = find_chromium()
    if binary:
        return binary
    message = "no chromium binary found (apt-get install chromium, or set INSIDERS_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the browser test")
    pytest.skip(message)


@dataclass
class BrowserRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def console(self) -> list[str]:
        """Console messages and uncaught exceptions of the page."""
        return [line for line in self.stderr.splitlines() if CONSOLE.search(line)]


def run(binary: str, page: Path, *args: str, timeout: float = 120) -> BrowserRun:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        out = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *args, Path(page).resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    return BrowserRun(out.returncode, out.stdout, out.stderr)


def dump_dom(binary: str, page: Path) -> BrowserRun:
    result = run(binary, page, "--dump-dom")
    assert result.returncode == 0, f"chromium failed ({result.returncode}):\n{result.stderr[-3000:]}"
    return result


def screenshot(binary: str, page: Path, png: Path, *, width: int = 1280, height: int = 4000) -> BrowserRun:
    result = run(binary, page, f"--screenshot={png}", f"--window-size={width},{height}")
    assert result.returncode == 0 and png.exists(), f"no screenshot:\n{result.stderr[-3000:]}"
    return result


@dataclass
class Probe:
    run: BrowserRun
    images: int
    broken_images: int
    height: int


def probe(binary: str, page: Path, workdir: Path, *, width: int = 1280) -> Probe:
    """Load a copy of ``page`` with the probe script (first thing in <head>) and read what it found."""
    text = Path(page).read_text(encoding="utf-8")
    head = re.search(r"<head[^>]*>", text, flags=re.IGNORECASE)
    at = head.end() if head else 0
    copy = workdir / f"probe-{Path(page).name}"
    copy.write_text(text[:at] + PROBE + text[at:], encoding="utf-8")
    result = run(binary, copy, "--dump-dom", f"--window-size={width},1000")
    assert result.returncode == 0, f"chromium failed ({result.returncode}):\n{result.stderr[-3000:]}"
    attributes = dict(re.findall(r'data-probe-(\w+)="(\d+)"', result.stdout))
    assert attributes, f"the probe did not run:\n{result.stdout[:500]}"
    return Probe(result, int(attributes["images"]), int(attributes["broken"]), int(attributes["height"]))


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.section_ids: list[str] = []
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "section" and values.get("id"):
            self.section_ids.append(values["id"])
        for name in ("src", "href", "srcset", "data", "action"):
            if values.get(name) is not None:
                self.links.append((tag, name, values[name]))


def section_ids(html: str) -> list[str]:
    collector = _Collector()
    collector.feed(html)
    return collector.section_ids


def external_references(html: str) -> list[str]:
    """Every src/href/... that is not an inline ``data:`` URI or an anchor in the page."""
    collector = _Collector()
    collector.feed(html)
    found = [f"<{t} {a}={v[:60]}>" for t, a, v in collector.links if not v.startswith(("data:", "#"))]
    found += re.findall(r"url\(\s*(?![\"']?data:)[^)]{0,60}|@import[^;]{0,60}", html)
    return found


def assert_renders_cleanly(binary: str, page: Path, workdir: Path, sections: list[str]) -> Probe:
    """The page loads without any console message, has ``sections`` in order, and every image renders."""
    dom = dump_dom(binary, page)
    assert dom.console == [], "console messages:\n" + "\n".join(dom.console)
    assert section_ids(dom.stdout) == sections
    found = probe(binary, page, workdir)
    assert found.run.console == [], "console messages:\n" + "\n".join(found.run.console)
    assert found.broken_images == 0
    return found
