"""Missing-sequence imputation on real BraTS data with a tiny trained model."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.errors import InputError, ModelError
from DiffusionSynthLib.models import load_model
from DiffusionSynthLib.tasks.impute import impute
from DiffusionSynthLib.volume import read_provenance, read_volume

from conftest import SEQUENCE_NAMES, gated_variants, oblique

CASE = "BraTS-GLI-00001-000"


@pytest.fixture(scope="module")
def volumes(brain_cases):
    return {name: read_volume(brain_cases / CASE / f"{name}.nii.gz") for name in SEQUENCE_NAMES}


@pytest.fixture(scope="module")
def model(tiny_impute_model):
    return load_model(tiny_impute_model, "impute")


SUBSETS = [set(c) for r in (1, 2, 3) for c in itertools.combinations(SEQUENCE_NAMES, r)]


@pytest.mark.parametrize("given", SUBSETS, ids=lambda g: "+".join(sorted(g)))
def test_every_subset_fills_exactly_the_missing_sequences(volumes, model, given):
    inputs = {name: volumes[name] if name in given else None for name in SEQUENCE_NAMES}
    result = impute(inputs, model, steps=1)
    assert set(result.outputs) == set(SEQUENCE_NAMES) - given
    reference = next(name for name in SEQUENCE_NAMES if name in given)
    assert result.reference == reference
    for volume in result.outputs.values():
        assert volume.same_grid(volumes[reference]) and volume.array.dtype == np.float32
        assert np.isfinite(volume.array).all()
        brain = volumes[reference].array != 0
        assert (volume.array[~brain] == 0).all() and volume.array[brain].std() > 0


def test_inputs_on_different_grids_land_on_the_first_given(volumes, model):
    moved = oblique(volumes["t2w"], spacing=(2.5, 3.5, 3.0), origin=(-100.0, -110.0, -60.0))
    result = impute({"t1n": None, "t1c": volumes["t1c"], "t2w": moved, "t2f": None}, model, steps=1)
    assert result.reference == "t1c"
    assert all(v.same_grid(volumes["t1c"]) for v in result.outputs.values())


def test_seed_determinism_and_samples(volumes, model):
    inputs = {"t1n": volumes["t1n"], "t1c": None, "t2w": None, "t2f": None}
    a = impute(inputs, model, steps=2, seed=4, samples=1).outputs["t2f"].array
    b = impute(inputs, model, steps=2, seed=4, samples=1).outputs["t2f"].array
    c = impute(inputs, model, steps=2, seed=5, samples=1).outputs["t2f"].array
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    two = impute(inputs, model, steps=1, samples=2)
    assert set(two.std) == {"t1c", "t2w", "t2f"}


def test_the_default_is_the_prior_plus_network_estimate(volumes, model):
    """No sampling by default: the same estimate whatever the seed, and it follows the package's prior."""
    from DiffusionSynthLib.priors.regression import zscore

    inputs = {"t1n": volumes["t1n"], "t1c": volumes["t1c"], "t2w": volumes["t2w"], "t2f": None}
    first, second = impute(inputs, model, seed=1), impute(inputs, model, seed=2)
    assert first.samples == 0 and first.steps == 0 and not first.std
    np.testing.assert_array_equal(first.outputs["t2f"].array, second.outputs["t2f"].array)
    brain = volumes["t2f"].array != 0
    real, made = zscore(volumes["t2f"].array, brain)[brain], first.outputs["t2f"].array[brain]
    assert np.corrcoef(real, made)[0, 1] > 0.5  # the regression from three sequences already explains most of FLAIR


def test_a_configuration_whose_network_lost_to_the_prior_is_answered_by_the_prior(volumes, model):
    """Training lists the configurations where the network did not beat the prior on the validation case
    (``refiner.prior_only``): those get the prior alone, every other missing sequence the network's correction."""
    inputs = {"t1n": volumes["t1n"], "t1c": volumes["t1c"], "t2w": None, "t2f": None}
    ungated, gated, prior_alone = gated_variants(model, ["t1n,t1c->t2w"])
    full, gate, prior = (impute(inputs, package).outputs for package in (ungated, gated, prior_alone))
    assert not np.array_equal(full["t2w"].array, prior["t2w"].array)  # the network does correct this one
    np.testing.assert_array_equal(gate["t2w"].array, prior["t2w"].array)
    np.testing.assert_array_equal(gate["t2f"].array, full["t2f"].array)


def test_the_network_is_not_run_for_a_configuration_answered_by_the_prior_alone(volumes, model):
    """Where every missing sequence is answered by the prior, the network never runs (it costs most of the time)."""
    inputs = {"t1n": volumes["t1n"], "t1c": volumes["t1c"], "t2w": None, "t2f": None}
    _, gated, _ = gated_variants(model, ["t1n,t1c->t2w", "t1n,t1c->t2f"])
    _, half, _ = gated_variants(model, ["t1n,t1c->t2w"])
    for package, expected in ((gated, 0), (half, 1)):
        calls = []
        hook = package.networks["refiner"].register_forward_hook(lambda *_, calls=calls: calls.append(1))
        try:
            impute(inputs, package)
        finally:
            hook.remove()
        assert (len(calls) > 0) == bool(expected)


def test_the_diffusion_networks_are_loaded_only_when_a_sample_is_drawn(volumes, tiny_impute_model):
    """Loading checks every weights file's checksum but builds only the regression network; the autoencoder and UNet
    are built when the first diffusion sample is asked for, not when a package without the network is made of it."""
    package = load_model(tiny_impute_model, "impute")
    assert package.networks.loaded() == {"refiner"} and {"autoencoder", "unet"} <= set(package.networks)
    prior_alone = package.without("refiner")  # the prior-only package the benchmarks compare with: nothing loaded to make it
    assert set(prior_alone.networks) == {"autoencoder", "unet"} and not prior_alone.networks.loaded()
    inputs = {"t1n": volumes["t1n"], "t2w": volumes["t2w"]}
    impute(inputs, package, samples=0)
    assert package.networks.loaded() == {"refiner"}
    impute(inputs, package, samples=1, steps=1)
    assert package.networks.loaded() == {"refiner", "autoencoder", "unet"}


def test_the_same_head_in_another_voxel_order_gives_the_same_imputation(volumes, model):
    """Stored RAS or PIR, the networks see the same array: the outputs agree within 1% on each input's own grid."""
    from DiffusionSynthLib.geometry import to_canonical

    def pir(volume):
        return to_canonical(volume, "PIR")

    inputs = {"t1n": volumes["t1n"], "t1c": None, "t2w": volumes["t2w"], "t2f": None}
    plain = impute(inputs, model).outputs["t2f"]
    turned = impute({name: None if v is None else pir(v) for name, v in inputs.items()}, model).outputs["t2f"]
    assert turned.same_grid(pir(volumes["t1n"]))
    back = to_canonical(turned, "RAS").array
    reference = to_canonical(plain, "RAS").array
    brain = reference != 0
    assert np.abs(back[brain] - reference[brain]).mean() <= 0.01 * np.abs(reference[brain]).mean()


def test_all_given_or_none_given_is_an_error(volumes, model):
    with pytest.raises(InputError, match="nothing to impute"):
        impute(dict(volumes), model, steps=1)
    with pytest.raises(InputError, match="at least one"):
        impute({name: None for name in SEQUENCE_NAMES}, model, steps=1)


def test_impute_command_writes_the_missing_files_with_provenance(brain_cases, tiny_impute_model, tmp_path, capsys):
    out = tmp_path / "out"
    args = [
        "impute",
        "--t1c",
        str(brain_cases / CASE / "t1c.nii.gz"),
        "--t2f",
        str(brain_cases / CASE / "t2f.nii.gz"),
        "--output-dir",
        str(out),
        "--model",
        str(tiny_impute_model),
        "--steps",
        "1",
        "--samples",
        "2",
        "--progress",
        "none",
    ]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["t1n.nii.gz", "t1n_std.nii.gz", "t2w.nii.gz", "t2w_std.nii.gz"]
    record = read_provenance(out / "t1n.nii.gz")
    assert record["task"] == "impute" and record["grid"].startswith("t1c") and record["output"] == "t1n"
    all_four = [*args[:1], *itertools.chain.from_iterable((f"--{n}", str(brain_cases / CASE / f"{n}.nii.gz")) for n in SEQUENCE_NAMES), *args[5:]]
    assert main(all_four) == 2
    assert "nothing to impute" in capsys.readouterr().err
    assert json.loads(json.dumps(record))["synthetic"] is True
    assert record["steps"] == 1 and record["samples"] == 2


def test_a_folder_that_holds_files_is_refused_unless_overwrite_which_leaves_no_stale_output(brain_cases, tiny_impute_model, tmp_path, capsys):
    """A second run into a folder with outputs is refused (exit 4, one line, nothing touched); with --overwrite its files
    replace the old ones and the earlier run's outputs it does not write again (here the _std maps) are removed, while
    files that are not this task's synthetic outputs stay."""
    import shutil

    out = tmp_path / "out"
    base = ["impute", "--t1c", str(brain_cases / CASE / "t1c.nii.gz"), "--model", str(tiny_impute_model), "--progress", "none", "--output-dir", str(out)]
    assert main([*base, "--samples", "2", "--steps", "1"]) == 0
    assert "t1n_std.nii.gz" in {p.name for p in out.iterdir()}
    (out / "notes.txt").write_text("mine")
    shutil.copy(brain_cases / CASE / "t2w.nii.gz", out / "real_t2w.nii.gz")  # a real image: no provenance
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert main(base) == 4
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "already holds files" in lines[0] and "--overwrite" in lines[0], lines
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert main([*base, "--overwrite"]) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"t1n.nii.gz", "t2w.nii.gz", "t2f.nii.gz", "notes.txt", "real_t2w.nii.gz"}, names
    assert read_provenance(out / "t1n.nii.gz")["samples"] == 0


def test_steps_and_seed_without_a_sample_say_they_changed_nothing_and_provenance_records_what_ran(brain_cases, tiny_impute_model, tmp_path, capsys):
    """The default draws no diffusion sample: --steps and --seed then have no effect, and the command says so in one
    line; the files record 0 steps and 0 samples (what ran), and the output equals a run without the flags."""
    base = ["impute", "--t1c", str(brain_cases / CASE / "t1c.nii.gz"), "--model", str(tiny_impute_model), "--progress", "none"]
    assert main([*base, "--output-dir", str(tmp_path / "plain")]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main([*base, "--output-dir", str(tmp_path / "flags"), "--steps", "7", "--seed", "3"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "--steps and --seed only shape diffusion samples" in notes[0]
    record = read_provenance(tmp_path / "flags" / "t2f.nii.gz")
    assert record["steps"] == 0 and record["samples"] == 0
    assert np.array_equal(read_volume(tmp_path / "flags" / "t2f.nii.gz").array, read_volume(tmp_path / "plain" / "t2f.nii.gz").array)
    assert main([*base, "--output-dir", str(tmp_path / "sampled"), "--steps", "1", "--seed", "3", "--samples", "1"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_a_package_trained_without_diffusion_time_loads_and_imputes(brain_cases, tmp_path, volumes, capsys):
    """``--refiner-fraction 1`` (or a zero time budget) leaves no diffusion: prior + network only, still a package.
    Its two cases come from two data folders (as a prepared case joins the shared data)."""
    folders = [tmp_path / "shared", tmp_path / "prepared"]
    for folder, case in zip(folders, sorted(p.name for p in brain_cases.iterdir() if p.is_dir()), strict=True):
        folder.mkdir()
        (folder / case).symlink_to(brain_cases / case)
    output = tmp_path / "no-diffusion"
    args = ["train", "--task", "impute", "--data", *map(str, folders), "--output", str(output), "--preset", "tiny", "--max-steps", "2"]
    assert main([*args, "--patch", "32", "32", "16", "--batch", "1", "--spacing", "4", "--refiner-fraction", "1", "--tumour-weight", "3"]) == 0
    assert "2 case(s): BraTS-GLI-00001-000" in capsys.readouterr().err  # one case from each folder
    package = load_model(output, "impute")
    assert package.config["training"]["tumour_weight"] == 3.0
    assert set(package.networks) == {"refiner"} and "scheduler" not in package.config
    result = impute({"t1c": volumes["t1c"], "t2f": volumes["t2f"]}, package, samples=0)
    assert sorted(result.outputs) == ["t1n", "t2w"] and all(np.isfinite(v.array).all() for v in result.outputs.values())
    with pytest.raises(ModelError, match="no diffusion networks"):
        impute({"t1c": volumes["t1c"], "t2f": volumes["t2f"]}, package, samples=2)


def test_a_split_keeps_its_test_cases_unread_and_averages_every_choice_over_its_validation_cases(brain_cases, tmp_path, capsys):
    """``train --split``: the test cases are never read (here their files are broken: reading one would fail), the
    split is recorded in the package; the validation cases are several, and the gate's score per configuration is the
    mean of each validation case's whole-brain SSIM."""
    from DiffusionSynthLib.geometry import bounding_box
    from DiffusionSynthLib.metrics import mri_metrics
    from DiffusionSynthLib.sequences import SEQUENCES
    from DiffusionSynthLib.tasks.impute import BOX_MARGIN
    from DiffusionSynthLib.train.brain_cases import load_brain_cases
    from DiffusionSynthLib.train.impute import ImputeExamples

    data = tmp_path / "data"
    data.mkdir()
    for case in ("BraTS-GLI-00001-000", "TCGA-DU-7294"):
        (data / case).symlink_to(brain_cases / case)
    (data / "TCGA-twin").mkdir()
    for name in SEQUENCE_NAMES:
        (data / "TCGA-twin" / f"{name}.nii.gz").symlink_to(brain_cases / "TCGA-DU-7294" / f"{name}.nii.gz")
    (data / "unseen").mkdir()
    for name in SEQUENCE_NAMES:
        (data / "unseen" / f"{name}.nii.gz").write_bytes(b"not an image")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"validation": ["BraTS-GLI-00001-000", "TCGA-twin"], "test": {"elsewhere": ["unseen"]}}))
    output = tmp_path / "split-package"
    args = ["train", "--task", "impute", "--data", str(data), "--output", str(output), "--preset", "tiny", "--max-steps", "2", "--split", str(split)]
    assert main([*args, "--patch", "32", "32", "16", "--batch", "1", "--spacing", "4", "--refiner-fraction", "1"]) == 0
    err = capsys.readouterr().err
    assert "test cases (never loaded): unseen" in err and "training cases (1): TCGA-DU-7294" in err
    training = json.loads((output / "model.json").read_text())["training"]
    assert training["split"] == {"validation": ["BraTS-GLI-00001-000", "TCGA-twin"], "test": {"elsewhere": ["unseen"]}}
    assert training["validation_cases"] == ["BraTS-GLI-00001-000", "TCGA-twin"] and [c.split(" (")[0] for c in training["cases"]] == ["TCGA-DU-7294"]
    config = json.loads((output / "model.json").read_text())
    spacing = config["spacing_mm"]
    cases = {c.name: c for c in load_brain_cases(data, spacing, exclude=["unseen"], log=lambda m: None)}
    channel, ssims = SEQUENCES.index("t2f"), []
    for name in training["validation_cases"]:
        held = cases[name]
        whole = ImputeExamples([held], config["prior"], spacing, config["refiner"]["window"]).example(
            held, ["t1n", "t1c", "t2w"], bounding_box(held.brain, BOX_MARGIN)
        )
        ssims.append(mri_metrics(whole.truth[channel], whole.estimate[channel], whole.weight[channel] > 0)["ssim"])
    gate = training["validation"]["network per key"]
    assert gate["prior"]["t1n,t1c,t2w->t2f"] == pytest.approx(float(np.mean(ssims)), abs=1e-6)
    assert main(["train", "--task", "mri-to-ct", "--data", str(data), "--output", str(tmp_path / "x"), "--split", str(split)]) == 2
    split.write_text(json.dumps({"validation": ["unseen"], "test": ["unseen"]}))
    assert main([*args[:5], "--output", str(tmp_path / "y"), "--split", str(split)]) == 2
    err = capsys.readouterr().err
    assert "--split is for --task impute and inpaint" in err and "in both the validation and the test cases" in err and "Traceback" not in err


def test_a_ct_given_as_an_mr_sequence_is_refused_by_every_mr_task(shared_data, volumes, model, tiny_impute_model, tmp_path, capsys):
    """A head CT passed as the T1c: imputation, inpainting and forecasting refuse it as mri-to-ct refuses a CT (one line,
    exit 2, nothing written); the real MR passes."""
    from DiffusionSynthLib.models import resolve_model
    from DiffusionSynthLib.tasks.forecast import forecast
    from DiffusionSynthLib.tasks.inpaint import inpaint

    path = shared_data / "head_mr_ct" / "cmtk-pat002" / "ct.nii.gz"
    ct = read_volume(path)
    with pytest.raises(InputError, match="looks like a CT in Hounsfield units"):
        impute({"t1c": ct}, model)
    out = tmp_path / "out"
    assert main(["impute", "--t1c", str(path), "--output-dir", str(out), "--model", str(tiny_impute_model)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "looks like a CT" in lines[0] and "imputation synthesises missing MR sequences" in lines[0], lines
    assert not out.exists()
    mask = ct.with_array((np.indices(ct.shape)[0] == 60).astype(np.uint8))
    with pytest.raises(InputError, match="inpainting edits MR images"):
        inpaint({"t1c": ct}, mask, "remove", model)
    with pytest.raises(InputError, match="forecasting grows a tumour in MR images"):
        forecast({"t1c": ct}, mask, [30], resolve_model(None, "forecast"))
    assert set(impute({"t1c": volumes["t1c"], "t2f": volumes["t2f"]}, model, samples=0).outputs) == {"t1n", "t2w"}


def test_the_tumour_weight_multiplies_the_loss_inside_the_tumour_only(brain_cases):
    from DiffusionSynthLib.priors.regression import fit_all
    from DiffusionSynthLib.train.brain_cases import load_brain_cases
    from DiffusionSynthLib.train.impute import ImputeExamples, centred_box

    spacing = [3.0, 3.0, 3.0]
    cases = load_brain_cases(brain_cases, spacing, log=lambda message: None)
    prior = fit_all({c.name: (c.images, c.brain) for c in cases}, spacing, log=lambda message: None)
    with_tumour = next(c for c in cases if c.tumour is not None)  # TCGA-DU-7294; BraTS-GLI-00001-000 has no segmentation
    without = next(c for c in cases if c.tumour is None)
    given = ["t1n", "t1c", "t2w"]
    for case in (with_tumour, without):
        centre = np.argwhere(case.tumour > 0 if case.tumour is not None else case.brain).mean(axis=0).astype(int)
        box = centred_box(case.brain.shape, centre, [32, 32, 32])
        plain = ImputeExamples(cases, prior, spacing, [32, 32, 32]).example(case, given, box)
        weighted = ImputeExamples(cases, prior, spacing, [32, 32, 32], tumour_weight=4.0).example(case, given, box)
        tumour = case.tumour[box] > 0 if case.tumour is not None else np.zeros(case.brain[box].shape, bool)
        assert np.array_equal(weighted.weight, plain.weight * np.where(tumour, 4.0, 1.0))
        assert (weighted.weight == 4.0).any() == (case is with_tumour)  # the tumour's brain voxels of the missing FLAIR


def test_a_tumour_weight_below_one_or_for_another_task_is_refused(brain_cases, tmp_path, capsys):
    args = ["train", "--data", str(brain_cases), "--preset", "tiny", "--max-steps", "1"]
    assert main([*args, "--task", "inpaint", "--output", str(tmp_path / "a"), "--tumour-weight", "4"]) == 2
    assert main([*args, "--task", "impute", "--output", str(tmp_path / "b"), "--tumour-weight", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--tumour-weight is for --task impute" in err and "must be 1 (no extra weight) or more; 0.5" in err
    assert "Traceback" not in err and not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_where_the_network_answers_is_decided_on_the_validation_case_s_whole_brain(tiny_impute_model, brain_cases):
    """The per-configuration check scores what the benchmarks score: the whole brain, not the validation box around
    the tumour (there, a network that loses to the prior over the whole brain can win)."""
    from DiffusionSynthLib.geometry import bounding_box
    from DiffusionSynthLib.metrics import mri_metrics
    from DiffusionSynthLib.sequences import SEQUENCES
    from DiffusionSynthLib.tasks.impute import BOX_MARGIN
    from DiffusionSynthLib.train.brain_cases import load_brain_cases
    from DiffusionSynthLib.train.impute import ImputeExamples

    config = json.loads((tiny_impute_model / "model.json").read_text())
    gate = config["training"]["validation"]["network per key"]
    assert gate["metric"] == "SSIM in the whole brain, the mean over the validation cases"
    spacing = config["spacing_mm"]
    held = next(c for c in load_brain_cases(brain_cases, spacing, log=lambda message: None) if c.name == config["training"]["validation_case"])
    examples = ImputeExamples([held], config["prior"], spacing, config["refiner"]["window"])
    given, target = ["t1n", "t1c", "t2w"], "t2f"
    whole = examples.example(held, given, bounding_box(held.brain, BOX_MARGIN))
    channel = SEQUENCES.index(target)
    expected = mri_metrics(whole.truth[channel], whole.estimate[channel], whole.weight[channel] > 0)["ssim"]
    assert gate["prior"]["t1n,t1c,t2w->t2f"] == pytest.approx(expected, abs=1e-6)
    assert sorted(gate["prior"]) == sorted(config["training"]["validation"]["prior"])  # every configuration scored


def test_training_records_where_the_quantiles_are_matched_and_the_card_shows_it(tiny_impute_model, brain_cases):
    """Per configuration, the final estimate's whole-brain SSIM on the validation case without and with matching to the
    training cases' quantiles; matching is used where it scored higher. Recomputed here for FLAIR from the other three."""
    from DiffusionSynthLib.geometry import bounding_box
    from DiffusionSynthLib.metrics import mri_metrics
    from DiffusionSynthLib.priors.quantile_matching import LEVELS, match_quantiles, reference_quantiles
    from DiffusionSynthLib.sequences import SEQUENCES
    from DiffusionSynthLib.tasks.impute import BOX_MARGIN
    from DiffusionSynthLib.train.brain_cases import load_brain_cases
    from DiffusionSynthLib.train.impute import ImputeExamples

    config = json.loads((tiny_impute_model / "model.json").read_text())
    calibration = config["calibration"]
    assert calibration["kind"] == "quantile matching" and set(calibration["quantiles"]) == set(SEQUENCES)
    assert all(len(q) == LEVELS and np.all(np.diff(q) >= 0) for q in calibration["quantiles"].values())
    scores = calibration["validation"]
    assert calibration["used"] == sorted(k for k in scores["without"] if scores["with"][k] > scores["without"][k])
    spacing = config["spacing_mm"]
    cases = {c.name: c for c in load_brain_cases(brain_cases, spacing, log=lambda message: None)}
    held = cases.pop(config["training"]["validation_case"])
    (training,) = cases.values()
    assert calibration["quantiles"]["t2f"] == reference_quantiles([training.images["t2f"][training.brain]])  # the training case's, not the held one's
    key = "t1n,t1c,t2w->t2f"
    assert key in config["training"]["validation"]["network per key"]["prior only"]  # two steps: the network kept step 0
    whole = ImputeExamples([held], config["prior"], spacing, config["refiner"]["window"]).example(
        held, ["t1n", "t1c", "t2w"], bounding_box(held.brain, BOX_MARGIN)
    )
    channel, brain = SEQUENCES.index("t2f"), whole.weight[SEQUENCES.index("t2f")] > 0
    estimate, truth = whole.estimate[channel], whole.truth[channel]
    assert scores["without"][key] == pytest.approx(mri_metrics(truth, estimate, brain)["ssim"], abs=1e-6)
    matched = match_quantiles(estimate, brain, calibration["quantiles"]["t2f"])
    assert scores["with"][key] == pytest.approx(mri_metrics(truth, matched, brain)["ssim"], abs=1e-6)
    card = (tiny_impute_model / "MODEL_CARD.md").read_text()
    assert "| configuration | without | matched | matching used |" in card and f"| {key} | {scores['without'][key]:.3f} |" in card


def test_a_configuration_with_matching_answers_with_the_reference_quantiles(volumes, model):
    """Where the package matches (``calibration.used``), the output's brain values, back in z units, take the stored
    quantiles; other configurations are untouched. Inputs at the model's spacing: no resampling blurs the comparison."""
    import dataclasses

    from DiffusionSynthLib.geometry import resample_to_spacing

    spacing = model.config["spacing_mm"]
    small = {name: resample_to_spacing(volume, spacing) for name, volume in volumes.items()}
    inputs = {"t1n": small["t1n"], "t1c": small["t1c"], "t2w": small["t2w"], "t2f": None}
    calibration = {**model.config["calibration"], "used": ["t1n,t1c,t2w->t2f"]}
    plain = dataclasses.replace(model, config={k: v for k, v in model.config.items() if k != "calibration"})
    matching = dataclasses.replace(model, config={**model.config, "calibration": calibration})
    out, unmatched = impute(inputs, matching).outputs["t2f"].array, impute(inputs, plain).outputs["t2f"].array
    brain = out != 0
    mean, sd = model.config["intensity"]["typical"]["t2f"]
    levels = np.linspace(0.02, 0.98, 49)
    stored = np.interp(levels, np.linspace(0.0, 1.0, len(calibration["quantiles"]["t2f"])), calibration["quantiles"]["t2f"])
    np.testing.assert_allclose(np.quantile((out[brain] - mean) / sd, levels), stored, atol=0.05)
    assert not np.allclose(out, unmatched)
    np.testing.assert_array_equal(
        impute({**inputs, "t2f": small["t2f"], "t2w": None}, matching).outputs["t2w"].array,
        impute({**inputs, "t2f": small["t2f"], "t2w": None}, plain).outputs["t2w"].array,
    )
