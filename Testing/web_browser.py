"""Helpers for the browser tests: a real ``diffusionsynth serve`` process and Debian's chromium.

``serve`` reads the address with the login token from what the server prints, as a user would.

Chromium is driven by Playwright through ``executable_path`` (no browser download). The views
arrive as images over a websocket, so helpers poll screenshots until the views hold a picture.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Served:
    """A running server: ``url`` is the printed address with its token, ``base`` the same without it."""

    url: str
    base: str
    token: str
    port: int


def printed_url(log_path: Path, port: int) -> str | None:
    """The first ``http://...:port/?token=...`` address the server printed, if any yet."""
    found = re.search(rf"http://\S+:{port}/\?token=[A-Za-z0-9_-]+", log_path.read_text(errors="replace"))
    return found.group(0) if found else None


@contextmanager
def serve(
    log_path: Path,
    data: Path | None = None,
    timeout_s: float = 90.0,
    host: str = "127.0.0.1",
    extra: tuple[str, ...] = (),
    env_extra: dict[str, str] | None = None,
):
    """``diffusionsynth serve`` on ``host`` and a free port; yields :class:`Served` once the printed address answers 200."""
    port = free_port()
    args = [sys.executable, "-m", "DiffusionSynthLib.cli", "serve", "--host", host, "--port", str(port), *extra]
    if data is not None:
        args += ["--data", str(data)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    env.pop("DISPLAY", None)  # render off-screen, as on a server
    with open(log_path, "w") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"diffusionsynth serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
                url = printed_url(log_path, port)
                try:
                    if url is not None:
                        with urllib.request.urlopen(url, timeout=2) as response:
                            if response.status == 200:
                                break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"diffusionsynth serve did not answer within {timeout_s:g} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            token = url.rsplit("token=", 1)[1]
            yield Served(url=url, base=url.split("?", 1)[0], token=token, port=port)
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(10)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue


@contextmanager
def browser_page(width: int = 1400, height: int = 900):
    """A chromium page (Playwright on the system's chromium); downloads allowed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
            yield context.new_page()
        finally:
            browser.close()


def pixels(png: bytes, mode: str = "L") -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert(mode), dtype=np.float32)


def axial_picture(page, colour: bool = False) -> np.ndarray:
    """The axial view's current image (the first and largest view of the layout), grey levels or RGB."""
    return pixels(page.locator(".layout-grid-container img.image-display-area").first.screenshot(), "RGB" if colour else "L")


def recoloured(rgb: np.ndarray, before: np.ndarray) -> np.ndarray:
    """The pixels whose colour changed from ``before``: a segment painted over the image, whatever its colour
    (Slicer's segment colour varies; a pale one is hardly saturated)."""
    if rgb.shape != before.shape:
        return np.zeros(rgb.shape[:2], dtype=bool)
    return np.abs(rgb.astype(np.float32) - before.astype(np.float32)).sum(axis=-1) > 40


def recoloured_fraction(rgb: np.ndarray, before: np.ndarray) -> float:
    """The share of pixels whose colour changed from ``before`` (see ``recoloured``)."""
    return float(recoloured(rgb, before).mean())


def save_views(page, path: Path) -> None:
    """A screenshot of all the views (the layout grid)."""
    page.locator(".layout-grid-container").first.screenshot(path=str(path))


def shows_an_image(picture: np.ndarray) -> bool:
    """True for a slice view with an image in it; an empty view is black, a loading one a uniform grey."""
    return float(picture.std()) > 20.0 and float((picture > 25).mean()) > 0.05 and len(np.unique(picture.astype(np.uint8))) > 32


def differs(picture: np.ndarray, before: np.ndarray, threshold: float, where: np.ndarray | None = None) -> bool:
    """Mean absolute grey-level change above ``threshold``, over the pixels ``where`` (all by default; pictures of
    different sizes do not compare)."""
    if picture.shape != before.shape:
        return False
    change = np.abs(picture - before)
    if where is not None:
        change = change[where]
    return change.size > 0 and float(change.mean()) > threshold


def wait_for_views(page, condition, timeout_s: float = 60.0, path: Path | None = None, colour: bool = False) -> np.ndarray:
    """Poll the axial view until ``condition(picture)`` holds; returns that picture, saves all views to ``path``."""
    deadline = time.monotonic() + timeout_s
    while True:
        picture = axial_picture(page, colour)
        if condition(picture) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    if path is not None:
        page.wait_for_timeout(1000)  # let the other views catch up for the saved screenshot
        save_views(page, path)
    if not condition(picture):
        raise AssertionError(f"the views did not show the expected picture within {timeout_s:g} s (std {picture.std():.1f})")
    return picture


RECORD_PROGRESS = """() => {
    window.__progress = [];
    const seen = () => {
        const node = document.querySelector('#ds-progress-text');
        const text = node ? node.textContent.trim() : '';
        if (text && window.__progress[window.__progress.length - 1] !== text) window.__progress.push(text);
    };
    new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
