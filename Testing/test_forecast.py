"""Tumour growth forecasting on the real longitudinal glioblastoma patients: task, command line, training, bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.errors import InputError
from DiffusionSynthLib.growth.calibrate import dice
from DiffusionSynthLib.growth.longitudinal import (
    ASSUMED_SPACING_MM,
    load_case,
    register_followup,
    with_spacing,
)
from DiffusionSynthLib.intensity import head_mask_mr
from DiffusionSynthLib.models import builtin_models, load_model, resolve_model
from DiffusionSynthLib.tasks.forecast import check_days, day_name, forecast, spacing_warning, volume_curve
from DiffusionSynthLib.tasks.forecast_render import day_plan
from DiffusionSynthLib.volume import Volume, read_provenance, read_volume, write_volume

from conftest import DATA, rotation
from reoriented import stored_as

PROGRESSION = DATA / "tumour_progression"
PATIENT = "02"  # small tumour, 63 days to its follow-up


@pytest.fixture(scope="session")
def progression():
    if not (PROGRESSION / PATIENT / "Pre_Scan_T1.nii.gz").is_file():
        pytest.skip(f"longitudinal data not found at {PROGRESSION} (set DIFFUSIONSYNTH_DATA)")
    return PROGRESSION


@pytest.fixture(scope="module")
def case(progression):
    return load_case(progression / PATIENT, 63)  # spacing assumed (the headers lost it)


@pytest.fixture(scope="module")
def model():
    return resolve_model("forecast-gbm-demo", "forecast")


@pytest.fixture(scope="module")
def days_7_90_1200(case, model):
    return forecast({"t1c": case.baseline}, case.baseline_mask, [1200, 7, 90], model)


# ------------------------------------------------------------------------------ the task


def test_masks_grow_on_the_input_grid(case, model, days_7_90_1200):
    result = days_7_90_1200
    baseline = case.baseline_mask.array > 0
    assert sorted(result.masks) == [7, 90, 1200] and not result.images and not result.probability
    volumes = []
    for mask in result.masks.values():
        assert mask.same_grid(case.baseline) and mask.array.dtype == np.uint8 and set(np.unique(mask.array)) <= {0, 1}
        volumes.append(int(mask.array.sum()))
    curve = volume_curve(model)
    assert volumes[0] < volumes[1]  # the calibrated tumour grows
    if curve is not None and curve.plateau_days is not None and curve.plateau_days <= 90:
        assert abs(volumes[2] - volumes[1]) <= 0.02 * volumes[1]  # the volume curve has levelled off: the volume holds
    else:
        assert volumes[1] < volumes[2]
    assert dice(result.masks[7].array > 0, baseline) > 0.85  # a week changes little
    head = head_mask_mr(case.baseline)
    assert not np.any((result.masks[1200].array > 0) & ~head)  # never outside the head
    assert result.physics_spacing == pytest.approx(ASSUMED_SPACING_MM)


def test_oblique_grid_gives_the_same_forecast_on_that_grid(case, model, days_7_90_1200):
    """The same head turned in the world (not mirrored: ``oblique`` alone would turn the LPS array into a mirrored RAS head)."""
    turn = np.eye(4)
    turn[:3, :3] = rotation(2, 17) @ rotation(0, -11)
    tilted = Volume(case.baseline.array, turn @ case.baseline.ijk_to_ras)
    tilted_mask = Volume(case.baseline_mask.array, turn @ case.baseline_mask.ijk_to_ras)
    result = forecast({"t1c": tilted}, tilted_mask, [90], model)
    assert result.masks[90].same_grid(tilted) and np.allclose(result.masks[90].ijk_to_ras, tilted.ijk_to_ras)
    assert dice(result.masks[90].array > 0, days_7_90_1200.masks[90].array > 0) > 0.995  # physics in mm, not in the axes


def test_the_physics_reads_millimetres_from_the_header(case, model, days_7_90_1200, progression):
    lost = read_volume(progression / PATIENT / "Pre_Scan_T1.nii.gz")  # the header says 1 x 1 x 1 mm
    lost_mask = read_volume(progression / PATIENT / "Pre_Mask.nii.gz")
    as_header = forecast({"t1c": lost}, lost_mask, [90], model).masks[90].array
    assumed = forecast({"t1c": lost}, lost_mask, [90], model, spacing=ASSUMED_SPACING_MM).masks[90]
    assert assumed.same_grid(lost)  # outputs stay on the input grid, whatever the physics assumed
    np.testing.assert_array_equal(assumed.array, days_7_90_1200.masks[90].array)
    assert dice(as_header > 0, assumed.array > 0) < 0.95  # 1 mm slices instead of 5 mm: another forecast


def test_the_same_head_stored_in_another_voxel_order_gives_the_same_forecast(model, progression):
    """Header spacing 1x1x1 (no thickest axis): the tissue classes work on RAS-ordered slices, whatever the file's order."""
    t1c = read_volume(progression / PATIENT / "Pre_Scan_T1.nii.gz")
    mask = read_volume(progression / PATIENT / "Pre_Mask.nii.gz")
    stored = forecast({"t1c": t1c}, mask, [60], model).masks[60]
    pir = forecast({"t1c": stored_as(t1c, "PIR")}, stored_as(mask, "PIR"), [60], model).masks[60]
    assert pir.shape == (t1c.shape[1], t1c.shape[2], t1c.shape[0]) and np.array_equal(pir.ijk_to_ras, stored_as(t1c, "PIR").ijk_to_ras)
    back = stored_as(pir, "LPS")
    assert back.same_grid(stored) and stored.array.sum() > 500
    np.testing.assert_array_equal(back.array, stored.array)


def test_samples_give_a_seeded_probability(case, model):
    a = forecast({"t1c": case.baseline}, case.baseline_mask, [90], model, samples=3, seed=1)
    b = forecast({"t1c": case.baseline}, case.baseline_mask, [90], model, samples=3, seed=1)
    c = forecast({"t1c": case.baseline}, case.baseline_mask, [90], model, samples=3, seed=2)
    p = a.probability[90]
    assert p.same_grid(case.baseline) and p.array.dtype == np.float32
    assert set(np.round(np.unique(p.array) * 3, 5)) <= {0, 1, 2, 3}
    np.testing.assert_array_equal(p.array, b.probability[90].array)
    assert not np.array_equal(p.array, c.probability[90].array)
    np.testing.assert_array_equal(a.masks[90].array, c.masks[90].array)  # the mask itself is the calibrated one
    core = ndimage.binary_erosion(case.baseline_mask.array > 0)
    assert p.array[core].mean() > 0.9 and p.array[ndimage.binary_dilation(a.masks[90].array > 0, iterations=25) == 0].max() == 0


def test_days_and_mask_checks(case, model):
    assert check_days(["90", 7, "7", "+1200"]) == [7, 90, 1200]
    assert [day_name(d) for d in (7, 90, 1200)] == ["day007", "day090", "day1200"]
    for bad in (0, -5, 3651, "abc", "1.5", ""):
        with pytest.raises(InputError, match="from 1 to 3650"):
            check_days([bad])
    empty = case.baseline_mask.with_array(np.zeros(case.baseline.shape, np.uint8))
    with pytest.raises(InputError, match="no tumour"):
        forecast({"t1c": case.baseline}, empty, [30], model)
    shifted = Volume(case.baseline_mask.array, case.baseline_mask.ijk_to_ras.copy())
    shifted.ijk_to_ras[:3, 3] += 2.0
    with pytest.raises(InputError, match="another grid"):
        forecast({"t1c": case.baseline}, shifted, [30], model)
    head = head_mask_mr(case.baseline)
    with pytest.raises(InputError, match="outside the head"):
        forecast({"t1c": case.baseline}, case.baseline_mask.with_array((~head).astype(np.uint8)), [30], model)
    with pytest.raises(InputError, match="% of the head"):
        forecast({"t1c": case.baseline}, case.baseline_mask.with_array(head.astype(np.uint8)), [30], model)
    with pytest.raises(InputError, match="needs the contrast-enhanced T1"):
        forecast({"t2w": case.baseline}, case.baseline_mask, [30], model)


def test_registration_aligns_the_follow_up(progression):
    patient = load_case(progression / "04", 29)
    registered = register_followup(patient)
    baseline = patient.baseline_mask.array > 0
    before = dice(baseline, patient.followup_mask.array > 0)
    after = dice(baseline, registered.mask.array > 0)
    assert after > before + 0.05  # the table says 'registered'; it was not
    assert registered.rotation_deg > 2.0 and registered.overlap.any()
    assert not registered.overlap[:, :, 20:].any()  # the padding slices are no data


# ------------------------------------------------------------------------------ the package and training


def test_builtin_package_has_no_network_and_a_complete_card():
    rows = [row for row in builtin_models() if row["task"] == "forecast"]
    assert [row["id"] for row in rows] == ["forecast-gbm-demo"]
    package = load_model(rows[0]["path"], "forecast")
    assert package.networks == {} and package.weights_sha256 == {}
    assert package.config["render"]["inpaint_model"] == "inpaint-brats-demo"
    growth = package.config["growth"]
    assert growth["assumed_spacing_mm"] == list(ASSUMED_SPACING_MM) and growth["parameters"]["diffusivity_white"] > 0
    card = (package.path / "MODEL_CARD.md").read_text()
    for text in (
        "Leave-one-patient-out",
        "no change",
        "isotropic",
        "CC BY 3.0",
        "10.7937/K9/TCIA.2018.15quzvnb",
        "diffusionsynth train --task forecast --data ../shared/data/tumour_progression",
        "0.86 x 0.86 x 5",
    ):
        assert text in card, text
    assert len(package.config["training"]["leave_one_out"]) == 9


@pytest.fixture(scope="module")
def three_patients(progression, tmp_path_factory) -> Path:
    """Patients 07-09 of the progression data in a folder of one's own, with a README stating made-up terms."""
    folder = tmp_path_factory.mktemp("data") / "my progression"
    folder.mkdir()
    lines = (progression / "scans.csv").read_text().splitlines()
    kept = ("07", "08", "09")
    (folder / "scans.csv").write_text("\n".join([lines[0], *(line for line in lines[1:] if line.split(",")[0] in kept)]) + "\n")
    for patient in kept:
        shutil.copytree(progression / patient, folder / patient)
    (folder / "README.md").write_text("# Three patients\n\nScans of three patients.\nLicence: the Example Terms 1.0, for testing.\n")
    return folder


def test_train_calibrates_on_the_patients_left_in_and_writes_its_card_from_them(three_patients, tmp_path, capsys):
    output = tmp_path / "two-patients"
    args = ["train", "--task", "forecast", "--data", str(three_patients), "--output", str(output), "--exclude-case", "07", "--licence", "CC-BY-4.0"]
    assert main(args) == 0
    package = load_model(output, "forecast")
    training = package.config["training"]
    assert training["data"] == ["08", "09"] and [r["patient"] for r in training["leave_one_out"]] == ["08", "09"]
    assert package.config["growth"]["parameters"]["diffusivity_white"] in training["grid"]["diffusivity_white"]
    # the card and the terms come from the data given, not from a template about the shared collection
    assert package.config["licence"] == "CC-BY-4.0" and "Example Terms 1.0" in package.config["data_terms"]
    card = (output / "MODEL_CARD.md").read_text()
    for text in ("| 08 | 58 |", "2 patients", str(three_patients), "08, 09", "08: slices removed [[21,22],[1,22]]", "Example Terms 1.0", "CC-BY-4.0"):
        assert text in card, text
    for text in ("nine", "CC BY 3.0", "Schmainda", "shared/data/tumour_progression"):  # what the old template claimed whatever the data
        assert text not in card, text
    capsys.readouterr()
    assert main(["train", "--task", "forecast", "--data", str(three_patients), "--output", str(tmp_path / "x"), "--exclude-case", "99"]) == 2
    assert "not a patient" in capsys.readouterr().err and not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------ the command line


@pytest.fixture(scope="module")
def files(progression, tmp_path_factory):
    """The patient's original files (headers saying 1 mm), a mask on another grid, an empty mask, garbage."""
    folder = tmp_path_factory.mktemp("forecast inputs")
    t1c, mask = PROGRESSION / PATIENT / "Pre_Scan_T1.nii.gz", PROGRESSION / PATIENT / "Pre_Mask.nii.gz"
    volume = read_volume(mask)
    other = with_spacing(volume, (1.0, 1.0, 2.0))
    paths = {
        "t1c": t1c,
        "mask": mask,
        "other grid": write_volume(other, folder / "mask other grid.nii.gz"),
        "empty": write_volume(volume.with_array(np.zeros(volume.shape, np.uint8)), folder / "empty mask.nii.gz"),
    }
    paths["garbage"] = folder / "garbage.nii.gz"
    paths["garbage"].write_bytes(b"this is not an image" * 50)
    return paths


def test_command_writes_every_day_with_images_and_probability(files, tiny_inpaint_model, tmp_path, capsys):
    out = tmp_path / "forecast"
    code = main(
        [
            "forecast",
            "--t1c",
            str(files["t1c"]),
            "--tumour-mask",
            str(files["mask"]),
            "--days",
            "90",
            "7",
            "--output-dir",
            str(out),
            "--inpaint-model",
            str(tiny_inpaint_model),
            "--steps",
            "1",
            "--samples",
            "2",
            "--assume-spacing",
            "0.86",
            "0.86",
            "5",
            "--progress",
            "json",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "forecast --samples is deprecated" in notes[0] and "--growth-runs 2" in notes[0]  # still two growth runs
    expected = {f"{name}_{day}.nii.gz" for name in ("tumour_mask", "t1c", "tumour_probability") for day in ("day007", "day090")}
    assert {p.name for p in out.iterdir()} == expected
    progress = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert progress[-1]["progress"] == progress[-1]["total"] and progress[-1]["message"] == "done"
    source = read_volume(files["t1c"])
    baseline = read_volume(files["mask"]).array > 0
    for day in ("day007", "day090"):
        mask, image = read_volume(out / f"tumour_mask_{day}.nii.gz"), read_volume(out / f"t1c_{day}.nii.gz")
        assert mask.same_grid(source) and image.same_grid(source) and image.array.dtype == source.array.dtype
        grown = mask.array > 0
        far = ~day_plan(baseline, grown, (0.86, 0.86, 5.0)).changed(baseline.shape)  # beyond the growth's reach and the blend
        np.testing.assert_array_equal(image.array[far], source.array[far])  # away from the change: the input, bit for bit
        record = read_provenance(out / f"t1c_{day}.nii.gz")
        assert record["task"] == "forecast" and record["day"] == int(day[3:]) and record["physics_spacing_mm"] == [0.86, 0.86, 5.0]
        assert record["inpaint_model"] == "tiny-inpaint" and record["synthetic"] is True
        assert record["tumour_mask"] == "Pre_Mask.nii.gz" and str(PROGRESSION) not in json.dumps(record)  # file names, never paths
        assert record["steps"] == 0  # the images are the inpainting's deterministic estimate: no denoising step ran (--steps 1 notwithstanding)
    assert read_volume(out / "t1c_day090.nii.gz").array[(read_volume(out / "tumour_mask_day090.nii.gz").array > 0) & ~baseline].size > 0


BAD = {
    "empty mask": (["--tumour-mask", "{empty}", "--days", "30"], "no tumour"),
    "day 0": (["--tumour-mask", "{mask}", "--days", "0"], "from 1 to 3650"),
    "negative day": (["--tumour-mask", "{mask}", "--days", "30", "-5"], "from 1 to 3650"),
    "absurd day": (["--tumour-mask", "{mask}", "--days", "3651"], "from 1 to 3650"),
    "not a number": (["--tumour-mask", "{mask}", "--days", "abc"], "from 1 to 3650"),
    "mask on another grid": (["--tumour-mask", "{other grid}", "--days", "30"], "another grid"),
    "mask not an image": (["--tumour-mask", "{garbage}", "--days", "30"], "could not be read as an image"),
    "bad spacing": (["--tumour-mask", "{mask}", "--days", "30", "--assume-spacing", "1", "0", "x"], "--assume-spacing"),
    "too many growth runs": (["--tumour-mask", "{mask}", "--days", "30", "--growth-runs", "65"], "between 1 and 64"),
}


@pytest.mark.parametrize("case_name", list(BAD))
def test_bad_inputs_give_one_error_line_and_no_output(case_name, files, tmp_path, capsys):
    args, message = BAD[case_name]
    out = tmp_path / "forecast"
    argv = ["forecast", "--t1c", str(files["t1c"]), "--output-dir", str(out), "--progress", "none", *[a.format(**files) for a in args]]
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not out.exists()


def test_missing_t1c_is_refused(files, tmp_path, capsys):
    argv = ["forecast", "--t2w", str(files["t1c"]), "--tumour-mask", str(files["mask"]), "--days", "30", "--output-dir", str(tmp_path / "o")]
    assert main(argv) == 2 and "needs the contrast-enhanced T1" in capsys.readouterr().err


def test_a_header_that_lost_the_slice_thickness_gets_a_warning_naming_assume_spacing(files, tmp_path, capsys):
    lost = read_volume(files["t1c"])  # 256 x 256 x 24 voxels said to be 1 mm: a head 24 mm thick
    warning = spacing_warning(lost, "T1c image")
    assert warning is not None and "--assume-spacing" in warning and "256 x 256 x 24 mm" in warning
    assert spacing_warning(with_spacing(lost, (0.86, 0.86, 5.0)), "T1c image") is None  # the real voxel size: no warning
    brain = read_volume(DATA / "brain_tumour_mri" / "BraTS-GLI-00001-000" / "t1c.nii.gz")
    assert spacing_warning(brain, "T1c image") is None  # 240 x 240 x 155 mm at 1 mm
    argv = ["forecast", "--t1c", str(files["t1c"]), "--tumour-mask", str(files["mask"]), "--days", "30", "--output-dir", str(tmp_path / "o")]
    assert main([*argv, "--inpaint-model", str(tmp_path / "no such model"), "--progress", "none"]) == 3  # stops after the warning
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: The T1c image") and "--assume-spacing" in err[0] and err[-1].startswith("error: ")
    main([*argv, "--assume-spacing", "0.86", "0.86", "5", "--inpaint-model", str(tmp_path / "no such model"), "--progress", "none"])
    assert "warning" not in capsys.readouterr().err  # the user gave the voxel size
