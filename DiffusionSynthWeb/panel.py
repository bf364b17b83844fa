"""The synthesis panel: task, inputs, settings, Apply / Cancel, progress and the results.

Pure layout: every value is a ``ds_*`` state variable of :class:`~DiffusionSynthWeb.controller.SynthesisController`.
"""

from __future__ import annotations

from trame.widgets import html
from trame.widgets.vuetify3 import (
    Template,
    VAlert,
    VBtn,
    VBtnToggle,
    VCard,
    VCardText,
    VCombobox,
    VDivider,
    VExpansionPanel,
    VExpansionPanels,
    VExpansionPanelText,
    VExpansionPanelTitle,
    VList,
    VListItem,
    VProgressLinear,
    VRadio,
    VRadioGroup,
    VSelect,
    VSlider,
    VTextField,
)

SEQUENCE_LABELS = {"t1n": "T1 native (T1n)", "t1c": "T1 contrast (T1c)", "t2w": "T2 (T2w)", "t2f": "T2-FLAIR (T2f)"}
SPEC = "ds_specs[ds_task]"
FIELD = {"density": "compact", "variant": "outlined", "hide_details": "auto", "classes": "mb-2"}


class SynthesisPanel(VCard):
    """One card in the tool drawer; ``controller`` supplies Apply, Cancel, show and download."""

    def __init__(self, controller, **kwargs) -> None:
        super().__init__(variant="flat", classes="pa-2 fill-height overflow-y-auto", **kwargs)
        with self, VCardText(classes="pa-1"):
            html.Div("DiffusionSynth", classes="text-h6")
            html.Div("Every output is synthetic: not for diagnosis.", classes="text-caption text-medium-emphasis mb-2")
            VAlert(
                v_if="!ds_volumes.length",
                type="info",
                density="compact",
                classes="mb-2",
                text="Load a scan first: the file buttons at the top left (NIfTI, NRRD, MHA; files named *seg*, *mask* or *label* become segmentations).",
            )
            self._tasks()
            self._inputs()
            self._settings()
            self._run(controller)
            self._results(controller)

    def _tasks(self) -> None:
        with (
            VRadioGroup(v_model=("ds_task",), density="compact", hide_details=True, id="ds-task"),
            VRadio(v_for="t in ds_tasks", key="t.value", value=("t.value",), disabled=("!t.available",)),
            Template(v_slot_label=True),
        ):
            html.Span("{{ t.title }}", raw_attrs=[":id=\"'ds-task-' + t.value\""])
        VAlert(
            v_if="ds_tasks.find(t => t.value === ds_task && !t.available)",
            text=("ds_tasks.find(t => t.value === ds_task).reason",),
            type="info",
            density="compact",
            classes="my-2",
        )
        VDivider(classes="my-2")

    def _inputs(self) -> None:
        VSelect(v_if=f"{SPEC}.mri", label="MR volume", v_model=("ds_mri",), items=("ds_volumes",), id="ds-mri", **FIELD)
        with html.Div(v_if=f"{SPEC}.sequences"):
            html.Div("MR sequences (leave the missing ones empty)", v_if="ds_task === 'impute'", classes="text-caption mb-1")
            for name, label in SEQUENCE_LABELS.items():
                VSelect(label=label, v_model=(f"ds_{name}",), items=("ds_volumes",), clearable=True, id=f"ds-{name}", **FIELD)
        with html.Div(v_if=f"{SPEC}.segment"):
            html.Div("Mask: draw it with the segment editor (brush button on the left)", classes="text-caption mb-1")
            VSelect(label="Segmentation", v_model=("ds_segmentation",), items=("ds_segmentations",), id="ds-segmentation", **FIELD)
            VSelect(label="Segment (mask)", v_model=("ds_segment",), items=("ds_segments",), id="ds-segment", **FIELD)
        with html.Div(v_if=f"{SPEC}.mode", classes="mb-2"):
            with VBtnToggle(v_model=("ds_mode",), mandatory=True, density="compact", variant="outlined", divided=True):
                VBtn("Remove lesion", value="remove", id="ds-mode-remove")
                VBtn("Add lesion", value="add", id="ds-mode-add")
            VSlider(label="Strength", v_model=("ds_strength",), min=0.0, max=3.0, step=0.1, thumb_label=True, hide_details=True)
        VTextField(v_if=f"{SPEC}.days", label="Days to forecast", v_model=("ds_days",), id="ds-days", **FIELD)

    def _settings(self) -> None:
        with VExpansionPanels(variant="accordion", classes="mb-2"), VExpansionPanel():
            VExpansionPanelTitle("Settings", id="ds-settings")
            with VExpansionPanelText():
                VCombobox(label="Model (one of the list; empty: default)", v_model=("ds_model",), items=("ds_models",), id="ds-model", **FIELD)
                VTextField(label="Steps (empty: the model's)", v_model=("ds_steps",), id="ds-steps", **FIELD)
                VTextField(label="Seed", v_model=("ds_seed",), id="ds-seed", **FIELD)
                VTextField(label="Samples (0: deterministic estimate)", v_model=("ds_samples",), id="ds-samples", **FIELD)
                VSelect(label="Device", v_model=("ds_device",), items=("['auto', 'cpu', 'cuda']",), id="ds-device", **FIELD)
                VTextField(label="Output name (optional)", v_model=("ds_output_name",), id="ds-output-name", **FIELD)

    def _run(self, controller) -> None:
        with html.Div(classes="d-flex ga-2 mb-2"):
            VBtn(
                "Apply",
                color="primary",
                click=controller.apply_expression(),
                id="ds-apply",
                prepend_icon="mdi-play",
                disabled=("ds_running || !ds_tasks.find(t => t.value === ds_task)?.available",),
            )
            VBtn("Cancel", click=controller.cancel, disabled=("!ds_running",), id="ds-cancel", prepend_icon="mdi-stop")
        VProgressLinear(v_show="ds_running", model_value=("ds_progress",), height=8, color="primary", rounded=True, id="ds-progress")
        html.Div("{{ ds_progress_text }}", v_show="ds_running", classes="text-caption", id="ds-progress-text")
        VAlert(v_if="ds_error", text=("ds_error",), type="error", density="compact", classes="my-2", id="ds-error")
        VAlert(v_if="ds_info", text=("ds_info",), type=("ds_info_type",), density="compact", classes="my-2", id="ds-info")
        VAlert(v_if="ds_load_message", text=("ds_load_message",), type="warning", density="compact", classes="my-2")

    def _results(self, controller) -> None:
        VDivider(classes="my-2")
        VSelect(label="Volume shown in the views", v_model=("ds_view",), items=("ds_volumes",), id="ds-view", **FIELD)
        with html.Div(v_if="ds_forecast_days.length > 1"):
            html.Div("Forecast: day {{ ds_forecast_days[ds_forecast_index][0] }}", classes="text-caption")
            VSlider(
                v_model=("ds_forecast_index",),
                min=0,
                max=("ds_forecast_days.length - 1",),
                step=1,
                show_ticks="always",
                hide_details=True,
                id="ds-forecast-day",
            )
        html.Div("Results", v_if="ds_results.length", classes="text-subtitle-2")
        with (
            VList(density="compact", v_if="ds_results.length", id="ds-results"),
            VListItem(v_for="r in ds_results", key="r.id", title=("r.name",), subtitle=("r.kind",), classes="ds-result"),
            Template(v_slot_append=True),
        ):
            VBtn(icon="mdi-eye", size="small", variant="text", click=(controller.show_result, "[r.id]"), classes="ds-show")
            VBtn(
                icon="mdi-download",
                size="small",
                variant="text",
                classes="ds-download",
                click="utils.download(r.name.replace(/[^A-Za-z0-9._-]+/g, '_') + '.nii.gz', trigger('ds_download', [r.id]), 'application/gzip')",
            )
