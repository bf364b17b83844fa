"""The viewer side of the app: trame-slicer's own logic for views, segment editor and volume display.

Assembled like trame-slicer's ``SegmentationAppLogic``, except that loading adds to the scene
instead of clearing it (inputs and results live side by side) and mask files become segmentations.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from trame_server.utils.typed_state import TypedState
from trame_slicer.app.logic import (
    DownloadSceneLogic,
    LayoutButtonLogic,
    MprInteractionButtonLogic,
    SegmentEditorLogic,
    VolumePropertyLogic,
)
from trame_slicer.app.ui import ViewerLayoutState, VolumePropertyState
from trame_slicer.core import VolumeWindowLevel
from trame_slicer.rca_view import register_rca_factories
from vtkmodules.vtkCommonCore import vtkCommand

from . import results
from .loading import Loaded, folder_files, load_files
from .scene_items import nodes_of_class
from .uploads import write_uploads

MR_PRESET_RANGE = 255.0  # Slicer's MR presets are drawn for 8-bit intensities


def fit_render_preset(volume_rendering, node, preset: str) -> None:
    """Apply ``preset`` to ``node``'s volume rendering; an MR preset is stretched over the node's own
    intensity range (0.1 to 99.9 percentiles), since MR intensities have no fixed scale."""
    volume_rendering.apply_preset(volume_rendering.get_vr_display_node(node), preset)
    if not preset.startswith("MR"):
        return
    low, high = VolumeWindowLevel.get_volume_auto_min_max_range(node)
    prop = volume_rendering.get_volume_node_property(node)

    def stretch(points: list[list[float]]) -> list[list[float]]:
        return [[low + point[0] / MR_PRESET_RANGE * (high - low), *point[1:]] for point in points]

    prop.set_opacity_values(stretch(prop.get_opacity_map_values()))
    prop.set_color_map_values(stretch(prop.get_color_map_values()))


class ViewerLogic:
    """Views, segment editor, volume properties and file loading on ``slicer_app``'s scene."""

    def __init__(self, server, slicer_app, upload_root: str | Path | None = None) -> None:
        self.server, self.slicer_app = server, slicer_app
        self.upload_root = upload_root  # where each upload's temporary folder is made (default: the system's)
        register_rca_factories(slicer_app.view_manager, server)
        # The views first: an effect pipeline made before its view exists has no view (trame-slicer 2.0
        # then fails on the paint brush; its own app hides this by clearing the scene on every load).
        self.layout_button = LayoutButtonLogic(server, slicer_app)
        self.segment_editor = SegmentEditorLogic(server, slicer_app)
        self.volume_properties = VolumePropertyLogic(server, slicer_app)
        self.download_scene = DownloadSceneLogic(server, slicer_app)
        self.mpr = MprInteractionButtonLogic(server, slicer_app)
        self.layout_state = TypedState(server.state, ViewerLayoutState)
        self.property_state = TypedState(server.state, VolumePropertyState)
        self.on_loaded: list[Callable[[list], None]] = []  # called with the new volume nodes
        self.on_shown: list[Callable[[object], None]] = []  # called with the node now in the views
        self.property_state.data.preset_3d_name = "MR-Default"  # what the volume display panel shows for MR inputs
        server.state.update({"ds_load_message": "", "trame__title": "DiffusionSynth"})
        self.layout_state.data.active_tool = "SynthesisPanel"  # the first thing to see (the layout opens the drawer)
        for view in slicer_app.view_manager.get_slice_views():
            view.interactor().AddObserver(vtkCommand.WindowResizeEvent, lambda *_, v=view: self._fit_on_resize(v), -1.0)

    @property
    def layout_manager(self):
        return self.layout_button.layout_manager

    def set_ui(self, ui) -> None:
        """Connect trame-slicer's widgets (built by :class:`~DiffusionSynthWeb.layout.AppLayout`)."""
        self.segment_editor.set_ui(ui.segment_editor)
        self.volume_properties.set_ui(ui.volume_properties)
        self.layout_button.set_ui(ui.layout_button)
        self.download_scene.set_ui(ui.download_scene_button)
        self.mpr.set_ui(ui.mpr_interaction_button)
        ui.load_buttons.on_load_volume.connect(self.load_uploaded)

    # ------------------------------------------------------------------------------ loading

    def load_uploaded(self, files: list[dict]) -> None:
        """Files sent by the browser's file loader (written under safe names to a temporary folder, then read)."""
        if not files:
            return
        with tempfile.TemporaryDirectory(prefix="DiffusionSynthWeb-upload-", dir=self.upload_root) as folder:
            written = write_uploads(files, folder)
            self.load_paths(written.paths, refused=written.refused)

    def load_folder(self, folder: str | Path) -> Loaded:
        return self.load_paths(folder_files(folder))

    def load_paths(self, paths: list, refused: Sequence[str] = ()) -> Loaded:
        """Load ``paths``; ``refused`` (uploads not written) and unreadable files are named in the panel."""
        loaded = load_files(self.slicer_app, paths)
        loaded.skipped[:0] = refused
        with self.server.state as state:
            state.ds_load_message = f"Not a self-contained NIfTI, NRRD or MHA volume: {', '.join(loaded.skipped)}" if loaded.skipped else ""
            if loaded.volumes:
                self.show_volume(loaded.volumes[0], reset_views=True)
                for callback in self.on_loaded:
                    callback(loaded.volumes)
            elif loaded.segmentations and self.slicer_app.segmentation_editor.active_volume_node is not None:
                self.segment_editor.on_volume_changed(self.slicer_app.segmentation_editor.active_volume_node)
        return loaded

    # ------------------------------------------------------------------------------ display

    def show_volume(self, node, reset_views: bool = False) -> None:
        """Show ``node`` in the slice views and the 3D view; it becomes the segment editor's source.
        A label map (an added tumour's sub-regions) is laid over the slices instead: it has no window to show."""
        if node.IsA("vtkMRMLLabelMapVolumeNode"):
            self.show_labels(node)
            return
        first = not self.layout_state.data.is_volume_loaded
        preset = results.render_preset(node)
        self.slicer_app.display_manager.show_volume(node, vr_preset=preset, do_reset_views=reset_views or first)
        self.volume_properties.on_volume_changed(node)  # its sliders follow the node (and it applies its own preset)
        fit_render_preset(self.slicer_app.volume_rendering, node, preset)
        if results.kind(node) == "input":
            self.segment_editor.on_volume_changed(node)
        if first:
            self.layout_state.data.is_volume_loaded = True
        for callback in self.on_shown:
            callback(node)

    def show_labels(self, node) -> None:
        """Lay the label map ``node`` over every slice view (its label layer)."""
        for composite in nodes_of_class(self.slicer_app.scene, "vtkMRMLSliceCompositeNode"):
            composite.SetLabelVolumeID(node.GetID())
            composite.SetLabelOpacity(0.5)

    @staticmethod
    def _fit_on_resize(view) -> None:
        """A slice view keeps its field of view's width when resized, so a volume fitted before the browser
        gave the view its size (or before the drawer moved) would be cropped: fit it to the new size."""
        view.fit_view_to_content()
        view.schedule_render()
