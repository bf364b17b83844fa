"""``Volume``: a voxel array plus its 4x4 IJK->RAS matrix, and reading/writing NIfTI, NRRD and MHA.

The array is indexed ``[i, j, k]`` (the first index runs fastest in the file). Files are read
through SimpleITK (which works in LPS); the LPS<->RAS flip happens here and only here. NIfTI is
written with nibabel so that the provenance record can go into a header extension; NRRD and MHA
are written by SimpleITK with the record as key/value fields. Every write goes to a temporary
file in the destination folder and is renamed only once complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Cancelled, InputError, OutputError
from .image import LPS_TO_RAS as LPS_TO_RAS  # re-exported: the readers and writers' public names
from .image import Volume as Volume

SUPPORTED_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
OUTPUT_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")  # single-file formats, so a rename is atomic
MAX_VOXELS = 1024**3  # refuse headers that declare absurd sizes before reading any data
PROVENANCE_KEY = "DiffusionSynth_provenance"
SYNTHETIC_MARKER = "SYNTHETIC"
_FORMATS_HINT = "Give a 3D image as NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd), or DICOM (a folder of one series, or one file of it)."


# --------------------------------------------------------------------------------------------- SimpleITK


def to_sitk(volume: Volume, dtype: Any | None = None):  # -> sitk.Image
    """A SimpleITK image (LPS) with the volume's geometry."""
    import SimpleITK as sitk

    array = volume.array if dtype is None else volume.array.astype(dtype)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    ijk_to_lps = LPS_TO_RAS @ volume.ijk_to_ras
    spacing = np.linalg.norm(ijk_to_lps[:3, :3], axis=0)
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection([float(v) for v in (ijk_to_lps[:3, :3] / spacing).ravel()])
    image.SetOrigin([float(v) for v in ijk_to_lps[:3, 3]])
    return image


def from_sitk(image) -> Volume:
    """A ``Volume`` from a 3D scalar SimpleITK image."""
    import SimpleITK as sitk

    spacing = np.array(image.GetSpacing(), dtype=np.float64)
    direction = np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = direction * spacing
    ijk_to_lps[:3, 3] = image.GetOrigin()
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)
    return Volume(array, LPS_TO_RAS @ ijk_to_lps)


# --------------------------------------------------------------------------------------------- reading


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in SUPPORTED_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return ""


def read_volume(path: str | os.PathLike, what: str = "image") -> Volume:
    """Read a 3D scalar image; any problem is an ``InputError`` naming the file and the fix.

    Args:
        path: NIfTI, NRRD or MHA file; or DICOM: a folder holding one series, one file of a series, or a DICOM-SEG.
        what: what the file is for ("MR image", "mask"...), used in messages.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise InputError(f"The {what} '{path}' does not exist. Check the path.")
    if path.is_dir() or (not _suffix(path) and path.stat().st_size > 0 and _looks_like_dicom(path)):
        return _checked_dicom(path, what)
    if not _suffix(path):
        raise InputError(f"The {what} '{path}' has an unsupported extension. {_FORMATS_HINT}")
    if path.stat().st_size == 0:
        raise InputError(f"The {what} '{path}' is an empty file. {_FORMATS_HINT}")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise InputError(f"The {what} '{path}' could not be read as an image (corrupted or not an image file). {_FORMATS_HINT}") from None
    size = reader.GetSize()
    dims = len(size)
    if reader.GetNumberOfComponents() != 1:
        raise InputError(
            f"The {what} '{path}' has {reader.GetNumberOfComponents()} components per voxel (a vector or colour image); give a scalar (grey-level) 3D image."
        )
    if dims == 4 and size[3] == 1:
        dims = 3
    if dims != 3:
        raise InputError(f"The {what} '{path}' is a {dims}D image of size {list(size)}; give a single 3D volume.")
    if min(size[:3]) < 2:
        raise InputError(f"The {what} '{path}' has size {list(size[:3])}: a single slice is a 2D image; give a 3D volume.")
    if float(np.prod(np.array(size, dtype=np.float64))) > MAX_VOXELS:
        raise InputError(f"The {what} '{path}' declares {list(size)} voxels, more than this tool handles; check the file.")
    spacing = np.array(reader.GetSpacing()[:3])
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 1e-3) or np.any(spacing > 1e3):
        raise InputError(
            f"The {what} '{path}' has voxel spacing {[float(v) for v in np.round(spacing, 6)]} mm; spacing must be between 0.001 and 1000 mm. Fix the header."
        )
    direction = np.array(reader.GetDirection()).reshape(len(size), -1)[:3, :3]
    origin = np.array(reader.GetOrigin()[:3])
    if not (np.all(np.isfinite(direction)) and np.all(np.isfinite(origin))) or abs(np.linalg.det(direction)) < 1e-6:
        raise InputError(
            f"The {what} '{path}' has an invalid orientation: its direction matrix is singular or not finite "
            f"({[float(v) for v in np.round(direction.ravel(), 4)]}). Fix the header."
        )
    volume = _read_voxels(reader, path, what)
    if not np.issubdtype(volume.array.dtype, np.number):
        raise InputError(f"The {what} '{path}' does not hold numbers.")
    if volume.array.dtype.kind == "f" and not np.all(np.isfinite(volume.array)):
        raise InputError(f"The {what} '{path}' contains NaN or infinite values; fix or mask them first.")
    return volume


def _looks_like_dicom(path: Path) -> bool:
    from .dicom_read import looks_like_dicom

    return looks_like_dicom(path)


def _checked_dicom(path: Path, what: str) -> Volume:
    """A DICOM series or DICOM-SEG (``dicom_read``), held to the same limits as the other formats."""
    from .dicom_read import read_dicom

    volume = read_dicom(path, what)
    if min(volume.shape) < 2:
        raise InputError(f"The {what} '{path}' has size {list(volume.shape)}: a single slice is a 2D image; give a 3D volume.")
    if float(np.prod(np.array(volume.shape, dtype=np.float64))) > MAX_VOXELS:
        raise InputError(f"The {what} '{path}' has {list(volume.shape)} voxels, more than this tool handles.")
    if not np.all(np.isfinite(volume.ijk_to_ras)) or abs(np.linalg.det(volume.ijk_to_ras[:3, :3])) < 1e-9:
        raise InputError(f"The {what} '{path}' has an invalid geometry (its slice positions or orientation are degenerate).")
    return volume


def _read_voxels(reader, path: Path, what: str) -> Volume:
    """Voxels with the geometry ITK reads from the header (as Slicer does).

    NIfTI voxels come from nibabel: ITK silently turns NaN into 0 and reads truncated gzip
    streams without complaint, and both must be refused, not hidden.
    """
    import SimpleITK as sitk

    if _suffix(path) in (".nii", ".nii.gz"):
        import nibabel as nib

        try:
            array = np.asanyarray(nib.load(str(path)).dataobj)  # type: ignore[attr-defined]  # load() is typed as the base class
        except Cancelled:
            raise
        except Exception:  # noqa: BLE001 - any failure here means the voxel data is damaged
            raise InputError(f"The {what} '{path}' is truncated or corrupted: its voxel data could not be read.") from None
        array = array.reshape(array.shape[:3])
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        header = sitk.Image([1, 1, 1], sitk.sitkUInt8)
        header.SetSpacing(reader.GetSpacing()[:3])
        header.SetOrigin(reader.GetOrigin()[:3])
        direction = np.array(reader.GetDirection()).reshape(len(reader.GetSize()), -1)[:3, :3]
        header.SetDirection([float(v) for v in direction.ravel()])
        geometry = from_sitk(header)
        return Volume(array, geometry.ijk_to_ras)
    try:
        image = reader.Execute()
    except RuntimeError:
        raise InputError(f"The {what} '{path}' is truncated or corrupted: its voxel data could not be read.") from None
    if image.GetDimension() == 4:
        image = image[:, :, :, 0]
    return from_sitk(image)


def read_provenance(path: str | os.PathLike) -> dict | None:
    """The provenance record written by ``write_volume``, or ``None`` when the file has none."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix in (".nii", ".nii.gz"):
        import nibabel as nib

        try:
            image = nib.load(str(path))
        except Exception:  # noqa: BLE001 - any nibabel failure means "not readable"
            raise InputError(f"'{path}' could not be read as NIfTI.") from None
        for extension in image.header.extensions:  # type: ignore[attr-defined]  # a NIfTI header, typed as the base class
            content = extension.get_content()
            text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
            if PROVENANCE_KEY in text:
                try:
                    return json.loads(text)[PROVENANCE_KEY]
                except (ValueError, KeyError, TypeError):
                    return None
        return None
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise InputError(f"'{path}' could not be read as an image.") from None
    if PROVENANCE_KEY in reader.GetMetaDataKeys():
        try:
            return json.loads(reader.GetMetaData(PROVENANCE_KEY))
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------------------------- writing


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before any computation, when ``path`` cannot become an output file (its folder: ``check_output_folder``)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"The output '{path}' is an existing folder; give a file name such as '{path / 'out.nii.gz'}'.")
    if _suffix(path) not in OUTPUT_SUFFIXES:
        raise OutputError(f"The output '{path}' has an unsupported extension. Use .nii.gz, .nii, .nrrd or .mha.")
    check_output_folder(path.parent)
    return path


def check_output_folder(path: str | os.PathLike) -> Path:
    """The one rule for every output location, checked before any computation.

    An existing folder must be writable; a missing one is made when the first output is written
    (``make_output_folder``), provided its parent folder exists; a missing parent is refused.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"The output folder '{path}' is an existing file, not a folder; choose another output location.")
    if path.is_dir():
        _probe_folder(path)
        return path
    parent = path.parent
    if not parent.exists():
        raise OutputError(f"The output folder '{path}' cannot be made: its parent folder '{parent}' does not exist; create it first.")
    _probe_folder(parent)
    return path


def make_output_folder(path: str | os.PathLike) -> bool:
    """Make a folder that ``check_output_folder`` accepted; True when this call made it (so a failure may remove it)."""
    path = Path(path)
    if path.is_dir():
        return False
    try:
        path.mkdir()
    except FileExistsError:
        return False
    except OSError as error:
        raise OutputError(f"The output folder '{path}' cannot be made ({error.strerror or error}).") from None
    return True


def _probe_folder(folder: Path) -> None:
    """Create and drop an unnamed file in ``folder``: permission bits alone say nothing to root, or in /proc."""
    if not folder.is_dir():
        raise OutputError(f"'{folder}' is a file, not a folder; choose another output location.")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputError(f"The folder '{folder}' is not writable ({error.strerror or error}); choose another output location.") from None


def write_volume(volume: Volume, path: str | os.PathLike, provenance: dict | None = None) -> Path:
    """Write atomically (temporary file, then rename) with a provenance record: ``provenance``, else the volume's own
    (a pipeline's output carries one, so a file written from the Python API is marked synthetic as the command line's)."""
    provenance = volume.provenance if provenance is None else provenance
    path = check_writable(path)
    suffix = _suffix(path)
    created = make_output_folder(path.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}", dir=path.parent)
    except OSError as error:
        _remove_if_empty(path.parent, created)
        raise OutputError(f"The output '{path}' cannot be created ({error.strerror or error}).") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if suffix in (".nii", ".nii.gz"):
            _write_nifti(volume, tmp, provenance)
        else:
            _write_sitk(volume, tmp, provenance, suffix)
        tmp.chmod(0o644)  # mkstemp makes owner-only files; outputs are ordinary files
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:  # disk full, folder removed, SimpleITK write failure
        tmp.unlink(missing_ok=True)
        _remove_if_empty(path.parent, created)
        raise OutputError(f"Writing '{path}' failed ({getattr(error, 'strerror', None) or error}); nothing was written.") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        _remove_if_empty(path.parent, created)
        raise
    return path


def _remove_if_empty(folder: Path, created: bool) -> None:
    """Undo ``make_output_folder`` after a failed write: a folder this run made, if still empty."""
    if created and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _write_nifti(volume: Volume, path: Path, provenance: dict | None) -> None:
    import nibabel as nib

    image = nib.Nifti1Image(np.asarray(volume.array), volume.ijk_to_ras)
    image.header.set_qform(volume.ijk_to_ras, code=1)
    image.header.set_sform(volume.ijk_to_ras, code=1)
    image.header.set_xyzt_units("mm", "sec")
    if provenance is not None:
        task = str(provenance.get("task", ""))
        image.header["descrip"] = f"{SYNTHETIC_MARKER} DiffusionSynth {task}"[:79].encode()
        record = json.dumps({PROVENANCE_KEY: provenance}).encode()
        image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", record))
    nib.save(image, str(path))


def _write_sitk(volume: Volume, path: Path, provenance: dict | None, suffix: str) -> None:
    import SimpleITK as sitk

    image = to_sitk(volume)
    if provenance is not None:
        image.SetMetaData(PROVENANCE_KEY, json.dumps(provenance))
        image.SetMetaData("DiffusionSynth_synthetic", "true")
    sitk.WriteImage(image, str(path), useCompression=suffix in (".nrrd", ".mha"))
