"""DICOM in: real oblique MR series, a real CT with gantry tilt, a real DICOM-SEG, and series this test writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.dicom_read import ResampledSeries
from DiffusionSynthLib.errors import InputError
from DiffusionSynthLib.geometry import to_canonical
from DiffusionSynthLib.volume import LPS_TO_RAS, Volume, from_sitk, read_volume

from conftest import DATA, oblique

REMIND = DATA / "remind_022"
TILT = DATA / "head_ct_dicom" / "ge_hispeed_tilt"
COMPRESSED = DATA / "head_ct_dicom" / "ge_revolution_skull"  # JPEG lossless (process 14)


def needs(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"real DICOM data not found at {path} (set DIFFUSIONSYNTH_DATA)")


def write_series(volume: Volume, folder: Path, description: str = "TEST SERIES") -> Path:
    """``volume`` as a DICOM MR series, one file per slice along its third axis (pydicom)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True)
    lps = LPS_TO_RAS @ volume.ijk_to_ras
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    series, frame, study = generate_uid(), generate_uid(), generate_uid()
    for k in range(volume.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, meta.TransferSyntaxUID = MRImageStorage, generate_uid(), ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID = series, study, frame
        ds.Modality, ds.SeriesDescription, ds.InstanceNumber = "MR", description, k + 1
        ds.ImageOrientationPatient = [float(v) for v in np.concatenate([lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]])]
        ds.ImagePositionPatient = [float(v) for v in (lps @ [0, 0, k, 1])[:3]]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]  # between rows (j), between columns (i)
        ds.SliceThickness = float(spacing[2])
        pixels = np.ascontiguousarray(volume.array[:, :, k].T.astype(np.uint16))  # rows along j, columns along i
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = pixels.tobytes()
        ds.save_as(folder / f"{k:03d}.dcm", enforce_file_format=True)
    return folder


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Volume, Path]:
    """A real head MR on an oblique, anisotropic grid, written as a DICOM series by this test."""
    from conftest import HEAD_MR

    needs(HEAD_MR)
    head = read_volume(HEAD_MR)
    volume = oblique(head.with_array(np.clip(head.array, 0, 4000).astype(np.uint16)))
    return volume, write_series(volume, tmp_path_factory.mktemp("dicom") / "series")


def test_a_written_oblique_series_reads_back_exactly(written):
    volume, folder = written
    for source in (folder, folder / "007.dcm"):  # the folder, or any one file of the series
        back = read_volume(source)
        a, b = to_canonical(volume), to_canonical(back)
        assert a.shape == b.shape
        np.testing.assert_allclose(a.ijk_to_ras, b.ijk_to_ras, atol=1e-4)
        np.testing.assert_array_equal(a.array, b.array)


def test_a_folder_with_two_series_is_refused_listing_each(written, tmp_path):
    volume, folder = written
    mixed = tmp_path / "mixed"
    shutil.copytree(folder, mixed)
    write_series(volume, tmp_path / "other", "SECOND SERIES")
    for file in (tmp_path / "other").iterdir():
        shutil.copy(file, mixed / f"b{file.name}")
    with pytest.raises(InputError) as refused:
        read_volume(mixed, "MR image")
    message = str(refused.value)
    assert "holds 2 DICOM series" in message and "'TEST SERIES'" in message and "'SECOND SERIES'" in message
    assert message.count(f"{volume.shape[2]} files") == 2 and "Give the folder of one series" in message


def test_a_folder_without_dicom_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match="holds no readable DICOM files"):
        read_volume(tmp_path, "MR image")
    assert main(["mri-to-ct", "--mri", str(tmp_path), "--output", str(tmp_path / "ct.nii.gz")]) == 2
    assert "no readable DICOM" in capsys.readouterr().err


def test_the_real_oblique_remind_series_matches_itk():
    import SimpleITK as sitk

    needs(REMIND)
    ours = read_volume(REMIND / "t1c_dicom")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(REMIND / "t1c_dicom")))
    itk = from_sitk(reader.Execute())
    a, b = to_canonical(ours), to_canonical(itk)
    assert a.shape == b.shape and sorted(a.shape) == [176, 248, 256]
    np.testing.assert_allclose(a.ijk_to_ras, b.ijk_to_ras, atol=1e-3)
    np.testing.assert_array_equal(a.array.astype(np.float32), b.array.astype(np.float32))
    direction = ours.ijk_to_ras[:3, :3] / np.linalg.norm(ours.ijk_to_ras[:3, :3], axis=0)
    assert np.abs(direction).max(axis=0).min() < 0.95  # oblique: no axis along a world axis


def test_the_gantry_tilted_ct_lands_where_each_slice_was_acquired():
    """Every acquired slice, looked up in the volume at its own pixels' world positions, is found there."""
    import pydicom

    needs(TILT)
    with pytest.warns(ResampledSeries, match=r"has gantry tilt \(18\.\d degrees.*uneven slice gaps.*resampled onto a regular grid"):
        volume = read_volume(TILT, "CT")
    assert volume.array.min() <= -1000 and volume.array.max() > 1000  # HU after rescale
    to_index = np.linalg.inv(LPS_TO_RAS @ volume.ijk_to_ras)
    agreements = []
    for file in sorted(TILT.glob("*.dcm"))[::4]:
        ds = pydicom.dcmread(file)
        pixels = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        r, c = np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
        rows, cols = np.mgrid[0 : ds.Rows : 8, 0 : ds.Columns : 8]
        world = np.array(ds.ImagePositionPatient, float)[:, None, None] + cols * float(ds.PixelSpacing[1]) * r[:, None, None]
        world = world + rows * float(ds.PixelSpacing[0]) * c[:, None, None]
        index = np.tensordot(to_index[:3, :3], world, 1) + to_index[:3, 3][:, None, None]
        found = ndimage.map_coordinates(volume.array.astype(np.float32), index.reshape(3, -1), order=1, cval=-1024)
        agreements.append(np.corrcoef(found, pixels[rows, cols].ravel())[0, 1])
    # slices beside the 7 mm gaps are looked up between resampled planes, so they blur a little; a reader that ignored
    # the tilt would put every slice's content off by up to the tilt's shift and fail the median too
    assert np.median(agreements) > 0.97 and min(agreements) > 0.8, agreements


def test_an_enhanced_multiframe_mr_reads_as_the_series_it_was_made_from(tmp_path):
    """ReMIND-022's oblique T1c converted to one Enhanced MR file (highdicom's legacy conversion): the same voxels on
    the same grid as the classic series."""
    import highdicom as hd
    import pydicom
    from pydicom.uid import generate_uid

    needs(REMIND / "t1c_dicom")
    legacy = [pydicom.dcmread(f) for f in sorted((REMIND / "t1c_dicom").rglob("*.dcm"))]
    enhanced = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy_datasets=legacy, series_instance_uid=generate_uid(), series_number=99, sop_instance_uid=generate_uid(), instance_number=1
    )
    (tmp_path / "enhanced").mkdir()
    enhanced.save_as(tmp_path / "enhanced" / "mr.dcm")
    assert int(pydicom.dcmread(tmp_path / "enhanced" / "mr.dcm", stop_before_pixels=True).NumberOfFrames) == len(legacy)
    classic = read_volume(REMIND / "t1c_dicom")
    for given in (tmp_path / "enhanced", tmp_path / "enhanced" / "mr.dcm"):  # the folder or the file
        volume = read_volume(given)
        assert volume.same_grid(classic) and np.array_equal(volume.array, classic.array)


def test_the_command_line_warns_of_a_resampled_series_in_one_line(capsys):
    needs(TILT)
    assert main(["evaluate", "--kind", "ct", "--prediction", str(TILT), "--reference", str(TILT)]) == 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("WARNING: The ") and "resampled onto a regular grid" in line for line in lines)
    assert '"mae": 0.0' in captured.out


def test_a_jpeg_lossless_ct_series_reads_as_it_is(capsys):
    """Compressed DICOM, as a scanner exports it: decoded (pylibjpeg), in HU, on its own grid; refused as an MR."""
    import pydicom

    needs(COMPRESSED)
    files = sorted(p for p in COMPRESSED.rglob("*") if p.is_file())
    first = pydicom.dcmread(files[0])
    assert first.file_meta.TransferSyntaxUID.is_compressed
    volume = read_volume(COMPRESSED, "CT")
    assert volume.shape == (len(files), first.Rows, first.Columns)
    np.testing.assert_allclose(sorted(volume.spacing)[:2], [float(v) for v in first.PixelSpacing], rtol=1e-5)
    pixels = first.pixel_array.astype(np.float32) * float(first.RescaleSlope) + float(first.RescaleIntercept)
    assert any(np.array_equal(volume.array[i], pixels) for i in (0, len(files) - 1))  # the decoded slice, stored as it was
    brain = (volume.array > 20) & (volume.array < 60)
    assert brain.sum() * np.prod(volume.spacing) / 1000 > 500  # a whole brain's millilitres of soft tissue, in HU
    assert main(["mri-to-ct", "--mri", str(COMPRESSED), "--output", "unused.nii.gz"]) == 2
    assert "looks like a CT" in capsys.readouterr().err


def test_a_dicom_seg_is_a_mask_for_inpainting_on_the_t1c_series(tiny_inpaint_model, tmp_path):
    needs(REMIND)
    out = tmp_path / "out"
    argv = ["inpaint", "--t1c", str(REMIND / "t1c_dicom"), "--mask", str(REMIND / "tumour_seg.dcm"), "--mode", "remove",
            "--output-dir", str(out), "--model", str(tiny_inpaint_model), "--progress", "none"]  # fmt: skip
    assert main(argv) == 0
    t1c, result = read_volume(REMIND / "t1c_dicom"), read_volume(out / "t1c.nii.gz")
    assert result.same_grid(t1c)
    changed = result.array != t1c.array
    assert 0 < changed.sum() < 0.05 * changed.size  # only the tumour and its margin
