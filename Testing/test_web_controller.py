"""The web app's synthesis panel without a browser: the same app object, driven through its state.

Covers what the browser tests do not: the sequence selectors filled from file names, imputation
run through the panel, a refused request shown as a sentence, Cancel, and the forecast time slider.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

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


def offer(app, package: Path) -> str:
    """Let the page offer ``package`` (as ``serve --models-dir`` does); returns the name a client chooses it by."""
    from DiffusionSynthWeb.model_choices import ModelChoices

    app.synthesis.models = ModelChoices([package])
    return package.name


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

    run(app, {"ds_task": "impute", "ds_model": offer(app, tiny_impute_model), "ds_steps": "2", "ds_seed": "4"})

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
        for day in (180, 30)
        for series in ("t1c", "tumour_mask")
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
        app.synthesis.apply({"ds_task": "mri-to-ct", "ds_model": offer(app, tiny_model), "ds_steps": "500", "ds_samples": "1"})
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


def test_the_model_field_takes_only_names_the_server_offers(app, tmp_path):
    from DiffusionSynthWeb.model_choices import ModelChoices

    state = app.server.state
    state.ds_task = "mri-to-ct"
    messages = set()
    for name in ("/etc", "/no/such/folder", str(tmp_path), "../../etc/passwd", "mri-to-ct-demo/../.."):
        run(app, {"ds_task": "mri-to-ct", "ds_model": name})
        assert state.ds_error and not state.ds_running and state.ds_results == []
        messages.add(state.ds_error)
    [message] = messages  # the same sentence whether the path exists or not: it says nothing of the server's files
    assert "/" not in message.replace(" / ", "") and str(tmp_path) not in message

    folder = tmp_path / "models"
    (folder / "my-ct").mkdir(parents=True)
    (folder / "my-ct" / "model.json").write_text('{"task": "mri-to-ct"}')
    (folder / "my-impute").mkdir()
    (folder / "my-impute" / "model.json").write_text('{"task": "impute"}')
    app.synthesis.models = ModelChoices([folder])
    app.synthesis._on_task("mri-to-ct")
    assert "my-ct" in state.ds_models and "my-impute" not in state.ds_models
    state.ds_model = "my-ct"
    assert app.synthesis.request().model == str((folder / "my-ct").resolve())  # the server turns the name into its folder
    state.ds_model = "my-impute"
    with pytest.raises(ValueError, match="Choose a model this server offers"):
        app.synthesis.request()
    for builtin in app.synthesis.models.names("mri-to-ct"):
        state.ds_model = builtin
        assert app.synthesis.request().model in (builtin, str((folder / builtin).resolve()))


def upload(app, files: list[dict]) -> None:
    """What the page's 'Open Files' button does: chunks through its trigger, then the empty end marker."""
    button = app.page.load_buttons.load_volume_files_button

    async def send():
        await button.load_chunk(files)
        await button.load_chunk([])

    asyncio.run(send())


def test_upload_names_cannot_write_outside_the_upload_folder(app, small_mri, tmp_path):
    root = tmp_path / "uploads" / "deeper"
    root.mkdir(parents=True)
    app.viewer.upload_root = root
    content = small_mri.read_bytes()
    unique = f"ds-upload-{uuid.uuid4().hex}"
    names = [f"../../{unique}-a.nii.gz", f"/tmp/{unique}-b.nii.gz", f"..\\..\\{unique}-c.nii.gz", "../..", "/etc/passwd", ".nii.gz"]

    upload(app, [{"name": name, "content": content, "size": len(content), "type": "application/gzip"} for name in names])

    state = app.server.state
    volume_names = sorted(item["title"] for item in state.ds_volumes)
    assert volume_names == sorted(f"{unique}-{x}" for x in "abc"), volume_names  # loaded under their base names
    for name in ("../..", "/etc/passwd", ".nii.gz"):
        assert name in state.ds_load_message  # refused, and said so
    escaped = [*tmp_path.rglob(f"{unique}*"), *Path("/tmp").glob(f"{unique}*"), *Path("/").glob(f"{unique}*")]
    assert escaped == []
    assert list(root.iterdir()) == []  # the upload's temporary folder is gone after loading


def test_an_upload_whose_header_names_another_file_is_refused(app, tmp_path):
    secret = tmp_path / "server-only.raw"
    secret.write_bytes(bytes(range(256)) * 8)
    header = f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 8 16 16\nencoding: raw\ndata file: {secret}\n\n".encode()
    mha = f"ObjectType = Image\nNDims = 3\nDimSize = 8 16 16\nElementType = MET_UCHAR\nElementDataFile = {secret}\n".encode()
    app.viewer.upload_root = tmp_path
    upload(app, [{"name": "scan.nrrd", "content": header}, {"name": "scan.mha", "content": mha}])
    state = app.server.state
    assert state.ds_volumes == [] and "scan.nrrd" in state.ds_load_message and "scan.mha" in state.ds_load_message


def test_an_upload_over_the_size_limit_is_refused_and_not_written(tmp_path):
    """``write_uploads`` refuses a file larger than its limit (named with the limit) and writes the others."""
    from DiffusionSynthWeb.uploads import write_uploads

    small, large = b"x" * 100, b"y" * 5000
    written = write_uploads([{"name": "a.nii.gz", "content": small}, {"name": "b.nii.gz", "content": large}], tmp_path, max_bytes=1000)
    assert [p.name for p in written.paths] == ["a.nii.gz"] and len(written.refused) == 1 and written.refused[0].startswith("b.nii.gz (over")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz"]
