"""What a user does in the Dagster UI, driven in a real Chromium through Playwright.

Selectors are visible texts and roles only: Dagster's generated class names change with every release.
Written against the pinned Dagster release (1.13.27)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

# Debian's package (`apt-get install -y chromium`): Playwright's own browser download is not reachable here.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
VIEWPORT = {"width": 1400, "height": 900}


def chromium_path() -> str:
    configured = os.environ.get("MARKETDATA_CHROMIUM")
    found = [configured] if configured else [p for p in CHROMIUM_CANDIDATES if Path(p).exists()]
    found += [shutil.which("chromium") or ""]
    for path in found:
        if path and Path(path).exists():
            return path
    raise RuntimeError("no Chromium found: `apt-get install -y chromium` (or set MARKETDATA_CHROMIUM)")


class UserSawFailure(AssertionError):
    """The flow did not reach what a user expects; `screenshot` shows what the user saw instead."""

    def __init__(self, message: str, screenshot: Path):
        super().__init__(f"{message} (screenshot: {screenshot})")
        self.screenshot = screenshot


@dataclass
class DagsterUI:
    page: Page
    base_url: str
    shots: Path  # where screenshots go: docs/img for `make screenshots`, a scratch folder otherwise

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def fail(self, message: str, name: str = "failure") -> UserSawFailure:
        return UserSawFailure(message, self.shot(name))

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Any failure inside becomes a UserSawFailure carrying a screenshot of the page at that moment."""
        try:
            yield
        except UserSawFailure:
            raise
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise self.fail(f"{what}: {first_line}", what.replace(" ", "_")) from exc

    def open_asset(self, asset: str, view: str | None = None) -> None:
        self.page.goto(f"{self.base_url}/assets/{asset}" + (f"?view={view}" if view else ""))
        expect(self.page.get_by_role("heading", name=asset).or_(self.page.get_by_text(asset, exact=True)).first)\
            .to_be_visible(timeout=30_000)

    def launch_backfill(self, asset: str, selections: list[list[str]]) -> str:
        """Materialize… → one partition picker per dimension (in the UI's order) → Launch backfill.
        Returns the backfill page's URL."""
        self.open_asset(asset)
        self.page.get_by_role("button", name="Materialize…").click()
        dialog = self.page.get_by_role("dialog")
        for names in selections:
            # The next empty picker is always the first one still showing its placeholder.
            dialog.get_by_text("Select a partition or create one").first.click()
            for name in names:
                self.page.get_by_role("menuitem").filter(has=self.page.get_by_text(name, exact=True)).first.click()
            self.page.keyboard.press("Escape")
        count = 1
        for names in selections:
            count *= len(names)
        expect(dialog.get_by_text(f"{count} partitions")).to_be_visible()
        dialog.get_by_role("button", name="Launch backfill").click()
        view = self.page.get_by_role("link", name="View", exact=True)
        view.wait_for(timeout=30_000)
        return self.base_url + view.get_attribute("href")

    def check_status(self, check: str) -> str:
        """The status the checks tab shows beside a check's name ("Succeeded", "Failed", …)."""
        name = self.page.get_by_title(check, exact=True).first
        return name.locator("xpath=following-sibling::span[1]").inner_text().strip()

    def wait_for_text(self, asset: str, view: str, text: str, timeout_s: float) -> None:
        """Reloads the asset's view until `text` shows (work the daemon starts by itself)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.open_asset(asset, view=view)
            try:
                expect(self.page.get_by_text(text).first).to_be_visible(timeout=5_000)
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{asset}: {text!r} not shown after {timeout_s:.0f} s") from None
            time.sleep(5)

    def open_first_run_of(self, backfill_url: str) -> None:
        self.page.goto(f"{backfill_url}?tab=runs")
        run_ids = re.compile(r"^[0-9a-f]{8}$")  # the runs table links each run by its short id
        self.page.locator('a[href^="/runs/"]').filter(has_text=run_ids).first.click()

    def follow_backfill(self, url: str, timeout_s: float = 300) -> str:
        """Reloads the backfill page until its status is final; returns it ("Succeeded", "Failed", …)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.page.goto(url)
            status = self.page.get_by_text("Status", exact=True).locator("xpath=..")
            try:
                text = status.inner_text(timeout=15_000).replace("Status", "").strip()
            except Exception:
                text = ""
            if text and text not in ("In progress", "Requested", "Canceling"):
                return text
            if time.monotonic() > deadline:
                raise self.fail(f"backfill still {text or 'unknown'} after {timeout_s:.0f} s", "backfill_timeout")
            time.sleep(3)


@dataclass
class Chromium:
    browser: Browser

    def ui(self, base_url: str, shots: Path) -> DagsterUI:
        page = self.browser.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(30_000)
        return DagsterUI(page, base_url, shots)


@contextlib.contextmanager
def chromium() -> Iterator[Chromium]:
    """A headless Chromium for the test's lifetime."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield Chromium(browser)
        finally:
            browser.close()
