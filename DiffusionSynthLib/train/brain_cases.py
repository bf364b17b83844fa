"""Brain MR training cases with any subset of the four sequences, z-scored, in the canonical axis order.

A case is a folder holding at least one of ``t1n``, ``t1c``, ``t2w``, ``t2f`` (``.nii.gz``), found
in the data folder or one level below it (so ``--data ../shared/data`` finds both the four-sequence
cases and the FLAIR/T1c-only cases). Optional files: ``brain_mask.nii.gz`` (else the brain is the
voxels non-zero in any sequence), ``tumour_labels.nii.gz`` (expert labels),
``tumour_seg_predicted.nii.gz`` or ``tumour_mask.nii.gz`` (a whole-tumour mask, no sub-regions:
``diffusionsynth prepare-case`` writes it). Sequences are resampled onto the first one's grid, reoriented to
RAS, then to the model's spacing, and z-scored inside the brain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..geometry import bounding_box, resample_like, resample_to_spacing, to_canonical
from ..priors.glioma import label_convention
from ..priors.regression import zscore
from ..sequences import SEQUENCES
from ..tasks.impute import BOX_MARGIN
from ..volume import Volume, read_volume

EXPERT_LABELS, PREDICTED_LABELS, WHOLE_TUMOUR = "tumour_labels.nii.gz", "tumour_seg_predicted.nii.gz", "tumour_mask.nii.gz"
TUMOUR_FILES = (EXPERT_LABELS, PREDICTED_LABELS, WHOLE_TUMOUR)  # the first found is the case's tumour


@dataclass
class BrainCase:
    name: str
    images: dict[str, np.ndarray]  # z-scored inside the brain, only the sequences the case has
    brain: np.ndarray  # bool
    tumour: np.ndarray | None  # integer labels (0 background) when the case has a segmentation
    raw_stats: dict[str, tuple[float, float]]  # brain mean and SD of each raw sequence (not for z-scored sources)
    tumour_convention: str | None = None  # the labels' convention (``priors.glioma.label_convention``); None without labels


def find_case_folders(data: Path, minimum: int = 1) -> list[Path]:
    """Folders in ``data`` or one level below holding at least ``minimum`` sequence files (sorted, unique)."""
    if not data.is_dir():
        raise InputError(f"The training data '{data}' is not a folder.")
    candidates = [data, *sorted(p for p in data.iterdir() if p.is_dir())]
    candidates += [q for p in candidates[1:] for q in sorted(p.iterdir()) if q.is_dir()]
    return [p for p in candidates if sum((p / f"{s}.nii.gz").is_file() for s in SEQUENCES) >= minimum]


def _looks_zscored(values: np.ndarray) -> bool:
    return abs(float(values.mean())) < 1.0 and float(values.std()) < 5.0  # raw MR intensities are never this small


CROP_MARGIN = BOX_MARGIN  # voxels kept around the brain by ``crop``: the box the networks see at inference


def load_case(folder: Path, spacing: list[float], crop: bool = False) -> BrainCase:
    """One case at ``spacing`` in RAS order; ``crop``: only the brain's bounding box (plus ``CROP_MARGIN``), which is
    all training reads (the images are zero outside the brain), at about a third of the memory."""
    present = [s for s in SEQUENCES if (folder / f"{s}.nii.gz").is_file()]
    volumes = {s: read_volume(folder / f"{s}.nii.gz", f"{s} image") for s in present}
    reference = to_canonical(volumes[present[0]])
    on_grid = {s: resample_like(to_canonical(v), reference) for s, v in volumes.items()}
    if (folder / "brain_mask.nii.gz").is_file():
        mask_volume = resample_like(to_canonical(read_volume(folder / "brain_mask.nii.gz", "brain mask")), reference, "nearest")
        brain_full = mask_volume.array > 0.5
    else:
        brain_full = np.zeros(reference.shape, bool)
        for volume in on_grid.values():
            brain_full |= volume.array != 0
    raw_stats = {}
    for name, volume in on_grid.items():
        values = volume.array[brain_full]
        if values.size and not _looks_zscored(values):
            raw_stats[name] = (float(values.mean()), float(values.std()))
    small = {s: resample_to_spacing(v, spacing) for s, v in on_grid.items()}
    grid = small[present[0]]
    brain = resample_like(Volume(brain_full.astype(np.float32), reference.ijk_to_ras), grid).array > 0.5
    brain = ndimage.binary_fill_holes(brain)
    images = {s: zscore(v.array, brain) for s, v in small.items()}
    tumour, convention = None, None
    for file in TUMOUR_FILES:
        if (folder / file).is_file():
            labels = resample_like(to_canonical(read_volume(folder / file, "tumour labels")), reference, "nearest")
            tumour = np.rint(resample_like(labels, grid, "nearest").array).astype(np.int16)
            if file == WHOLE_TUMOUR:  # no sub-region labels to learn from
                tumour = (tumour > 0).astype(np.int16)
            else:
                convention = label_convention(tumour, expert=file == EXPERT_LABELS)
            break
    if crop and brain.any():
        box = bounding_box(brain, CROP_MARGIN)
        images = {name: np.ascontiguousarray(image[box]) for name, image in images.items()}
        brain = np.ascontiguousarray(brain[box])
        tumour = None if tumour is None else np.ascontiguousarray(tumour[box])
    return BrainCase(folder.name, images, brain, tumour, raw_stats, convention)


def data_folders(data: Path | Sequence[Path]) -> list[Path]:
    """``--data`` as a list: one folder or several."""
    return [Path(data)] if isinstance(data, (str, Path)) else [Path(d) for d in data]


def describe_data(data: Path | Sequence[Path]) -> str:
    """The data folders as a message names them: 'a' or 'a', 'b'."""
    return ", ".join(f"'{d}'" for d in data_folders(data))


def find_cases(data: Path | Sequence[Path], minimum: int = 1) -> list[Path]:
    """The case folders of every data folder (``find_case_folders``); two cases of one name are refused (folds and
    validation name cases)."""
    folders = [f for d in data_folders(data) for f in find_case_folders(d, minimum)]
    seen: dict[str, Path] = {}
    for folder in folders:
        if folder.name in seen and seen[folder.name].resolve() != folder.resolve():
            raise InputError(f"Two training cases are named '{folder.name}' ({seen[folder.name]} and {folder}); rename one (cases are chosen by name).")
        seen.setdefault(folder.name, folder)
    return list(seen.values())


def load_brain_cases(
    data: Path | Sequence[Path], spacing: list[float], exclude: Sequence[str] | None = None, minimum: int = 1, log=print, crop: bool = False
) -> list[BrainCase]:
    """Every case under ``data`` (one folder or several) with at least ``minimum`` sequences, except the ``exclude``
    names; ``crop``: each to its brain's box (``load_case``)."""
    folders = [p for p in find_cases(data, minimum) if p.name not in (exclude or [])]
    if not folders:
        raise InputError(
            f"No case folders with at least {minimum} of {', '.join(f'{s}.nii.gz' for s in SEQUENCES)} were found in {describe_data(data)} or one level below."
        )
    cases = [load_case(folder, spacing, crop) for folder in folders]
    log(f"{len(cases)} case(s): " + ", ".join(f"{c.name} ({'+'.join(c.images)})" for c in cases))
    return cases


def typical_stats(cases: list[BrainCase]) -> dict[str, list[float]]:
    """Per sequence, the median brain mean and SD of the raw-intensity cases (to put outputs on a familiar scale)."""
    out = {}
    for name in SEQUENCES:
        stats = [c.raw_stats[name] for c in cases if name in c.raw_stats]
        out[name] = [float(np.median([s[0] for s in stats])), float(np.median([s[1] for s in stats]))] if stats else [0.0, 1.0]
    return out
