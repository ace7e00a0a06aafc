"""What the browser tests share: the app served by uvicorn on a free port, and the checks every
page must pass at tablet width (no sideways scrolling, a label on every field, touch targets of
at least 44 px, optionally no arm word)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from tests.services.test_blinding_matrix import ARM_WORDS

WIDTH = 768
TOUCH = 44


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn in a background thread; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def check_page(page: Any, shots: Path, name: str, targets: str, *, blinded: bool = False) -> None:
    """Screenshot; no sideways scrolling at 768 px; every field labelled; big touch targets;
    with ``blinded``, no arm word in what the page shows or holds."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, name
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.name || e.id)"""
    )
    assert unlabelled == [], (name, unlabelled)
    small = page.evaluate(
        """([selector, least]) => [...document.querySelectorAll(selector)]
             .filter(e => e.getBoundingClientRect().height < least)
             .map(e => e.outerHTML.slice(0, 80))""",
        [targets, TOUCH],
    )
    assert small == [], (name, small)
    if blinded:
        assert not ARM_WORDS.search(page.content()), name


_CONTROLS = """() => {
  const folded = e => {
    const details = e.closest('details:not([open])');
    return details !== null && !(e.matches('summary') && e.parentElement === details);
  };
  const shown = e => !e.closest('[hidden]') && !folded(e) && e.getClientRects().length > 0;
  const seen = new Set();
  return [...document.querySelectorAll(
      'a[href], button, input:not([type=hidden]), select, textarea, summary')]
    .filter(e => shown(e) && !e.disabled)
    .filter(e => e.type !== 'radio' || !seen.has(e.name) && seen.add(e.name))
    .map(e => e.type === 'radio' ? 'radio:' + e.name : e.outerHTML.slice(0, 120));
}"""
_FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  return e.type === 'radio' ? 'radio:' + e.name : e.outerHTML.slice(0, 120);
}"""


def check_keyboard(page: Any, name: str) -> None:
    """Every control of the page is reached with the Tab key alone, in one pass (a radio group
    is one stop, as browsers make it): nothing needs a pointer."""
    controls = page.evaluate(_CONTROLS)
    reached: list[str] = []
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    for _ in range(2 * len(controls) + 20):  # scrollable boxes are tab stops in Chromium too
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        if focused is None or (reached and focused == reached[0]):
            break
        reached.append(focused)
    missing = [c for c in controls if c not in reached]
    assert missing == [], (name, missing[:5])
