"""MRI->CT end to end on real data: the output sits on the input's exact grid, in int16 HU."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.engine.progress import CancelToken
from DiffusionSynthLib.errors import Cancelled, InputError
from DiffusionSynthLib.models import load_model, resolve_model
from DiffusionSynthLib.models.registry import BUILTIN_DIR
from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct
from DiffusionSynthLib.volume import Volume, read_volume

from conftest import HEAD_CT, oblique
from reoriented import stored_as


@pytest.fixture(scope="module")
def mri(small_mri):
    return oblique(read_volume(small_mri), spacing=(3.0, 2.6, 3.4))


@pytest.fixture(scope="module")
def model(tiny_model):
    return load_model(tiny_model)


def test_output_is_on_the_oblique_input_grid(mri, model):
    before = mri.array.copy(), mri.ijk_to_ras.copy()
    result = mri_to_ct(mri, model, steps=3, seed=0)
    assert result.ct.shape == mri.shape
    np.testing.assert_array_equal(result.ct.ijk_to_ras, mri.ijk_to_ras)
    assert result.ct.array.dtype == np.int16
    assert (result.ct.array[~result.head_mask] == -1000).all()
    assert result.head_mask.mean() > 0.2
    np.testing.assert_array_equal(mri.array, before[0])  # input untouched
    np.testing.assert_array_equal(mri.ijk_to_ras, before[1])


def test_seed_determines_a_sample_and_the_default_estimate_is_deterministic(mri, model):
    a = mri_to_ct(mri, model, steps=2, seed=5, samples=1).ct.array
    b = mri_to_ct(mri, model, steps=2, seed=5, samples=1).ct.array
    c = mri_to_ct(mri, model, steps=2, seed=6, samples=1).ct.array
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).max() > 0
    default = mri_to_ct(mri, model, seed=5)
    assert default.samples == 0 and default.steps == 0 and default.std is None
    np.testing.assert_array_equal(default.ct.array, mri_to_ct(mri, model, seed=6).ct.array)
    assert np.abs(default.ct.array.astype(int) - a).max() > 0  # the sample adds a residual to the estimate


def test_the_same_head_stored_ras_or_pir_gives_the_same_pseudo_ct(small_mri, model):
    """The network sees the model's axis order whatever the file's; each result sits on its own input's grid."""
    assert model.config["orientation"] == "RAS"  # what training records
    head = read_volume(small_mri)
    ras, pir = stored_as(head, "RAS"), stored_as(head, "PIR")
    assert pir.shape == (ras.shape[1], ras.shape[2], ras.shape[0])
    from_ras = mri_to_ct(ras, model, steps=2, seed=3)
    from_pir = mri_to_ct(pir, model, steps=2, seed=3)
    assert from_ras.ct.same_grid(ras) and np.array_equal(from_pir.ct.ijk_to_ras, pir.ijk_to_ras) and from_pir.ct.shape == pir.shape
    pir_as_ras = stored_as(from_pir.ct, "RAS")
    assert pir_as_ras.same_grid(from_ras.ct)
    assert np.abs(pir_as_ras.array.astype(float) - from_ras.ct.array).mean() <= 5.0
    assert np.array_equal(stored_as(from_pir.ct.with_array(from_pir.head_mask), "RAS").array, from_ras.head_mask)


def test_zero_padding_around_the_mr_is_outside_its_field_of_view_not_air(small_mri, model):
    """An MR registered onto a larger grid is padded with zeros: the head inside gets exactly the unpadded pseudo-CT, the padding air."""
    head = read_volume(small_mri)
    before = mri_to_ct(head, model, seed=0).ct
    pad = ((3, 2), (0, 4), (5, 6))
    matrix = head.ijk_to_ras.copy()
    matrix[:3, 3] -= matrix[:3, :3] @ np.array([p[0] for p in pad], float)
    padded = Volume(np.pad(head.array, pad), matrix)
    after = mri_to_ct(padded, model, seed=0).ct
    assert after.same_grid(padded)
    inside = tuple(slice(p[0], n + p[0]) for p, n in zip(pad, head.shape))
    np.testing.assert_array_equal(after.array[inside], before.array)
    outside = np.ones(padded.shape, bool)
    outside[inside] = False
    assert (after.array[outside] == -1000).all()


@pytest.fixture(scope="module")
def ddpm_model(tiny_model, tmp_path_factory):
    """The tiny package with a DDPM scheduler: stochastic at every step."""
    folder = tmp_path_factory.mktemp("ddpm") / "tiny-ddpm"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "model.json").read_text())
    config["scheduler"] = {"class": "DDPMScheduler", "args": {"num_train_timesteps": 1000}}
    (folder / "model.json").write_text(json.dumps(config))
    return load_model(folder)


def test_seed_determines_a_ddpm_result(mri, ddpm_model):
    a = mri_to_ct(mri, ddpm_model, steps=3, seed=5, samples=1).ct.array
    b = mri_to_ct(mri, ddpm_model, steps=3, seed=5, samples=1).ct.array
    c = mri_to_ct(mri, ddpm_model, steps=3, seed=6, samples=1).ct.array
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).max() > 0


def test_a_ct_given_as_the_mr_is_refused_and_a_real_mr_passes(shared_data, small_mri, tiny_model, tmp_path, capsys):
    with pytest.raises(InputError, match="looks like a CT in Hounsfield units"):
        mri_to_ct(read_volume(HEAD_CT), load_model(tiny_model))
    output = tmp_path / "ct.nii.gz"
    code = main(["mri-to-ct", "--mri", str(HEAD_CT), "--output", str(output), "--model", str(tiny_model), "--progress", "none"])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1 and "looks like a CT in Hounsfield units" in lines[0] and "give the head's MR image" in lines[0], lines
    assert not output.exists()
    code = main(["mri-to-ct", "--mri", str(small_mri), "--output", str(output), "--model", str(tiny_model), "--steps", "1", "--progress", "none"])
    assert code == 0 and output.is_file()


def test_samples_give_an_uncertainty_map_and_progress_reaches_the_end(mri, model):
    seen = []
    result = mri_to_ct(mri, model, steps=2, samples=2, progress=lambda s, t, m: seen.append((s, t)))
    assert result.std is not None and result.std.same_grid(mri)
    assert result.std.array[result.head_mask].max() > 0
    assert seen[-1][0] == seen[-1][1] == 2 + 2 + 2
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)


def test_cancel_raises_and_returns_nothing(mri, model):
    token = CancelToken()

    def progress(step, total, message):
        if step >= 2:
            token.cancel()

    with pytest.raises(Cancelled):
        mri_to_ct(mri, model, steps=10, samples=1, progress=progress, cancel=token.is_set)


def test_constant_image_is_refused(model):
    with pytest.raises(InputError, match="constant"):
        mri_to_ct(Volume(np.full((20, 20, 20), 7.0, np.float32), np.eye(4)), model)


@pytest.mark.skipif(not (BUILTIN_DIR / "mri-to-ct-head-demo" / "model.json").is_file(), reason="built-in model not trained yet")
def test_builtin_model_gives_plausible_hounsfield_units(small_mri):
    mri = read_volume(small_mri)
    result = mri_to_ct(mri, resolve_model(None, "mri-to-ct"), seed=0)
    head = result.ct.array[result.head_mask]
    assert np.percentile(head, 50) > -200  # the head is mostly tissue, not air
    assert np.percentile(head, 99) > 300  # the skull shows as bone
    assert -100 < np.median(head[(head > -200) & (head < 200)]) < 100  # soft tissue near water
