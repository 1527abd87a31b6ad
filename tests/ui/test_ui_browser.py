"""The page in a real browser: headless Chromium (from the OS packages; `make test` installs it
when it can) loads `promptlearn ui` on the toy model, a query is typed, Generate pressed, and the
gallery fills with images; a screenshot is saved (``PROMPTLEARN_UI_SCREENSHOT=PATH`` keeps it, as
docs/ui.png was made). Skips, saying why, only where no Chromium is installed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _chromium import BrowserError, Chromium, find_chromium
from _ui_server import QUERY, REWRITE

pytest.importorskip("gradio", reason="the ui extra is not installed: pip install 'promptlearn[ui]'")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium on PATH (apt-get install chromium; `make test` tries it) and PROMPTLEARN_CHROMIUM is not set")
    chromium = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"), width=1280, height=1100)
    yield chromium
    chromium.close()


def test_type_a_query_press_generate_and_see_the_gallery(browser, ui_server, tmp_path):
    """The session's live page (conftest.py; its models are loaded already when test_ui.py ran first)."""
    browser.goto(ui_server.url)
    browser.wait_for("document.querySelector('#query textarea, #query input') !== null", timeout=90, what="the query box")
    browser.type("#query textarea, #query input", QUERY)
    # a click that lands before the page's scripts listen does nothing: press again until the page
    # shows it is working (gradio's "processing" timer) or has answered
    started = "document.body.innerText.includes('processing') || document.querySelector('#status').innerText.trim() !== ''"
    for _ in range(6):
        browser.click("#generate")
        try:
            browser.wait_for(started, timeout=10, what="the page to take the click")
            break
        except BrowserError:
            continue
    try:
        count = browser.wait_for(
            "(() => { const images = [...document.querySelectorAll('#gallery img')];"
            " return images.length >= 3 && images.every(i => i.complete && i.naturalWidth > 0) ? images.length : 0; })()",
            timeout=240, what="the gallery's images")
    except BrowserError as exc:
        browser.screenshot(tmp_path / "timeout.png")
        state = browser.evaluate("JSON.stringify({query: document.querySelector('#query textarea, #query input').value, "
                                 "status: document.querySelector('#status').innerText, "
                                 "images: document.querySelectorAll('#gallery img').length})")
        raise AssertionError(f"{exc}; page: {state}; screenshot {tmp_path / 'timeout.png'}") from None
    assert count >= 3
    status = browser.wait_for("document.querySelector('#status').innerText", what="the status line")
    assert "3 images: original, tin, negative" in status
    assert REWRITE in browser.evaluate("document.querySelector('#rewrite').innerText")
    shot = browser.screenshot(Path(os.environ.get("PROMPTLEARN_UI_SCREENSHOT") or tmp_path / "ui.png"))
    assert shot.stat().st_size > 10_000
