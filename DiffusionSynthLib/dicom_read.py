"""DICOM in: one image series (a folder, or one file of it) or a DICOM-SEG, as a ``Volume``.

A folder must hold exactly one image series (a DICOM-SEG beside it is ignored when an image is
asked for); several series are refused, each listed with its description, UID and file count.
Regular series, oblique ones included, are read by highdicom with their exact geometry, as are enhanced
(multi-frame) images, one file holding every frame. A series
whose slices are not stacked along their normal (CT gantry tilt) or unevenly spaced is resampled,
as dcm2niix does, onto a regular grid with the slices' own row and column axes and the median
slice gap: each slice keeps its in-plane position (a shear for tilt) and depth is interpolated
linearly between the two nearest slices. A DICOM-SEG becomes a label map (each segment's number;
any non-zero voxel is inside) on its own frames' grid.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .image import LPS_TO_RAS, Volume

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
MAX_FILES = 5000


def looks_like_dicom(path: Path) -> bool:
    """A folder, a ``.dcm``/``.dicom``/``.ima`` file, or a file with the DICOM preamble ('DICM' at byte 128)."""
    if path.is_dir():
        return True
    if path.name.lower().endswith(DICOM_SUFFIXES):
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def is_segmentation(path: str | Path) -> bool:
    """Whether ``path`` is a DICOM-SEG file (its frames cover only the segmented region, on their own grid)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.is_file() or not looks_like_dicom(path):
        return False
    try:
        return str(pydicom.dcmread(path, stop_before_pixels=True).get("SOPClassUID", "")) == SEG_SOP_CLASS
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return False


def _headers(files: list[Path]) -> list[tuple[Path, Any]]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    out = []
    for file in files:
        try:
            header = pydicom.dcmread(file, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            continue
        if "SOPClassUID" in header and "SeriesInstanceUID" in header:
            out.append((file, header))
    return out


def series_files(path: Path, what: str) -> list[Path]:
    """The files of the one series ``path`` names (a folder holding it, or one of its files)."""
    return [file for file, _ in series_headers(path, what)]


def series_headers(path: Path, what: str) -> list[tuple[Path, Any]]:
    """(file, header without pixels) of each file of the one series ``path`` names, in file-name order."""
    folder = path if path.is_dir() else path.parent
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if path.is_dir() else sorted(p for p in folder.iterdir() if p.is_file())
    if len(files) > MAX_FILES:
        raise InputError(f"The {what} folder '{folder}' holds {len(files)} files, more than one series should; give the series' own folder.")
    headers = _headers(files)
    if not path.is_dir():
        mine = [h for f, h in headers if f == path]
        if not mine:
            raise InputError(
                f"The {what} '{path}' could not be read as DICOM (corrupted or not DICOM); give a DICOM file, a folder of one series, NIfTI, NRRD or MHA."
            )
        uid = mine[0].SeriesInstanceUID
        return [(f, h) for f, h in headers if h.SeriesInstanceUID == uid]
    groups: dict[str, list[tuple[Path, Any]]] = defaultdict(list)
    for file, header in headers:
        groups[str(header.SeriesInstanceUID)].append((file, header))
    images = {uid: group for uid, group in groups.items() if str(group[0][1].SOPClassUID) != SEG_SOP_CLASS}
    chosen = images or groups
    if not chosen:
        raise InputError(f"The {what} folder '{folder}' holds no readable DICOM files; give a folder of one DICOM series, or a NIfTI, NRRD or MHA file.")
    if len(chosen) > 1:
        listing = "; ".join(
            f"'{group[0][1].get('SeriesDescription', '(no description)')}' (series {uid}, {len(group)} files)" for uid, group in sorted(chosen.items())
        )
        raise InputError(f"The {what} folder '{folder}' holds {len(chosen)} DICOM series: {listing}. Give the folder of one series, or one file of it.")
    return list(next(iter(chosen.values())))


def dicom_provenance(path: str | Path) -> dict | None:
    """The provenance record a synthetic DICOM series of this tool carries in ``ImageComments`` (a folder of the
    series or one of its files), or ``None`` when it has none."""
    import json

    import pydicom

    header = pydicom.dcmread(series_files(Path(path), "DICOM file")[0], stop_before_pixels=True)
    try:
        record = json.loads(str(header.get("ImageComments", "")))
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("synthetic") is True else None


def read_dicom(path: str | Path, what: str = "image") -> Volume:
    """The series (or DICOM-SEG) that ``path`` names, on its own grid (RAS world coordinates)."""
    import pydicom

    path = Path(path)
    files = series_files(path, what)
    datasets = [pydicom.dcmread(file) for file in files]
    if str(datasets[0].SOPClassUID) == SEG_SOP_CLASS:
        return _segmentation(files[0], what)
    multiframe = [d for d in datasets if int(d.get("NumberOfFrames", 1) or 1) > 1]
    if multiframe:
        if len(datasets) > 1:
            raise InputError(f"The {what} '{path}' mixes a multi-frame (enhanced) file with {len(datasets) - 1} other(s) in one series; give the one file.")
        return _multiframe(multiframe[0], path, what)
    datasets = [d for d in datasets if "ImagePositionPatient" in d and "ImageOrientationPatient" in d and "PixelData" in d]
    if len(datasets) < 2:
        raise InputError(f"The {what} '{path}' has {len(datasets)} image slice(s) with a position; a 3D volume needs at least two.")
    import highdicom as hd

    try:
        volume = hd.get_volume_from_series(datasets)
        array, affine = np.asarray(volume.array), np.asarray(volume.affine)
    except ValueError:  # not a regular stack: gantry tilt or uneven gaps
        array, affine = _regular_stack(datasets)
        warnings.warn(
            ResampledSeries(
                f"The {what} '{path}' {_irregularity(datasets)}: it was resampled onto a regular grid in its slices' "
                f"orientation ({np.linalg.norm(affine[:3, 0]):.3g} mm apart); outputs lie on that grid, not on the acquired slices."
            ),
            stacklevel=2,
        )
    array = array.astype(np.float32)
    if np.all(array == np.rint(array)) and array.min() >= -32768 and array.max() <= 32767:
        array = array.astype(np.int16)
    return Volume(np.ascontiguousarray(array), LPS_TO_RAS @ affine)


def _multiframe(dataset, path: Path, what: str) -> Volume:
    """An enhanced (multi-frame) image, its frames stacked by highdicom onto their regular 3D grid."""
    import highdicom as hd

    try:
        volume = hd.Image.from_dataset(dataset, copy=False).get_volume()
    except (ValueError, RuntimeError, AttributeError, KeyError) as error:
        raise InputError(
            f"The {what} '{path}' is a multi-frame (enhanced) DICOM whose frames do not form one regular 3D volume ({error}); "
            "export it as one series of parallel, evenly spaced frames, or convert it to NIfTI."
        ) from None
    array = np.asarray(volume.array).astype(np.float32)
    if np.all(array == np.rint(array)) and array.min() >= -32768 and array.max() <= 32767:
        array = array.astype(np.int16)
    return Volume(np.ascontiguousarray(array), LPS_TO_RAS @ np.asarray(volume.affine))


def _segmentation(file: Path, what: str) -> Volume:
    import highdicom as hd

    try:
        volume = hd.seg.segread(file).get_volume(combine_segments=True)
    except (ValueError, RuntimeError, AttributeError) as error:
        raise InputError(f"The {what} DICOM-SEG '{file}' could not be turned into a volume ({error}).") from None
    return Volume(np.ascontiguousarray(np.asarray(volume.array).astype(np.uint8)), LPS_TO_RAS @ np.asarray(volume.affine))


class ResampledSeries(UserWarning):
    """A DICOM series with gantry tilt or uneven slice gaps was resampled onto a regular grid."""


def _irregularity(datasets: list) -> str:
    """What makes a series irregular, in words: gantry tilt, uneven gaps, or both."""
    orientation = np.array(datasets[0].ImageOrientationPatient, float)
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array(sorted((np.array(d.ImagePositionPatient, float) for d in datasets), key=lambda p: float(p @ normal)))
    steps = np.diff(positions, axis=0)
    gaps = steps @ normal
    tilt = float(np.degrees(np.arctan2(np.linalg.norm(steps - np.outer(gaps, normal), axis=1), np.abs(gaps)).max())) if len(steps) else 0.0
    found = []
    if tilt > 0.1:
        found.append(f"has gantry tilt ({tilt:.1f} degrees between its stacking and its slices' normal)")
    if len(gaps) and gaps.max() - gaps.min() > 0.01 * max(float(np.median(gaps)), 1e-6):
        found.append(f"has uneven slice gaps ({gaps.min():.3g} to {gaps.max():.3g} mm)")
    return " and ".join(found) or "is not a regular stack"


def _regular_stack(datasets: list) -> tuple[np.ndarray, np.ndarray]:
    """(slice, row, column) voxels on a regular grid and its LPS affine, from parallel slices at any positions."""
    from scipy import ndimage

    orientation = np.array(datasets[0].ImageOrientationPatient, float)
    if any(not np.allclose(np.array(d.ImageOrientationPatient, float), orientation, atol=1e-4) for d in datasets):
        raise InputError("The DICOM series mixes slice orientations; give a series of parallel slices.")
    along_row, along_column = orientation[:3], orientation[3:]  # directions of increasing column and row index
    normal = np.cross(along_row, along_column)
    row_spacing, column_spacing = (float(v) for v in datasets[0].PixelSpacing)
    positions = np.array([np.array(d.ImagePositionPatient, float) for d in datasets])
    depth = positions @ normal
    order = np.argsort(depth)
    datasets, positions, depth = [datasets[i] for i in order], positions[order], depth[order]
    gaps = np.diff(depth)
    if np.any(gaps < 1e-3):
        raise InputError("The DICOM series has two slices at the same depth (a duplicate or another series mixed in); give one series.")
    step = float(np.median(gaps))
    slices = [d.pixel_array.astype(np.float32) * float(d.get("RescaleSlope", 1) or 1) + float(d.get("RescaleIntercept", 0) or 0) for d in datasets]
    fill = float(min(s.min() for s in slices))
    shifts = []
    for position, d in zip(positions, depth):
        offset = position - positions[0] - (d - depth[0]) * normal
        shifts.append((float(offset @ along_column) / row_spacing, float(offset @ along_row) / column_spacing))
    moved = [ndimage.shift(s, shift, order=1, cval=fill) for s, shift in zip(slices, shifts)]
    count = int(round((depth[-1] - depth[0]) / step)) + 1
    out = np.empty((count, *slices[0].shape), np.float32)
    for index in range(count):
        target = depth[0] + index * step
        upper = int(np.clip(np.searchsorted(depth, target), 1, len(depth) - 1))
        weight = float(np.clip((target - depth[upper - 1]) / (depth[upper] - depth[upper - 1]), 0.0, 1.0))
        out[index] = (1.0 - weight) * moved[upper - 1] + weight * moved[upper]
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = normal * step, along_column * row_spacing, along_row * column_spacing
    affine[:3, 3] = positions[0]
    return out, affine
