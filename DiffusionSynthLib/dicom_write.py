"""DICOM out: a pseudo-CT as a CT Image Storage series a planning system loads beside its MR.

One file per slice, along the MR's own slice axis and on exactly its grid (oblique included). When
the MR came as DICOM the series joins its patient, study and frame of reference; otherwise a new
study and frame of reference are made. The series is new (its own UID), ``ImageType``
``DERIVED\\SECONDARY\\AXIAL``, ``SeriesDescription`` beginning ``SYNTHETIC CT``, the provenance
record in ``ImageComments`` and ``DerivationDescription``, HU as stored value + ``RescaleIntercept``
(-1024, slope 1). A series made from a DICOM MR references it: each slice's ``SourceImageSequence`` names the MR
slice on its plane (the nearest one along the normal), and ``ReferencedSeriesSequence`` (Common Instance Reference)
lists the MR series' instances. Written into a hidden folder and renamed when complete.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, OutputError
from .version import GENERATOR_NAME, __version__
from .volume import LPS_TO_RAS, Volume

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
INTERCEPT = -1024
PATIENT_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge")
STUDY_KEYS = ("StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName", "StudyDescription")
MAX_COMMENT = 10240  # LT


Source = tuple[str, str, tuple[float, ...]]  # an MR slice: SOPClassUID, SOPInstanceUID, ImagePositionPatient


def mr_series(path: str | os.PathLike) -> tuple[Any, list[Source]]:
    """The first header of the DICOM MR series ``path`` names (folder or file) and its image slices (one read of the
    headers); ``(None, [])`` for another format."""
    from .dicom_read import looks_like_dicom, series_headers

    path = Path(path)
    if not (path.is_dir() or looks_like_dicom(path)):
        return None, []
    headers = [header for _, header in series_headers(path, "MR image")]
    sources = [
        (str(h.SOPClassUID), str(h.SOPInstanceUID), tuple(float(v) for v in h.ImagePositionPatient))
        for h in headers
        if "ImagePositionPatient" in h and "SOPInstanceUID" in h
    ]
    return headers[0], sources


def slice_axes(reference) -> tuple[int, int, int]:
    """(slice, row, column) axes of a volume: highdicom's (0, 1, 2) order for DICOM input, else slices along the third axis."""
    return (0, 1, 2) if reference is not None else (2, 1, 0)


def write_ct_series(
    ct: Volume,
    folder: str | os.PathLike,
    provenance: dict,
    reference=None,
    sources: Sequence[Source] = (),
    patient: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write ``ct`` (HU) as a new CT series in ``folder`` (made; it must not hold files); the files written.
    ``reference``: the MR's first header (patient, study, frame of reference); ``sources``: its slices
    (``mr_series``), referenced by the CT's; ``patient``: ``PatientID`` (and ``PatientName``) when there is no
    reference (a new study and frame of reference). One of the two is needed: a CT series names its patient."""
    if reference is None and not (patient or {}).get("PatientID"):
        raise InputError("A CT series must name its patient: give the MR's DICOM header or a patient ID.")
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OutputError(f"The DICOM output '{folder}' exists and is not an empty folder; give a new folder for the series.")
    if not folder.parent.is_dir():
        raise OutputError(f"The folder '{folder.parent}' for the DICOM output does not exist; create it or choose another.")
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        names = [file.name for file in _write_slices(ct, staging, provenance, reference, sources, patient or {})]
        staging.chmod(0o755)
        if folder.exists():
            folder.rmdir()
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [folder / name for name in names]


def _references(sources: Sequence[Source], series_uid: str):
    """The Common Instance Reference module's ``ReferencedSeriesSequence``: the MR series and its instances."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    instances = []
    for class_uid, instance_uid, _ in sources:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = class_uid, instance_uid
        instances.append(item)
    series = Dataset()
    series.SeriesInstanceUID = series_uid
    series.ReferencedInstanceSequence = DicomSequence(instances)
    return DicomSequence([series])


def _write_slices(ct: Volume, staging: Path, provenance: dict, reference, sources: Sequence[Source], patient: Mapping[str, str]) -> list[Path]:
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    axis, row_axis, column_axis = slice_axes(reference)
    lps = LPS_TO_RAS @ ct.ijk_to_ras
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    row_direction, column_direction = lps[:3, column_axis] / spacing[column_axis], lps[:3, row_axis] / spacing[row_axis]
    now = dt.datetime.now()
    series_uid = generate_uid()
    shared = {
        "Modality": "CT",
        "SeriesInstanceUID": series_uid,
        "SeriesNumber": int(getattr(reference, "SeriesNumber", 0) or 0) + 1000,
        "SeriesDescription": f"SYNTHETIC CT ({GENERATOR_NAME} {provenance.get('model_id', '')})".strip()[:64],
        "ImageType": ["DERIVED", "SECONDARY", "AXIAL"],
        "Laterality": "",  # type 2C in General Series: empty, a head is not a paired organ
        "PatientPosition": str(getattr(reference, "PatientPosition", "") or "HFS"),  # 2C for CT: the MR's, else head first supine
        "Manufacturer": GENERATOR_NAME,
        "SoftwareVersions": __version__,
        "ContentDate": now.strftime("%Y%m%d"),
        "ContentTime": now.strftime("%H%M%S"),
        "SeriesDate": now.strftime("%Y%m%d"),
        "SeriesTime": now.strftime("%H%M%S"),
        "FrameOfReferenceUID": str(getattr(reference, "FrameOfReferenceUID", "")) or generate_uid(),
        "PositionReferenceIndicator": "",
        "ImageOrientationPatient": [round(float(v), 8) for v in np.concatenate([row_direction, column_direction])],
        "PixelSpacing": [round(float(spacing[row_axis]), 6), round(float(spacing[column_axis]), 6)],
        "SliceThickness": round(float(spacing[axis]), 6),
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "BitsAllocated": 16,
        "BitsStored": 16,
        "HighBit": 15,
        "PixelRepresentation": 0,
        "RescaleIntercept": INTERCEPT,
        "RescaleSlope": 1,
        "RescaleType": "HU",
        "KVP": "",
        "AcquisitionNumber": 1,
        "BurnedInAnnotation": "NO",
        "DerivationDescription": "Synthetic CT generated from an MR image by a model; not an acquisition; not for diagnosis.",
        "ImageComments": json.dumps(provenance, separators=(",", ":"))[:MAX_COMMENT],
    }
    for key in PATIENT_KEYS + STUDY_KEYS:
        shared[key] = getattr(reference, key, "") if reference is not None else ""
    if reference is None:
        shared.update(StudyInstanceUID=generate_uid(), StudyDate=now.strftime("%Y%m%d"), StudyTime=now.strftime("%H%M%S"), **patient)
    normal = np.cross(row_direction, column_direction)
    source_depths = np.array([np.asarray(position) @ normal for _, _, position in sources])
    source_series = str(getattr(reference, "SeriesInstanceUID", "")) if reference is not None else ""
    referenced = _references(sources, source_series) if len(sources) and source_series else None  # the same in every file
    stored = np.clip(np.rint(np.asarray(ct.array, np.float64)) - INTERCEPT, 0, 65535).astype(np.uint16)
    files = []
    for index in range(ct.shape[axis]):
        voxel = [0, 0, 0]
        voxel[axis] = index
        position = (lps @ [*voxel, 1])[:3]
        frame = np.moveaxis(stored, (row_axis, column_axis, axis), (0, 1, 2))[:, :, index]
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, meta.TransferSyntaxUID = UID(CT_IMAGE_STORAGE), generate_uid(), ExplicitVRLittleEndian
        name = f"CT{index + 1:04d}.dcm"
        ds = FileDataset(name, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE_STORAGE, meta.MediaStorageSOPInstanceUID
        for key, value in shared.items():
            setattr(ds, key, value)
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [round(float(v), 6) for v in position]
        ds.SliceLocation = round(float(position @ normal), 6)
        if len(sources) and source_series:
            nearest = sources[int(np.argmin(np.abs(source_depths - position @ normal)))]
            source = Dataset()
            source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID = nearest[0], nearest[1]
            ds.SourceImageSequence = DicomSequence([source])
            ds.ReferencedSeriesSequence = referenced
        ds.Rows, ds.Columns = int(frame.shape[0]), int(frame.shape[1])
        ds.PixelData = np.ascontiguousarray(frame).tobytes()
        ds.save_as(staging / name, enforce_file_format=True)
        files.append(staging / name)
    return files
