"""Hostile image files written byte by byte: headers that lie, broken data, absurd geometry.

NRRD and MetaImage headers are plain text written here by hand, so any spacing, direction or size
can be declared, including ones that SimpleITK and nibabel refuse to write.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

NRRD_TYPES = {"uint8": "uint8", "int16": "int16", "uint16": "uint16", "int32": "int32", "float32": "float", "float64": "double"}
MHA_TYPES = {"uint8": "MET_UCHAR", "int16": "MET_SHORT", "uint16": "MET_USHORT", "int32": "MET_INT", "float32": "MET_FLOAT", "float64": "MET_DOUBLE"}


def _raw(array: np.ndarray) -> bytes:
    """Voxels with the first index running fastest, little-endian."""
    return np.asarray(array).astype(array.dtype.newbyteorder("<")).tobytes(order="F")


def write_nrrd(path: Path, array: np.ndarray, spacing, direction=None, origin=(0.0, 0.0, 0.0), sizes=None) -> Path:
    """A NRRD with ``space directions`` = direction columns times spacing; ``sizes`` may lie about the data."""
    direction = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64)
    with np.errstate(all="ignore"):
        vectors = [direction[:, a] * spacing[a] for a in range(3)]
    sizes = list(array.shape) if sizes is None else list(sizes)
    header = [
        "NRRD0004",
        f"type: {NRRD_TYPES[array.dtype.name]}",
        "dimension: 3",
        "space: left-posterior-superior",
        "sizes: " + " ".join(str(s) for s in sizes),
        "space directions: " + " ".join("(" + ",".join(repr(float(v)) for v in vector) + ")" for vector in vectors),
        "space origin: (" + ",".join(repr(float(v)) for v in origin) + ")",
        "endian: little",
        "encoding: raw",
    ]
    path.write_bytes(("\n".join(header) + "\n\n").encode() + _raw(array))
    return path


def write_mha(path: Path, array: np.ndarray, spacing, direction=None, origin=(0.0, 0.0, 0.0), sizes=None) -> Path:
    """A MetaImage with any ElementSpacing and TransformMatrix; ``sizes`` may lie about the data."""
    direction = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64)
    sizes = list(array.shape) if sizes is None else list(sizes)
    header = (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\nCompressedData = False\n"
        f"TransformMatrix = {' '.join(repr(float(v)) for v in direction.T.ravel())}\n"
        f"Offset = {' '.join(repr(float(v)) for v in origin)}\n"
        f"ElementSpacing = {' '.join(repr(float(v)) for v in spacing)}\n"
        f"DimSize = {' '.join(str(s) for s in sizes)}\n"
        f"ElementType = {MHA_TYPES[array.dtype.name]}\nElementDataFile = LOCAL\n"
    )
    path.write_bytes(header.encode() + _raw(array))
    return path


def write_nifti(path: Path, array: np.ndarray, spacing, direction=None, origin=(0.0, 0.0, 0.0)) -> Path:
    """A NIfTI whose sform is written field by field (nibabel refuses to decompose singular affines)."""
    direction = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64)
    affine = np.eye(4)
    with np.errstate(all="ignore"):
        affine[:3, :3] = direction * np.asarray(spacing, dtype=np.float64)
    affine[:3, 3] = origin
    header = nib.Nifti1Header()
    header.set_data_dtype(array.dtype)
    header.set_data_shape(array.shape)
    header["srow_x"], header["srow_y"], header["srow_z"] = affine[0], affine[1], affine[2]
    header["sform_code"], header["qform_code"] = 1, 0
    with np.errstate(invalid="ignore"):
        header["pixdim"][1:4] = np.abs(np.asarray(spacing, dtype=np.float64))
    nib.save(nib.Nifti1Image(array, None, header=header), str(path))
    return path


WRITERS = {".nrrd": write_nrrd, ".mha": write_mha, ".nii.gz": write_nifti}


def head_like(shape=(20, 20, 20), seed: int = 0) -> np.ndarray:
    """A bright ball in faint noise: enough foreground for a head mask."""
    grid = np.indices(shape, dtype=np.float32)
    centre = (np.array(shape, dtype=np.float32) - 1)[:, None, None, None] / 2
    radius = np.sqrt(((grid - centre) ** 2).sum(axis=0))
    noise = np.random.default_rng(seed).random(shape, dtype=np.float32)
    return (np.where(radius < min(shape) / 3, 100.0, 0.0) + 5 * noise).astype(np.float32)


def bad_image_files(folder: Path, real_image: Path) -> dict[str, Path]:
    """One file per kind of damage, named after it. ``real_image`` is a real .nii.gz to damage."""
    folder.mkdir(parents=True, exist_ok=True)
    data = real_image.read_bytes()
    ball = head_like()
    nan, inf = ball.copy(), ball.copy()
    nan[3, 4, 5] = np.nan
    inf[6, 7, 8] = -np.inf
    corrupted = bytearray(data)
    middle = len(data) // 2
    corrupted[middle : middle + 4096] = os.urandom(4096)
    files = {
        "missing": folder / "missing.nii.gz",
        "empty": folder / "empty.nii.gz",
        "truncated": folder / "truncated.nii.gz",
        "corrupted": folder / "corrupted.nii.gz",
        "garbage": folder / "garbage.nii.gz",
        "not gzip": folder / "not gzip.nii.gz",
        "wrong extension": folder / "real image.png",
        "folder": folder / "folder.nii.gz",
        "2D": folder / "flat.nii.gz",
        "single slice": folder / "slice.nii.gz",
        "4D": folder / "time.nii.gz",
        "vector": folder / "rgb.mha",
        "NaN": folder / "nan.nii.gz",
        "Inf": folder / "inf.nrrd",
        "constant": folder / "constant.nii.gz",
        "spacing 0": folder / "spacing zero.nrrd",
        "spacing 1e6": folder / "spacing huge.mha",
        "singular direction": folder / "singular.nrrd",
        "NaN geometry": folder / "nan geometry.nii.gz",
        "huge NRRD header": folder / "huge.nrrd",
        "huge MHA header": folder / "huge.mha",
        "lying size": folder / "lying size.mha",
    }
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["corrupted"].write_bytes(bytes(corrupted))
    files["garbage"].write_bytes(np.random.default_rng(1).bytes(5000))
    files["not gzip"].write_bytes(gzip.decompress(data)[:2000])  # plain NIfTI bytes cut short, named .nii.gz
    files["wrong extension"].write_bytes(data)
    files["folder"].mkdir(exist_ok=True)
    sitk.WriteImage(sitk.Image([30, 30], sitk.sitkFloat32), str(files["2D"]))
    sitk.WriteImage(sitk.Image([20, 20, 1], sitk.sitkFloat32), str(files["single slice"]))
    sitk.WriteImage(sitk.Image([8, 8, 8, 3], sitk.sitkFloat32), str(files["4D"]))
    sitk.WriteImage(sitk.Image([8, 8, 8], sitk.sitkVectorFloat32, 3), str(files["vector"]))
    write_nifti(files["NaN"], nan, (1.0, 1.0, 1.0))
    write_nrrd(files["Inf"], inf, (1.0, 1.0, 1.0))
    write_nifti(files["constant"], np.full((20, 20, 20), 7, np.int16), (1.0, 1.0, 1.0))
    write_nrrd(files["spacing 0"], ball, (0.0, 1.0, 1.0))
    write_mha(files["spacing 1e6"], ball, (1e6, 1.0, 1.0))
    write_nrrd(files["singular direction"], ball, (1.0, 1.0, 1.0), direction=[[1, 1, 0], [0, 0, 0], [0, 0, 1]])
    write_nifti(files["NaN geometry"], ball, (1.0, 1.0, 1.0), direction=np.full((3, 3), np.nan))
    write_nrrd(files["huge NRRD header"], ball[:2, :2, :2], (1.0, 1.0, 1.0), sizes=[100000] * 3)
    write_mha(files["huge MHA header"], ball[:2, :2, :2], (1.0, 1.0, 1.0), sizes=[100000] * 3)
    write_mha(files["lying size"], ball, (1.0, 1.0, 1.0), sizes=[20, 20, 40])  # declares twice the data there is
    return files


def digests(paths) -> dict[str, str]:
    """sha256 of every file under ``paths`` (files or folders); missing paths are left out."""
    result = {}
    for path in map(Path, paths):
        files = [p for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            result[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    return result


def listing(folder: Path) -> set[str]:
    """Every name below ``folder``, hidden ones included."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}
