"""Synthetic training cases: lesions added to healthy scans by inpainting (add mode), with their labels.

With a package that holds a lesion bank (``prior.lesions``) the inpainting draws a real tumour's
sub-region layout into the lesion (the case seed picks it, and the texture); with one that holds only a
glioma appearance (``prior.glioma``) the sub-regions are laid out in distance layers
(``priors.glioma.layout_subregions``). Either way they are written as ``label.nii.gz`` in the BraTS
2013 convention (1 necrosis, 2 oedema, 3 non-enhancing, 4 enhancing); with an older package the label
is 1 wherever the lesion was added.

Case ``i`` (``case_NNNN``, from 0) comes from source case ``i mod S`` (the input folder's case
folders in name order) with the case seed ``seed + i``, which draws the lesion mask (a smooth
random blob inside the brain, ``lesions.random_lesion_mask``) and the strength (uniform in
``STRENGTH``), and, with a lesion bank, the tumour's layout and texture; the inpainting is the package's default
(for prior packages its deterministic estimate): a case is reproducible on its own, whatever the count.
Each case is written into a hidden staging folder and renamed once complete, with its record
``case.json`` last; a rerun skips complete cases. Under torchrun (``RANK``, ``WORLD_SIZE``) rank
r does the cases with ``i mod WORLD_SIZE == r`` (no process group). ``manifest.csv`` is rebuilt
from the records, under a lock on the output folder, by every rank when it finishes, so the last
one writes the complete list.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..errors import InputError, OutputError
from ..intensity import brain_mask
from ..lesions import random_lesion_mask
from ..models.package import ModelPackage
from ..priors.glioma import layout_subregions
from ..provenance import make_provenance
from ..sequences import SEQUENCES
from ..volume import check_output_folder, read_volume, write_volume
from .inpaint import inpaint
from .run import default_samples

STRENGTH = (0.7, 1.4)  # x the fitted glioma contrast: the real gliomas' FLAIR lesions here span about that range around the median
RECORD = "case.json"
MANIFEST = "manifest.csv"
COLUMNS = ["case", "source_case", "seed", "strength", "mask_voxels", "sequences", "model_id", "steps", "rank", "synthetic"]


@dataclass
class SourceCase:
    name: str
    files: dict[str, Path]  # sequence name -> file, canonical order


@dataclass
class CasePlan:
    index: int
    name: str
    source: SourceCase
    seed: int


@dataclass
class AugmentResult:
    written: list[str]
    skipped: list[str]
    manifest: Path


def find_sources(input_dir: str | os.PathLike) -> list[SourceCase]:
    """Case folders (name order) holding at least one ``<sequence>.nii.gz`` (or ``.nii``)."""
    folder = Path(input_dir)
    if not folder.is_dir():
        raise InputError(f"The input folder '{folder}' does not exist or is not a folder; give the folder of case folders.")
    sources = []
    for case in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = {}
        for name in SEQUENCES:
            for suffix in (".nii.gz", ".nii"):
                if (case / f"{name}{suffix}").is_file():
                    files[name] = case / f"{name}{suffix}"
                    break
        if files:
            sources.append(SourceCase(case.name, files))
    if not sources:
        raise InputError(f"No case in '{folder}': expected one sub-folder per case holding any of {', '.join(n + '.nii.gz' for n in SEQUENCES)}.")
    return sources


def check_headers(source: SourceCase) -> None:
    """Cheap checks before any work: each file a readable 3D image, all of one case the same size."""
    import SimpleITK as sitk

    sizes = {}
    for name, path in source.files.items():
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            raise InputError(f"The {name} image of case '{source.name}' ('{path}') could not be read as an image.") from None
        sizes[name] = tuple(reader.GetSize())
    if len(set(sizes.values())) > 1:
        raise InputError(f"The sequences of case '{source.name}' have different sizes {sizes}; give them on one grid.")


def plan_cases(sources: list[SourceCase], count: int, seed: int) -> list[CasePlan]:
    width = max(4, len(str(count - 1)))
    return [CasePlan(i, f"case_{i:0{width}d}", sources[i % len(sources)], seed + i) for i in range(count)]


def rank_and_world() -> tuple[int, int]:
    """This process's share under torchrun (``RANK``, ``WORLD_SIZE``); (0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"RANK={rank} and WORLD_SIZE={world} are inconsistent; launch with torchrun or unset them.")
    return rank, world


def _expected(plan: CasePlan, model: ModelPackage, steps: int) -> dict:
    return {"source_case": plan.source.name, "seed": plan.seed, "model_id": model.id, "steps": steps}


def _complete_record(output: Path, plan: CasePlan, model: ModelPackage, steps: int) -> dict | None:
    """The record of a finished case, None when not done; a case made with other settings is an error."""
    record_path = output / plan.name / RECORD
    if not record_path.is_file():
        if (output / plan.name).exists():
            raise OutputError(f"'{output / plan.name}' exists but is not a finished case (no {RECORD}); move it away and run again.")
        return None
    record = json.loads(record_path.read_text())
    expected = _expected(plan, model, steps)
    if any(record.get(key) != value for key, value in expected.items()):
        found = {key: record.get(key) for key in expected}
        raise InputError(
            f"'{output / plan.name}' was made with other settings ({found}, now {expected}); "
            "use the same --input-dir, --seed, --model and --steps to resume, or a new --output-dir."
        )
    return record


def make_case(plan: CasePlan, output: Path, model: ModelPackage, steps: int, rank: int, device: str, progress: ProgressCallback, cancel: CancelCheck) -> dict:
    """Write one case folder atomically (staged, then renamed); return its record."""
    volumes = {name: read_volume(path, f"{name} image of case '{plan.source.name}'") for name, path in plan.source.files.items()}
    reference = volumes[next(iter(volumes))]
    brain = brain_mask([volume.array for volume in volumes.values()])
    rng = np.random.default_rng(plan.seed)
    lesion = random_lesion_mask(brain, reference.spacing, rng)
    strength = round(float(rng.uniform(*STRENGTH)), 2)
    prior = model.config.get("prior", {})
    glioma = prior.get("glioma")
    bank = glioma is not None and "lesions" in prior  # a real layout drawn by the inpainting itself (the case seed picks)
    label = reference.with_array(layout_subregions(lesion, reference.spacing, glioma) if glioma and not bank else lesion.astype(np.uint8))
    result = inpaint(
        volumes,
        label,
        "add",
        model,
        steps=steps,
        seed=plan.seed,
        strength=strength,
        device=device,
        progress=progress,
        cancel=cancel,
        labels=label if glioma and not bank else None,
    )
    if result.labels is not None:
        label = result.labels
    label_text = (
        "BraTS 2013 sub-regions of the synthetic lesion (1 necrosis, 2 oedema, 3 non-enhancing, 4 enhancing)"
        if glioma
        else "1 where the synthetic lesion was added"
    )

    sequences = list(result.outputs)
    extra = {
        "mode": "add",
        "strength": strength,
        "case": plan.name,
        "source_case": plan.source.name,
        "mask": "random lesion (DiffusionSynthLib.lesions)",
        "mask_voxels": result.mask_voxels,
    }
    provenance = make_provenance("augment", model, plan.seed, result.steps, result.samples, dict(plan.source.files), extra)
    record = {
        "case": plan.name,
        "source_case": plan.source.name,
        "seed": plan.seed,
        "strength": strength,
        "mask_voxels": result.mask_voxels,
        "sequences": sequences,
        "model_id": model.id,
        "steps": steps,  # the setting asked for (a prior package's deterministic estimate runs no step)
        "rank": rank,
        "weights_sha256": model.weights_sha256,
        "date": provenance["date"],
        "synthetic": True,
    }
    staging = output / f".{plan.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)  # a run killed before it could clean up
    try:
        staging.mkdir(parents=True)
        for name, volume in result.outputs.items():
            write_volume(volume, staging / f"{name}.nii.gz", {**provenance, "output": name})
        write_volume(label, staging / "label.nii.gz", {**provenance, "output": f"label: {label_text}"})
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n")
        os.rename(staging, output / plan.name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return record


def write_manifest(output: Path) -> Path:
    """``manifest.csv`` from every finished case's record, written atomically under a lock on the folder."""
    descriptor = os.open(output, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        records = [json.loads(path.read_text()) for path in sorted(output.glob(f"case_*/{RECORD}"))]
        temporary = output / f".{MANIFEST}.{os.getpid()}.partial"
        with temporary.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for record in records:
                writer.writerow({**record, "sequences": " ".join(record["sequences"])})
        os.replace(temporary, output / MANIFEST)
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
    return output / MANIFEST


def augment(
    input_dir: str | os.PathLike,
    count: int,
    output_dir: str | os.PathLike,
    model: ModelPackage,
    steps: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck = never_cancel,
) -> AugmentResult:
    """Make this rank's share of ``count`` synthetic cases in ``output_dir``; skip finished ones."""
    if count < 1:
        raise InputError(f"--count must be 1 or more, not {count}.")
    if seed < 0:
        raise InputError(f"--seed must be 0 or more for augmentation (case i uses seed + i), not {seed}.")
    if model.task != "inpaint":
        raise InputError(f"The model '{model.id}' is for the task '{model.task}'; augmentation needs an inpainting model.")
    sources = find_sources(input_dir)
    output = check_output_folder(output_dir)
    rank, world = rank_and_world()
    steps = int(steps or model.config.get("inference", {}).get("default_steps", 20))
    plans = plan_cases(sources, count, seed)
    for source in sources[: min(count, len(sources))]:
        check_headers(source)
    mine = [plan for plan in plans if plan.index % world == rank]
    done = {plan.name for plan in mine if output.is_dir() and _complete_record(output, plan, model, steps) is not None}
    todo = [plan for plan in mine if plan.name not in done]
    output.mkdir(parents=True, exist_ok=True)
    per_case = 3 + steps if default_samples(model) > 0 else 2  # the inpainting task's progress scale (one sample, or none)
    total = max(len(todo) * per_case, 1)
    written = []
    for k, plan in enumerate(todo):

        def case_progress(step: int, _total: int, message: str, k: int = k, name: str = plan.name) -> None:
            progress(k * per_case + step, total, f"{name}: {message}")

        make_case(plan, output, model, steps, rank, device, case_progress, cancel)
        written.append(plan.name)
    if not todo:
        progress(1, 1, "every case was already done")
    return AugmentResult(written=written, skipped=sorted(done), manifest=write_manifest(output))
