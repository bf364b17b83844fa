"""Volume I/O: geometry survives every round trip; bad files give one clear InputError."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
import SimpleITK as sitk

from DiffusionSynthLib.errors import InputError, OutputError
from DiffusionSynthLib.volume import Volume, read_provenance, read_volume, write_volume

from conftest import HEAD_MR, oblique


def _volume(dtype=np.float32) -> Volume:
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(7, 9, 5)) * 100).astype(dtype)
    return oblique(Volume(array, np.eye(4)))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint8])
def test_round_trip_keeps_voxels_and_oblique_geometry(tmp_path, suffix, dtype):
    volume = _volume(dtype)
    path = write_volume(volume, tmp_path / f"v{suffix}")
    back = read_volume(path)
    assert back.shape == volume.shape
    assert back.array.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(back.ijk_to_ras, volume.ijk_to_ras, atol=1e-4)


@pytest.mark.parametrize("flips", [(-1, -1, 1), (1, -1, -1), (-1, 1, 1)])
def test_axis_flips_survive(tmp_path, flips):
    matrix = np.diag([*(np.array(flips) * [1.1, 0.7, 3.0]), 1.0])
    matrix[:3, 3] = [10, -20, 30]
    volume = Volume(np.arange(60, dtype=np.float32).reshape(3, 4, 5), matrix)
    for suffix in (".nii.gz", ".nrrd", ".mha"):
        back = read_volume(write_volume(volume, tmp_path / f"f{suffix}"))
        np.testing.assert_allclose(back.ijk_to_ras, matrix, atol=1e-5)
        np.testing.assert_array_equal(back.array, volume.array)


def test_real_nifti_matches_simpleitk_in_ras(shared_data):
    volume = read_volume(HEAD_MR)
    image = sitk.ReadImage(str(HEAD_MR))
    lps_origin = np.array(image.GetOrigin())
    np.testing.assert_allclose(volume.origin, lps_origin * [-1, -1, 1], atol=1e-4)
    assert volume.shape == image.GetSize()
    assert volume.array[10, 20, 5] == sitk.GetArrayViewFromImage(image)[5, 20, 10]


def test_provenance_is_written_and_read_back(tmp_path):
    record = {"task": "mri-to-ct", "seed": 3, "synthetic": True}
    for suffix in (".nii.gz", ".nrrd", ".mha"):
        path = write_volume(_volume(), tmp_path / f"p{suffix}", record)
        assert read_provenance(path) == record
    plain = write_volume(_volume(), tmp_path / "plain.nii.gz")
    assert read_provenance(plain) is None


def test_failed_write_leaves_no_file(tmp_path):
    class NotJson:
        pass

    with pytest.raises(TypeError):
        write_volume(_volume(), tmp_path / "x.nii.gz", {"bad": NotJson()})
    assert os.listdir(tmp_path) == []


def test_unwritable_outputs_are_refused(tmp_path):
    with pytest.raises(OutputError, match="existing folder"):
        write_volume(_volume(), tmp_path)
    with pytest.raises(OutputError, match="parent folder .* does not exist"):
        write_volume(_volume(), tmp_path / "missing" / "deeper" / "x.nii.gz")
    assert not (tmp_path / "missing").exists()
    with pytest.raises(OutputError, match="extension"):
        write_volume(_volume(), tmp_path / "x.png")


def test_a_missing_folder_whose_parent_exists_is_made_and_removed_again_if_the_write_fails(tmp_path):
    written = write_volume(_volume(), tmp_path / "new" / "x.nii.gz")
    assert written.is_file() and read_volume(written).shape == _volume().shape

    class NotJson:
        pass

    with pytest.raises(TypeError):
        write_volume(_volume(), tmp_path / "other" / "x.nii.gz", {"bad": NotJson()})
    assert not (tmp_path / "other").exists()  # nothing left behind, not even the folder


def _write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def _write_sitk(path, image):
    sitk.WriteImage(image, str(path))
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.nii.gz", "does not exist"),
        (lambda d: d, "holds no readable DICOM files"),
        (lambda d: _write_bytes(d / "x.txt", b"hello"), "unsupported extension"),
        (lambda d: _write_bytes(d / "empty.nii.gz", b""), "empty file"),
        (lambda d: _write_bytes(d / "junk.nii.gz", os.urandom(4000)), "could not be read"),
        (lambda d: _write_bytes(d / "junk.nii", gzip.compress(b"x" * 400)), "could not be read"),
        (lambda d: _write_sitk(d / "flat.nii.gz", sitk.Image([20, 20], sitk.sitkFloat32)), "2D image"),
        (lambda d: _write_sitk(d / "slice.nii.gz", sitk.Image([20, 20, 1], sitk.sitkFloat32)), "single slice"),
        (lambda d: _write_sitk(d / "time.nii.gz", sitk.Image([8, 8, 8, 3], sitk.sitkFloat32)), "4D image"),
        (lambda d: _write_sitk(d / "rgb.mha", sitk.Image([8, 8, 8], sitk.sitkVectorFloat32, 3)), "3 components"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        read_volume(make(tmp_path), "MR image")


def test_nan_and_absurd_spacing_are_refused(tmp_path):
    array = np.ones((6, 6, 6), np.float32)
    array[2, 2, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        read_volume(write_volume(Volume(array, np.eye(4)), tmp_path / "nan.nii.gz"))
    image = sitk.Image([6, 6, 6], sitk.sitkFloat32)
    image.SetSpacing([1e6, 1, 1])
    with pytest.raises(InputError, match="spacing"):
        read_volume(_write_sitk(tmp_path / "far.mha", image))


def test_truncated_real_file_is_refused(tmp_path, shared_data):
    data = HEAD_MR.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated|could not be read"):
        read_volume(cut)
