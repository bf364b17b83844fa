"""Metrics as the challenges define them, checked against scikit-image and hand computation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.metrics import ct_metrics, dice, mri_metrics, ssim_map
from DiffusionSynthLib.volume import Volume, write_volume


def test_ssim_map_equals_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    a = rng.random((20, 22, 18))
    b = a + rng.normal(0, 0.1, a.shape)
    _, expected = metrics.structural_similarity(a, b, data_range=2.0, full=True)
    np.testing.assert_allclose(ssim_map(a, b, 2.0), expected, rtol=1e-6, atol=1e-9)


def test_ct_metrics_by_hand():
    reference = np.zeros((12, 12, 12))
    prediction = reference + 10.0
    prediction[0, 0, 0] = 5000.0  # clipped to 3000 for PSNR
    mask = np.ones_like(reference, bool)
    values = ct_metrics(reference, prediction, mask)
    n = reference.size
    assert values["mae"] == pytest.approx((10.0 * (n - 1) + 5000.0) / n)
    assert values["me"] == pytest.approx(values["mae"])
    mse = (100.0 * (n - 1) + 3000.0**2) / n
    assert values["psnr"] == pytest.approx(10 * np.log10(4024.0**2 / mse))
    assert values["bone_dice"] == 0.0  # one predicted bone voxel, none in the reference


def test_identical_images_are_perfect():
    rng = np.random.default_rng(1)
    image = rng.normal(0, 300, (16, 16, 16))
    values = ct_metrics(image, image, None)
    assert values["mae"] == 0 and values["ssim"] == pytest.approx(1.0) and values["psnr"] == float("inf")
    mri = mri_metrics(np.abs(image) + 1, np.abs(image) + 1)
    assert mri["ssim"] == pytest.approx(1.0) and mri["mae"] == 0


def test_dice():
    a = np.zeros(10, bool)
    a[:4] = True
    b = np.zeros(10, bool)
    b[2:6] = True
    assert dice(a, b) == pytest.approx(0.5)


def test_evaluate_command_prints_flat_json(tmp_path, capsys):
    rng = np.random.default_rng(2)
    reference = rng.normal(0, 200, (14, 14, 14)).astype(np.float32)
    grid = np.diag([1.0, 1.0, 2.0, 1.0])
    ref = write_volume(Volume(reference, grid), tmp_path / "ref.nii.gz")
    pred = write_volume(Volume(reference + 5, grid), tmp_path / "pred.nii.gz")
    mask = write_volume(Volume(np.ones((14, 14, 14), np.uint8), grid), tmp_path / "mask.nii.gz")
    assert main(["evaluate", "--prediction", str(pred), "--reference", str(ref), "--mask", str(mask), "--kind", "ct"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert set(values) == {"mae", "me", "psnr", "ssim", "bone_dice", "mae_air", "mae_soft_tissue", "mae_bone"}
    assert values["mae"] == pytest.approx(5.0) and values["me"] == pytest.approx(5.0)
    assert main(["evaluate", "--prediction", str(pred), "--reference", str(ref), "--kind", "mri"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"ssim", "psnr", "mae"}
    other = write_volume(Volume(reference, np.eye(4)), tmp_path / "other.nii.gz")
    assert main(["evaluate", "--prediction", str(other), "--reference", str(ref), "--kind", "ct"]) == 2
    assert "different grids" in capsys.readouterr().err


def test_ct_evaluation_without_a_mask_scores_the_body_by_tissue(tmp_path, shared_data):
    """A real head CT against itself with 100 HU added to its bone: only the bone MAE moves; air outside the head is not scored."""
    from DiffusionSynthLib.metrics import body_mask_ct, evaluate_files
    from DiffusionSynthLib.volume import read_volume

    from conftest import HEAD_CT

    reference = read_volume(HEAD_CT)
    hu = reference.array.astype(np.float32)
    prediction = np.where(hu >= 300, hu + 100, hu)
    prediction[0, 0, 0] = hu[0, 0, 0] + 500  # a corner of air, outside the body: must not count
    write_volume(reference.with_array(prediction), tmp_path / "pred.nii.gz")
    body = body_mask_ct(reference)
    assert body.any() and not body[0, 0, 0] and body.mean() < 0.8
    assert main(["evaluate", "--prediction", str(tmp_path / "pred.nii.gz"), "--reference", str(HEAD_CT), "--kind", "ct"]) == 0
    values = evaluate_files(str(tmp_path / "pred.nii.gz"), str(HEAD_CT), None, "ct")
    assert values["mae_bone"] == pytest.approx(100.0, abs=1e-3) and values["mae_air"] == 0.0 and values["mae_soft_tissue"] == 0.0
    share = float(((hu >= 300) & body).sum() / body.sum())
    assert values["mae"] == pytest.approx(100.0 * share, rel=1e-3)
    json.dumps(values)
