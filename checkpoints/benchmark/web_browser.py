"""Roll back as a person sees it: Chromium on the live app, from the confirm button's click
until the timeline marks the restored version current, both read by the page's own clock
(`performance.now()` in a click listener and a MutationObserver), so neither Playwright's
polling nor its round trips count.

Measured only where Playwright and a Chromium are installed (`make bench` installs the
first; Debian's `chromium` package, or CHECKPOINTS_CHROMIUM, gives the second).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from statistics import median
from typing import Any

import httpx

#: Set on the page before the click: when the confirm button is pressed, when the timeline
#: first marks `label` current afterwards.
_WATCH = """label => {
  window.__clicked = null; window.__done = null;
  document.addEventListener('click', event => {
    if (event.target.closest('#confirm button[type=submit]')) window.__clicked = performance.now();
  }, {capture: true, once: true});
  const check = () => {
    const current = document.querySelector('.timeline [aria-current="true"]');
    if (window.__clicked !== null && window.__done === null && current
        && current.textContent.trim() === label) window.__done = performance.now();
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true,
    attributes: true, characterData: true});
}"""


def chromium_path() -> str | None:
    found = os.environ.get("CHECKPOINTS_CHROMIUM") or shutil.which("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None
    return found


def browser_rollbacks(
    client: httpx.Client, pk: int, numbers: list[int], ready: Callable[[], None]
) -> dict[str, Any]:
    """Median seconds from the confirm click to the restored timeline over `numbers` (each
    rollback after `ready()` returns: its warm copy made)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    base = str(client.base_url).rstrip("/")
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            context = browser.new_context()
            context.add_cookies(
                [{"name": k, "value": v, "url": base} for k, v in client.cookies.items()]
            )
            page = context.new_page()
            for number in numbers:
                ready()
                times.append(_one(page, base, pk, f"v{number}"))
        finally:
            browser.close()
    return {"browser_click_to_page_warm": median(times), "browser_runs": len(times)}


def _one(page: Any, base: str, pk: int, label: str) -> float:
    page.goto(f"{base}/projects/{pk}/")
    page.get_by_role("button", name=f"Roll back to {label}", exact=True).first.click()
    # Going to a later version the confirmation says "Move to v3" instead.
    wording = re.compile(f"^(Roll back|Move) to {label}$")
    confirm = page.locator("#confirm").get_by_role("button", name=wording)
    confirm.wait_for()
    page.evaluate(_WATCH, label)
    confirm.click()
    page.wait_for_function("window.__done !== null", timeout=60_000)
    return float(page.evaluate("(window.__done - window.__clicked) / 1000"))
