"""``diffusionsynth serve``: start the web app on one address and port."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def configure_rendering() -> None:
    """Off-screen rendering without an X server: EGL (a GPU, or Mesa's software rasteriser)."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def serve(host: str = "127.0.0.1", port: int = 8080, data: str | Path | None = None) -> int:
    """Serve until interrupted; the volumes in ``data`` (a folder) are loaded first."""
    configure_rendering()
    sys.argv = sys.argv[:1]  # trame reads its own options from sys.argv; ours are parsed already
    from trame.app import get_server

    from .app import DiffusionSynthApp

    server = get_server("DiffusionSynth", client_type="vue3")
    app = DiffusionSynthApp(server)
    if data is not None:
        app.load_folder(data)
    try:
        server.start(host=host, port=port, open_browser=False, timeout=0, show_connection_info=True)
    finally:
        app.shutdown()
    return 0
