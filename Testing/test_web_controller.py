"""The web app's synthesis panel without a browser: the same app object, driven through its state.

Covers what the browser tests do not: the sequence selectors filled from file names, imputation
run through the panel, a refused request shown as a sentence, Cancel, and the forecast time slider.
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np
import pytest

pytest.importorskip("trame_slicer", reason="the web extra is not installed (pip install -e '.[web]')")

from DiffusionSynthLib.volume import read_provenance

CASE = "BraTS-GLI-00001-000"


@pytest.fixture
def app(tmp_path):
    from DiffusionSynthSlicerLib.Logic import SynthesisLogic
    from DiffusionSynthSlicerLib.Process import ProcessRunner
    from trame.app import get_server

    from DiffusionSynthWeb.app import DiffusionSynthApp
    from DiffusionSynthWeb.server import configure_rendering

    configure_rendering()
    server = get_server(f"test-{tmp_path.name}", client_type="vue3")
    logic = SynthesisLogic(ProcessRunner(python=sys.executable, grace_s=3.0), temp_root=tmp_path)
    app = DiffusionSynthApp(server, logic=logic)
    yield app
    app.shutdown()


def run(app, values: dict) -> None:
    async def apply_and_wait():
        app.synthesis.apply(values)
        if app.synthesis.task is not None:
            await app.synthesis.task

    asyncio.run(apply_and_wait())


def node(app, node_id):
    return app.slicer_app.scene.GetNodeByID(node_id)


def test_impute_the_missing_sequence_through_the_panel(app, brain_cases, tiny_impute_model, tmp_path):
    from DiffusionSynthSlicerLib import Nodes

    from DiffusionSynthWeb import results

    folder = tmp_path / "three"
    folder.mkdir()
    for name in ("t1n", "t1c", "t2w"):  # the FLAIR is missing
        (folder / f"{name}.nii.gz").symlink_to(brain_cases / CASE / f"{name}.nii.gz")
    app.load_folder(folder)
    state = app.server.state
    assert [node(app, state[f"ds_{name}"]).GetName() for name in ("t1n", "t1c", "t2w")] == ["t1n", "t1c", "t2w"]
    assert state.ds_t2f is None

    run(app, {"ds_task": "impute", "ds_model": str(tiny_impute_model), "ds_steps": "2", "ds_seed": "4"})

    assert state.ds_error == "" and not state.ds_running
    [row] = state.ds_results
    imputed = node(app, row["id"])
    assert row["name"].endswith("t2f") and row["kind"] == "synthetic"
    reference = node(app, state.ds_t1n)
    assert imputed.GetImageData().GetDimensions() == reference.GetImageData().GetDimensions()
    assert np.allclose(Nodes.ijk_to_ras(imputed), Nodes.ijk_to_ras(reference))
    assert state.ds_view == row["id"]  # the result is what the views show
    path = tmp_path / "download.nii.gz"
    path.write_bytes(results.nifti_bytes(imputed))
    record = read_provenance(path)
    assert record["synthetic"] is True and record["task"] == "impute" and record["seed"] == 4


def test_a_refused_request_is_a_sentence_in_the_panel(app, brain_cases):
    app.load_folder(brain_cases / CASE)  # four sequences and a mask file (loaded as a segmentation)
    state = app.server.state
    assert [item["title"] for item in state.ds_segmentations] == ["inpainting_mask"]
    run(app, {"ds_task": "impute"})  # all four selected: nothing to impute
    assert "none is missing" in state.ds_error and state.ds_results == [] and not state.ds_running
    run(app, {"ds_task": "mri-to-ct", "ds_steps": "many"})
    assert "Steps must be a whole number" in state.ds_error


def test_forecast_outputs_become_a_time_slider(app, brain_cases):
    from DiffusionSynthSlicerLib.Nodes import add_output_node, volume_from_node

    app.load_folder(brain_cases / CASE)
    state = app.server.state
    t1c = node(app, state.ds_t1c)
    volume = volume_from_node(t1c, "t1c")
    made = [
        add_output_node(t1c, volume, f"t1c forecast {series}_day{day:03d}", "forecast", {"task": "forecast"}, {}, "synthetic")
        for day in (180, 30) for series in ("t1c", "tumour_mask")
    ]
    with state:
        app.synthesis._add_results(made)
    assert [day for day, _ in state.ds_forecast_days] == [30, 180]
    assert state.ds_view == state.ds_forecast_days[0][1]
    app.synthesis._on_forecast_index(1)
    assert state.ds_view == state.ds_forecast_days[1][1]


def test_cancel_stops_the_run_and_adds_nothing(app, small_mri, tiny_model, tmp_path):
    folder = tmp_path / "mr"
    folder.mkdir()
    (folder / "head.nii.gz").symlink_to(small_mri)
    app.load_folder(folder)
    state = app.server.state
    volumes_before = len(state.ds_volumes)

    async def start_then_cancel():
        app.synthesis.apply({"ds_task": "mri-to-ct", "ds_model": str(tiny_model), "ds_steps": "500"})
        for _ in range(600):  # the first progress line from the command (a thread), then cancel
            if "step" in state.ds_progress_text:
                break
            await asyncio.sleep(0.1)
        assert state.ds_running
        await app.synthesis.cancel()
        await app.synthesis.task

    asyncio.run(start_then_cancel())
    assert not state.ds_running and state.ds_results == [] and "Cancelled" in state.ds_info
    assert len(state.ds_volumes) == volumes_before and list(tmp_path.glob("DiffusionSynth-*")) == []
