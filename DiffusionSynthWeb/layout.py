"""The page: trame-slicer's viewer layout with the file loader, the tool drawer and the views.

Built like trame-slicer's ``SegmentationAppUI`` with one more tool, the synthesis panel.
"""

from __future__ import annotations

from trame.widgets.vuetify3 import Template
from trame_slicer.app.ui import (
    ControlButton,
    DownloadSceneButton,
    LayoutButton,
    LoadVolumeUI,
    MprInteractionButton,
    SegmentEditorToolbarUI,
    SegmentEditorUI,
    SegmentEditorUndoRedoUI,
    ViewerLayout,
    VolumePropertyUI,
)

from .panel import SynthesisPanel

TOOLS = (SynthesisPanel, SegmentEditorUI, VolumePropertyUI)


class AppLayout:
    """Builds the page; exposes the widgets the viewer and the synthesis controller connect to."""

    def __init__(self, server, layout_manager, controller) -> None:
        self.tools: dict[type, object] = {}
        with ViewerLayout(server, title="DiffusionSynth", is_drawer_visible=True) as self.layout:
            state = self.layout.typed_state
            self.name = state.name
            with self.layout.appbar, Template(v_slot_prepend=True):
                self.load_buttons = LoadVolumeUI()
                self.download_scene_button = DownloadSceneButton()
            with self.layout.drawer:
                for tool in TOOLS:
                    kwargs = {"controller": controller} if tool is SynthesisPanel else {}
                    self.tools[tool] = tool(v_if=(f"{self.name.active_tool} === '{tool.__name__}'",), **kwargs)
            loaded = (f"!{self.name.is_volume_loaded}",)
            with self.layout.toolbar:
                self._tool_button("DiffusionSynth synthesis", "mdi-creation", SynthesisPanel, id="ds-open-synthesis", disabled=False)
                self._tool_button("Segment editor (draw a mask)", "mdi-brush", SegmentEditorUI, id="ds-open-segment-editor")
                self._tool_button("Volume display", "mdi-tune-variant", VolumePropertyUI, id="ds-open-volume-display")
                self.layout_button = LayoutButton(classes="mt-1", disabled=loaded)
                self.mpr_interaction_button = MprInteractionButton(classes="mt-1", disabled=loaded)
                SegmentEditorToolbarUI(editor_ui=self.segment_editor)
            with self.layout.undo_redo:
                SegmentEditorUndoRedoUI(editor_ui=self.segment_editor, v_if=(f"{self.name.active_tool} === 'SegmentEditorUI'",))
            with self.layout.content:
                layout_manager.initialize_layout_grid(self.layout)

    @property
    def segment_editor(self) -> SegmentEditorUI:
        return self.tools[SegmentEditorUI]

    @property
    def volume_properties(self) -> VolumePropertyUI:
        return self.tools[VolumePropertyUI]

    @property
    def synthesis_panel(self) -> SynthesisPanel:
        return self.tools[SynthesisPanel]

    def _tool_button(self, name: str, icon: str, tool: type, **kwargs) -> None:
        active, visible = f"{self.name.active_tool} === '{tool.__name__}'", self.name.is_drawer_visible
        toggle = f"{visible} = !({active} && {visible}); {self.name.active_tool} = {visible} ? '{tool.__name__}' : null"
        kwargs.setdefault("disabled", (f"!{self.name.is_volume_loaded}",))
        ControlButton(name=name, icon=icon, click=toggle, active=(active,), classes="mt-1", **kwargs)
