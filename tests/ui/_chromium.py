"""A headless Chromium driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``),
standard library only: load a page, type, click, read the DOM, take a screenshot.

Input goes through the protocol's input domain (``Input.insertText``, ``Input.dispatchMouseEvent``),
as a user's keyboard and mouse would, not through scripts that set values.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

_TRAMPOLINE = ("import os, sys; r, w = (os.dup(int(fd)) for fd in sys.argv[1:3]); os.dup2(r, 3); os.dup2(w, 4); "
               "os.set_inheritable(3, True); os.set_inheritable(4, True); os.execv(sys.argv[3], sys.argv[3:])")
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """``$PROMPTLEARN_CHROMIUM`` or the first Chromium on PATH."""
    given = os.environ.get("PROMPTLEARN_CHROMIUM")
    if given:
        return given
    return next((path for path in map(shutil.which, NAMES) if path), None)


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless browser with one page (a CDP session)."""

    def __init__(self, executable: str, profile: Path, *, width: int = 1280, height: int = 1000):
        to_read, self._to = os.pipe()  # we write commands to _to; Chromium reads fd 3
        self._from, from_write = os.pipe()  # Chromium writes fd 4; we read _from
        args = [executable, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        # a small Python trampoline puts the pipe ends on fds 3 and 4 and execs Chromium (no
        # preexec_fn in a process with server threads; dash's redirections would close them on exec)
        self.process = subprocess.Popen([sys.executable, "-c", _TRAMPOLINE, str(to_read), str(from_write), *args],
                                        pass_fds=(to_read, from_write), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_read)
        os.close(from_write)
        self._next = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._ready = threading.Condition()
        self._closed = False
        threading.Thread(target=self._read, daemon=True).start()
        self.session = self._attach()

    # ---- the protocol ------------------------------------------------------------------------------
    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._ready:
                    self._closed = True
                    self._ready.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._ready:
                        self._replies[message["id"]] = message
                        self._ready.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
        self._next += 1
        number = self._next
        message = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._ready:
            while number not in self._replies:
                if self._closed:
                    raise BrowserError(f"Chromium exited: {self._stderr()}")
                if not self._ready.wait(timeout=max(0.0, deadline - time.monotonic())):
                    raise BrowserError(f"no answer to {method} within {timeout} s")
            reply = self._replies.pop(number)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _stderr(self) -> str:
        try:
            return (self.process.stderr.read() or b"").decode(errors="replace")[-1000:] if self.process.poll() is not None else ""
        except Exception:  # noqa: BLE001
            return ""

    def _attach(self) -> str:
        deadline = time.monotonic() + 30
        while True:
            pages = [t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise BrowserError("Chromium opened no page")
            time.sleep(0.2)
        return self.send("Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True})["sessionId"]

    def page(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60.0) -> dict[str, Any]:
        return self.send(method, params, session=self.session, timeout=timeout)

    # ---- what a test does ----------------------------------------------------------------------------
    def goto(self, url: str) -> None:
        self.page("Page.enable")
        self.page("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')}: {expression}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout: float = 60.0, what: str = "") -> Any:
        """Poll a script until it returns a truthy value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {timeout} s waiting for {what or expression}")
            time.sleep(0.25)

    def click(self, selector: str) -> None:
        """A left click in the middle of the element (scrolled into view first)."""
        box = self.wait_for(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null; "
            "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); "
            "return r.width > 0 ? {x: r.x + r.width / 2, y: r.y + r.height / 2} : null; })()", what=selector)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1})

    def type(self, selector: str, text: str) -> None:
        """Click into a field and type ``text`` (as an input method would)."""
        self.click(selector)
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")  # a headless window may not take focus by a click
        self.page("Input.insertText", {"text": text})

    def screenshot(self, path: Path) -> Path:
        data = self.page("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except BrowserError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to, self._from):
            try:
                os.close(fd)
            except OSError:
                pass
