"""The app object: one Slicer scene, trame-slicer's viewer, the module's synthesis logic, one page."""

from __future__ import annotations

from pathlib import Path

from trame.app import TrameApp
from trame_slicer import module as trame_slicer_module
from trame_slicer.core import SlicerApp

from .controller import SynthesisController
from .layout import AppLayout
from .model_choices import ModelChoices
from .viewer import ViewerLogic


class DiffusionSynthApp(TrameApp):
    """``DiffusionSynthApp(server).server.start()`` serves the page; ``load_folder`` fills the scene."""

    def __init__(self, server=None, logic=None, models: ModelChoices | None = None) -> None:
        super().__init__(server)
        self.server.enable_module(trame_slicer_module)
        self.slicer_app = SlicerApp()
        self.viewer = ViewerLogic(self.server, self.slicer_app)
        self.synthesis = SynthesisController(self.server, self.slicer_app, self.viewer.show_volume, logic, models)
        self.viewer.on_loaded.append(self.synthesis.volumes_loaded)
        self.viewer.on_shown.append(self.synthesis.shown)
        self.page = AppLayout(self.server, self.viewer.layout_manager, self.synthesis)
        self.viewer.set_ui(self.page)

    @property
    def ui(self):
        return self.page.layout

    def load_folder(self, folder: str | Path) -> None:
        self.viewer.load_folder(folder)

    def shutdown(self) -> None:
        """Stop a running synthesis (its process group) when the server stops."""
        self.synthesis.shutdown()
