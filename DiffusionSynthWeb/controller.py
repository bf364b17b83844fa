"""The synthesis panel's state and actions: selections -> ``SynthesisRequest`` -> the module's logic.

Everything that touches nodes and the command line is ``DiffusionSynthSlicerLib``'s
``SynthesisLogic``, the same object the Slicer widget drives; this class only moves values
between the browser's state and that logic, and runs the job without blocking the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from DiffusionSynthSlicerLib import Nodes
from DiffusionSynthSlicerLib.Logic import SynthesisLogic, SynthesisRequest, parse_days
from DiffusionSynthSlicerLib.Process import Progress
from DiffusionSynthSlicerLib.Tasks import SEQUENCES, TASKS
from trame_server.utils.asynchronous import create_task

from DiffusionSynthLib.errors import Cancelled

from . import results, scene_items
from .model_choices import ModelChoices

INPUTS: dict[str, object] = {  # what the user sets; Apply sends them along (see ``apply_expression``)
    "ds_task": "mri-to-ct",
    "ds_mri": None,
    **{f"ds_{name}": None for name in SEQUENCES},
    "ds_segmentation": None,
    "ds_segment": None,
    "ds_mode": "remove",
    "ds_strength": 1.0,
    "ds_days": "30 90 180",
    "ds_model": "",
    "ds_steps": "",
    "ds_seed": "0",
    "ds_samples": "0",
    "ds_device": "auto",
    "ds_output_name": "",
}
DEFAULTS: dict[str, object] = {
    **INPUTS,
    "ds_volumes": [],
    "ds_segmentations": [],
    "ds_segments": [],
    "ds_models": [],
    "ds_view": None,
    "ds_running": False,
    "ds_progress": 0,
    "ds_progress_text": "",
    "ds_error": "",
    "ds_info": "",
    "ds_info_type": "success",  # "warning" when a result's quality check warned
    "ds_results": [],
    "ds_forecast_days": [],
    "ds_forecast_index": 0,
}


def whole_number(value, what: str, default: int) -> int:
    text = str(value if value is not None else "").strip()
    if not text:
        return default
    if not text.lstrip("-").isdigit():
        raise ValueError(f"{what} must be a whole number, not '{text}'.")
    return int(text)


class SynthesisController:
    """Binds the ``ds_*`` state to a :class:`SynthesisLogic` on ``slicer_app``'s scene.

    Args:
        server: the trame server (its state holds the panel's values).
        slicer_app: trame-slicer's ``SlicerApp`` (scene and segment editor).
        show_volume: shows a node in the views with its display preset.
        logic: the module's logic (default: a new ``SynthesisLogic``).
        models: the models a client may name (default: the built-in ones only).
    """

    def __init__(
        self,
        server,
        slicer_app,
        show_volume: Callable[[object], None],
        logic: SynthesisLogic | None = None,
        models: ModelChoices | None = None,
    ) -> None:
        self.server, self.state, self.slicer_app = server, server.state, slicer_app
        self.scene = slicer_app.scene
        self.show_volume = show_volume
        self.logic = logic or SynthesisLogic()
        self.models = models or ModelChoices()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None  # the running job's completion (awaited by tests)
        self._shown_id: str | None = None
        self.state.update(DEFAULTS)
        availability = self.logic.availability()
        self.state.ds_tasks = [
            {"value": key, "title": spec.title, "available": availability[key][0], "reason": availability[key][1]} for key, spec in TASKS.items()
        ]
        self.state.ds_specs = {
            key: {
                "mri": spec.needs_mri,
                "sequences": spec.needs_sequences,
                "segment": spec.needs_segment,
                "mode": spec.needs_mode,
                "days": spec.needs_days,
                "uncertainty": spec.supports_uncertainty,
            }
            for key, spec in TASKS.items()
        }
        self.state.change("ds_task")(self._on_task)
        self.state.change("ds_segmentation")(self._on_segmentation)
        self.state.change("ds_view")(self._on_view)
        self.state.change("ds_forecast_index")(self._on_forecast_index)
        self.server.trigger("ds_download")(self.download)
        self.server.trigger("ds_apply")(self.apply)
        editor = slicer_app.segmentation_editor
        for signal in (editor.segmentation_modified, editor.active_segment_id_changed):
            signal.connect(lambda *_: self.refresh_items())
        for event in (self.scene.NodeAddedEvent, self.scene.NodeRemovedEvent):
            self.scene.AddObserver(event, lambda *_: self.refresh_items())
        self._on_task(self.state.ds_task)

    # ------------------------------------------------------------------------------ selections

    def refresh_items(self) -> None:
        """Selector items from the scene; the segment editor's segment is the default mask."""
        with self.state:
            self.state.ds_volumes = scene_items.volume_items(self.scene)
            self.state.ds_segmentations = scene_items.segmentation_items(self.scene)
            editor = self.slicer_app.segmentation_editor
            ids = [item["value"] for item in self.state.ds_segmentations]
            if self.state.ds_segmentation not in ids:
                active = editor.active_segmentation_node
                self.state.ds_segmentation = active.GetID() if active is not None else (ids[0] if ids else None)
            self.state.ds_segments = scene_items.segment_items(self._node(self.state.ds_segmentation))
            segment_ids = [item["value"] for item in self.state.ds_segments]
            if self.state.ds_segment not in segment_ids:
                active_id = editor.get_active_segment_id() if editor.active_segmentation_node is not None else ""
                self.state.ds_segment = active_id if active_id in segment_ids else (segment_ids[0] if segment_ids else None)

    def volumes_loaded(self, nodes: list) -> None:
        """Fill empty input selectors with newly loaded volumes (sequences guessed from names)."""
        with self.state:
            self.refresh_items()
            if nodes and self._node(self.state.ds_mri) is None:
                self.state.ds_mri = nodes[0].GetID()
            for node in nodes:
                sequence = scene_items.guess_sequence(node.GetName())
                if sequence and self._node(self.state[f"ds_{sequence}"]) is None:
                    self.state[f"ds_{sequence}"] = node.GetID()

    def shown(self, node) -> None:
        """Called when the views show ``node``: keeps the 'shown volume' selector in step."""
        self._shown_id = node.GetID()
        self.state.ds_view = node.GetID()

    def _on_task(self, ds_task: str, **_) -> None:
        self.state.ds_models = self.models.names(ds_task) if ds_task in TASKS else []

    def _on_segmentation(self, ds_segmentation, **_) -> None:
        self.state.ds_segments = scene_items.segment_items(self._node(ds_segmentation))

    def _on_view(self, ds_view, **_) -> None:
        node = self._node(ds_view)
        if node is not None and ds_view != self._shown_id:
            self.show_volume(node)

    def _node(self, node_id):
        return self.scene.GetNodeByID(node_id) if node_id else None

    # ------------------------------------------------------------------------------ running

    def request(self) -> SynthesisRequest:
        """The request the panel describes (a ``ValueError`` with a sentence for a bad value)."""
        s = self.state
        spec = TASKS.get(s.ds_task)
        return SynthesisRequest(
            task=s.ds_task,
            mri=self._node(s.ds_mri),
            sequences={name: self._node(s[f"ds_{name}"]) for name in SEQUENCES},
            segmentation=self._node(s.ds_segmentation),
            segment_id=s.ds_segment or "",
            mode=s.ds_mode,
            strength=float(s.ds_strength),
            days=parse_days(s.ds_days) if spec is not None and spec.needs_days else [],
            model=self.models.resolve(s.ds_task, s.ds_model),  # a name the server offers, never a client's path
            steps=whole_number(s.ds_steps, "Steps", 0),
            seed=whole_number(s.ds_seed, "The seed", 0),
            samples=whole_number(s.ds_samples, "The number of samples", 0),
            device=s.ds_device,
            output_name=s.ds_output_name or "",
        )

    @staticmethod
    def apply_expression() -> str:
        """The client's Apply: the values on screen travel with the call, so a value typed just
        before pressing Apply is used even while the browser still holds it back (busy streaming views)."""
        return f"trigger('ds_apply', [{{ {', '.join(INPUTS)} }}])"

    def apply(self, values: dict | None = None) -> None:
        """Start the synthesis; the views and the result list update when it ends."""
        self.state.update({key: value for key, value in (values or {}).items() if key in INPUTS})
        self.state.update({"ds_error": "", "ds_info": "", "ds_info_type": "success", "ds_progress": 0, "ds_progress_text": "starting"})
        self._loop = asyncio.get_event_loop()
        try:
            job = self.logic.start(self.request(), on_progress=self._progress_from_thread)
        except ValueError as error:
            self.state.update({"ds_error": str(error), "ds_progress_text": ""})
            return
        self.state.ds_running = True
        self.task = create_task(self._finish(job))

    async def cancel(self) -> None:
        """Stop the running synthesis (the process group is stopped off the server's loop)."""
        await asyncio.get_running_loop().run_in_executor(None, self.logic.cancel)

    def shutdown(self) -> None:
        self.logic.cancel()

    def _progress_from_thread(self, progress: Progress) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._show_progress, progress)

    def _show_progress(self, progress: Progress) -> None:
        with self.state:
            self.state.ds_progress = round(100 * progress.step / max(progress.total, 1))
            self.state.ds_progress_text = progress.describe()

    async def _finish(self, job) -> None:
        await asyncio.get_running_loop().run_in_executor(None, job.wait)
        with self.state:
            try:
                nodes = self.logic.finish(job)
            except Cancelled as error:
                self.state.ds_info = str(error)
            except ValueError as error:
                self.state.ds_error = str(error)
            else:
                self._add_results(nodes)
            finally:
                self.state.update({"ds_running": False, "ds_progress_text": ""})

    # ------------------------------------------------------------------------------ results

    def _add_results(self, nodes: list) -> None:
        volumes = [node for node in nodes if results.is_volume(node)]
        rows = [results.result_row(node) for node in volumes]
        self.state.ds_results = [*self.state.ds_results, *rows]
        days = results.forecast_steps(rows)
        if days:
            self.state.ds_forecast_days = days
            self.state.ds_forecast_index = 0
        first_day = self._node(days[0][1]) if days else None
        main = first_day or next((node for node in volumes if results.kind(node) not in ("uncertainty", "labels")), None)
        if main is not None:
            self.show_volume(main)
        for node in volumes:
            if results.kind(node) == "labels":
                self.show_volume(node)  # an added tumour's sub-regions, laid over the image
        names = ", ".join(node.GetName() for node in volumes)
        warnings = Nodes.quality_warnings(volumes)
        checked = f" Quality check warned: {'; '.join(warnings)}." if warnings else ""
        self.state.ds_info_type = "warning" if warnings else "success"
        self.state.ds_info = f"Added {names}. Synthetic images: not for diagnosis.{checked}"

    def _on_forecast_index(self, ds_forecast_index, **_) -> None:
        days = self.state.ds_forecast_days or []
        if 0 <= int(ds_forecast_index or 0) < len(days):
            node = self._node(days[int(ds_forecast_index)][1])
            if node is not None:
                self.show_volume(node)

    def show_result(self, node_id: str) -> None:
        node = self._node(node_id)
        if node is not None:
            self.show_volume(node)

    async def download(self, node_id: str):
        """The node as a NIfTI attachment (``utils.download`` on the client saves it)."""
        node = self._node(node_id)
        if node is None:
            return None
        return self.server.protocol.addAttachment(results.nifti_bytes(node))
