"""DICOM out: the pseudo-CT as a CT series beside the MR (real oblique ReMIND series and a NIfTI head), checked by dciodvfy."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.geometry import to_canonical
from DiffusionSynthLib.volume import read_volume

from conftest import DATA

REMIND_T1C = DATA / "remind_022" / "t1c_dicom"


def run(mri, output, model, *extra) -> int:
    return main(["mri-to-ct", "--mri", str(mri), "--output", str(output), "--model", str(model), "--steps", "2", "--progress", "none", *extra])


def headers(folder):
    return [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(folder.iterdir())]


def dciodvfy_errors(file) -> list[str]:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian's dicom3tools) is not installed")
    checked = subprocess.run(["dciodvfy", str(file)], capture_output=True, text=True)
    return [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("Error")]


@pytest.fixture(scope="module")
def remind_series(tiny_model, tmp_path_factory):
    if not REMIND_T1C.is_dir():
        pytest.skip(f"ReMIND DICOM data not found at {REMIND_T1C}")
    out = tmp_path_factory.mktemp("dicom-out")
    assert run(REMIND_T1C, out / "ct", tiny_model, "--output-format", "dicom") == 0  # a whole head: its quality check passes
    assert run(REMIND_T1C, out / "ct.nii.gz", tiny_model) == 0
    return out


def test_the_ct_series_joins_the_mr_patient_study_and_frame_of_reference(remind_series):
    mr = headers(REMIND_T1C)
    ct = headers(remind_series / "ct")
    assert len(ct) == len(mr) == 176
    first = mr[0]
    for ds in ct:
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and ds.Modality == "CT"
        assert ds.StudyInstanceUID == first.StudyInstanceUID and ds.FrameOfReferenceUID == first.FrameOfReferenceUID
        assert ds.PatientID == first.PatientID and ds.SeriesInstanceUID != first.SeriesInstanceUID
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"] and ds.SeriesDescription.startswith("SYNTHETIC CT")
        assert json.loads(ds.ImageComments)["synthetic"] is True and ds.RescaleIntercept == -1024 and ds.RescaleSlope == 1
    assert len({ds.SeriesInstanceUID for ds in ct}) == 1 and len({ds.SOPInstanceUID for ds in ct}) == 176


def test_every_ct_slice_sits_on_an_mr_slice(remind_series):
    """Same orientation and the same slice positions as the oblique MR, one CT slice per MR slice."""
    mr_planes = sorted(
        (tuple(np.round(np.array(d.ImagePositionPatient, float), 3)), tuple(np.round(np.array(d.ImageOrientationPatient, float), 5)))
        for d in headers(REMIND_T1C)
    )
    ct_planes = sorted(
        (tuple(np.round(np.array(d.ImagePositionPatient, float), 3)), tuple(np.round(np.array(d.ImageOrientationPatient, float), 5)))
        for d in headers(remind_series / "ct")
    )
    for (mr_position, mr_orientation), (ct_position, ct_orientation) in zip(mr_planes, ct_planes):
        np.testing.assert_allclose(ct_position, mr_position, atol=2e-3)
        np.testing.assert_allclose(ct_orientation, mr_orientation, atol=2e-5)


def test_the_series_reads_back_as_the_same_hounsfield_volume_on_the_mr_grid(remind_series):
    series, nifti, mr = read_volume(remind_series / "ct"), read_volume(remind_series / "ct.nii.gz"), read_volume(REMIND_T1C)
    assert series.same_grid(mr) and nifti.same_grid(mr)
    np.testing.assert_array_equal(series.array.astype(np.int32), nifti.array.astype(np.int32))


def test_dciodvfy_finds_no_error(remind_series):
    files = sorted((remind_series / "ct").iterdir())
    for file in (files[0], files[len(files) // 2], files[-1]):
        assert dciodvfy_errors(file) == []


def test_a_nifti_mr_gets_a_new_study_and_frame_of_reference(small_mri, tiny_model, tmp_path, capsys):
    # a NIfTI names no patient: refused before any work unless the patient is named
    assert run(small_mri, tmp_path / "ct", tiny_model, "--output-format", "dicom", "--accept-qc-warnings") == 2
    assert "--patient-id" in capsys.readouterr().err and not (tmp_path / "ct").exists()
    assert run(small_mri, tmp_path / "ct", tiny_model, "--output-format", "dicom", "--patient-id", "a\\b") == 2  # not a DICOM LO
    named = ("--patient-id", "DS-0042", "--patient-name", "DOE^JANE")
    assert run(small_mri, tmp_path / "ct", tiny_model, "--output-format", "dicom", "--accept-qc-warnings", *named) == 0  # the pair's MR cuts the vertex
    ct = headers(tmp_path / "ct")
    assert {(d.PatientID, str(d.PatientName)) for d in ct} == {("DS-0042", "DOE^JANE")}
    assert len({d.StudyInstanceUID for d in ct}) == 1 and len({d.FrameOfReferenceUID for d in ct}) == 1
    # the same voxels in DICOM's (slice, row, column) order: the same grid once both are in one axis order
    assert to_canonical(read_volume(tmp_path / "ct")).same_grid(to_canonical(read_volume(small_mri)))
    assert dciodvfy_errors(sorted((tmp_path / "ct").iterdir())[0]) == []
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    assert run(small_mri, tmp_path / "busy", tiny_model, "--output-format", "dicom", *named) == 4
    assert "already holds files" in capsys.readouterr().err and [p.name for p in (tmp_path / "busy").iterdir()] == ["keep.txt"]


def test_each_ct_slice_references_the_mr_slice_on_its_plane(remind_series):
    mr = {str(d.SOPInstanceUID): d for d in headers(REMIND_T1C)}
    series = {str(d.SeriesInstanceUID) for d in mr.values()}
    for ds in headers(remind_series / "ct"):
        (source,) = ds.SourceImageSequence
        np.testing.assert_allclose(
            np.array(mr[source.ReferencedSOPInstanceUID].ImagePositionPatient, float), np.array(ds.ImagePositionPatient, float), atol=2e-3
        )
        assert source.ReferencedSOPClassUID == mr[source.ReferencedSOPInstanceUID].SOPClassUID
        (referenced,) = ds.ReferencedSeriesSequence
        assert {referenced.SeriesInstanceUID} == series
        assert {item.ReferencedSOPInstanceUID for item in referenced.ReferencedInstanceSequence} == set(mr)


def test_provenance_reads_the_series_and_its_quality_check(remind_series, capsys):
    for given in (remind_series / "ct", sorted((remind_series / "ct").iterdir())[3]):
        assert main(["provenance", str(given)]) == 0
        record = json.loads(capsys.readouterr().out)
        assert record["synthetic"] is True and record["task"] == "mri-to-ct"
        check = record["quality_check"]
        assert check["passed"] is True and check["warnings"] == []
        assert set(check["figures"]) >= {"intracranial_air_ml", "skull_layer_bone_share", "head_hu_p99", "head_cut_share"}
    assert main(["provenance", str(REMIND_T1C)]) == 1  # the real MR is not marked synthetic
    assert "carries no DiffusionSynth provenance" in capsys.readouterr().err


@pytest.fixture(scope="module")
def broken_mri(tmp_path_factory):
    """ReMIND-022's T1c (a whole head) at 3 mm with its top half zeroed: a field of view that cuts the head."""
    if not REMIND_T1C.is_dir():
        pytest.skip(f"ReMIND DICOM data not found at {REMIND_T1C}")
    from DiffusionSynthLib.geometry import resample_to_spacing
    from DiffusionSynthLib.volume import write_volume

    small = to_canonical(resample_to_spacing(read_volume(REMIND_T1C), [3.0, 3.0, 3.0]))
    array = small.array.astype(np.float32)
    array[:, :, array.shape[2] // 2 :] = 0
    return write_volume(small.with_array(array), tmp_path_factory.mktemp("broken") / "top_half_zeroed.nii.gz")


def test_a_broken_mr_is_warned_and_refused_for_dicom_unless_accepted(broken_mri, tiny_model, tmp_path, capsys):
    assert run(broken_mri, tmp_path / "ct", tiny_model, "--output-format", "dicom", "--patient-id", "QC-1") == 6
    captured = capsys.readouterr()
    assert "quality check" in captured.out and "WARNING: head_cut_share" in captured.err
    assert "--accept-qc-warnings" in captured.err and "no DICOM series was written" in captured.err
    assert not (tmp_path / "ct").exists() and [p.name for p in tmp_path.iterdir()] == []  # nothing, not even a hidden folder
    assert run(broken_mri, tmp_path / "ct.nii.gz", tiny_model) == 0  # NIfTI: written, warned, the check in its record
    assert "WARNING: head_cut_share" in capsys.readouterr().err
    from DiffusionSynthLib.volume import read_provenance

    assert "head_cut_share" in " ".join(read_provenance(tmp_path / "ct.nii.gz")["quality_check"]["warnings"])
    assert run(broken_mri, tmp_path / "accepted", tiny_model, "--output-format", "dicom", "--patient-id", "QC-1", "--accept-qc-warnings") == 0
    comments = json.loads(headers(tmp_path / "accepted")[0].ImageComments)
    assert comments["quality_check"]["passed"] is False and comments["quality_check"]["figures"]["head_cut_share"] > 0.1


def test_the_built_in_pseudo_ct_of_the_remind_t1c_passes_its_quality_check(tmp_path, capsys):
    """The planner's case: a contrast-enhanced T1 with a tumour, as DICOM, to a DICOM CT without overrides."""
    if not REMIND_T1C.is_dir():
        pytest.skip(f"ReMIND DICOM data not found at {REMIND_T1C}")
    assert main(["mri-to-ct", "--mri", str(REMIND_T1C), "--output", str(tmp_path / "ct"), "--output-format", "dicom", "--progress", "none"]) == 0
    assert "quality check passed" in capsys.readouterr().out
    assert json.loads(headers(tmp_path / "ct")[0].ImageComments)["quality_check"]["passed"] is True


def test_a_nifti_made_from_the_dicom_mr_joins_it_with_like(tiny_model, tmp_path, capsys):
    """--like: the NIfTI converted from a DICOM MR series gets that series' patient, study and frame, and references it."""
    if not REMIND_T1C.is_dir():
        pytest.skip(f"ReMIND DICOM data not found at {REMIND_T1C}")
    from DiffusionSynthLib.volume import write_volume

    nifti = write_volume(read_volume(REMIND_T1C), tmp_path / "t1c.nii.gz")
    assert run(REMIND_T1C, tmp_path / "refused", tiny_model, "--output-format", "dicom", "--patient-id", "X") == 2  # DICOM names its own
    assert "is DICOM" in capsys.readouterr().err
    assert run(nifti, tmp_path / "ct", tiny_model, "--output-format", "dicom", "--like", str(REMIND_T1C), "--accept-qc-warnings") == 0
    mr, ct = headers(REMIND_T1C), headers(tmp_path / "ct")
    assert {(d.PatientID, d.StudyInstanceUID, d.FrameOfReferenceUID) for d in ct} == {(mr[0].PatientID, mr[0].StudyInstanceUID, mr[0].FrameOfReferenceUID)}
    assert {d.SourceImageSequence[0].ReferencedSOPInstanceUID for d in ct} == {str(d.SOPInstanceUID) for d in mr}  # same grid: each slice referenced
