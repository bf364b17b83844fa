"""Privacy audit: do a model's outputs copy its training subjects?

Outputs are generated from conditioning inputs of people who are *not* in the training data
(by default the Colin27 head), seeds ``0..N-1``, and each is compared with every training case.
Both images are clipped to -1024..2000 HU and resampled onto a common 2 mm cube centred on the
centre of mass of each head's body mask (``head_mask_ct``), so position and field of view do
not matter; the normalised cross-correlation (NCC) and the mean SSIM are taken over the union of
the two body masks. An output whose NCC with its nearest training case exceeds the threshold is
flagged as a likely copy.

The default threshold comes from the data: halfway between the NCC of two different real
subjects (the highest over pairs of real CTs: the training CTs plus any ``reference_cts``) and
1, an exact copy. With fewer than two real CTs it is ``DEFAULT_THRESHOLD``.

Each task contributes an *output generator* (``GENERATORS``); only MRI->CT exists today.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .atlas import COLIN27
from .engine.progress import ProgressCallback, no_progress
from .errors import InputError, ModelError
from .geometry import grid_at_spacing, resample
from .intensity import head_mask_ct
from .metrics import ssim_map
from .models.package import ModelPackage, load_model, read_config
from .models.registry import builtin_models
from .tasks.checks import require_content
from .volume import Volume, read_volume

HU_RANGE = (-1024.0, 2000.0)
GRID_SPACING_MM = 2.0
GRID_SIZE = 128  # voxels per side: a 256 mm cube holds a whole head
DEFAULT_THRESHOLD = 0.9
MAX_REFERENCE_CTS = 20  # the inter-subject NCC uses at most this many real CTs (190 pairs)
CT_NAMES = ("ct.nii.gz", "ct.nii", "ct.mha", "ct.nrrd")
SSIM_BORDER = 3

# (model, conditioning image, seeds, steps, device) -> one output per seed, in HU
OutputGenerator = Callable[[ModelPackage, Volume, Sequence[int], int | None, str], list[Volume]]


# ------------------------------------------------------------------------------------ common grid


@dataclass
class CentredHead:
    """A CT on the common cube: clipped HU (int16) and the body mask, both ``(GRID_SIZE,) * 3``."""

    hu: np.ndarray
    body: np.ndarray


def centre_head(ct: Volume) -> CentredHead:
    """Clip to ``HU_RANGE`` and resample onto the 2 mm cube centred on the body's centre of mass."""
    lo, hi = HU_RANGE
    clipped = ct.with_array(np.clip(ct.array.astype(np.float32), lo, hi))
    shape, matrix = grid_at_spacing(clipped, [GRID_SPACING_MM] * 3)
    coarse = resample(clipped, shape, matrix, "linear", lo)
    body = head_mask_ct(coarse)
    centre_ijk = np.argwhere(body).mean(axis=0) if body.any() else (np.array(coarse.shape) - 1) / 2
    centre = (coarse.ijk_to_ras @ np.append(centre_ijk, 1.0))[:3]
    cube = np.diag([GRID_SPACING_MM] * 3 + [1.0])
    cube[:3, 3] = centre - GRID_SPACING_MM * (GRID_SIZE - 1) / 2
    size = (GRID_SIZE,) * 3
    hu = np.rint(resample(coarse, size, cube, "linear", lo).array).astype(np.int16)
    mask = resample(coarse.with_array(body.astype(np.float32)), size, cube, "nearest", 0.0).array > 0.5
    return CentredHead(hu=hu, body=mask)


def ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Normalised cross-correlation of ``a`` and ``b`` over ``mask`` (0 when either is constant there)."""
    x = a[mask].astype(np.float64)
    y = b[mask].astype(np.float64)
    if x.size < 2:
        return 0.0
    x -= x.mean()
    y -= y.mean()
    norm = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / norm) if norm > 0 else 0.0


def compare(a: CentredHead, b: CentredHead, with_ssim: bool = True) -> tuple[float, float | None]:
    """(NCC, mean SSIM) over the union of the two body masks on the common cube."""
    union = a.body | b.body
    similarity = ncc(a.hu, b.hu, union)
    if not with_ssim:
        return similarity, None
    lo, hi = HU_RANGE
    full = ssim_map(a.hu - lo, b.hu - lo, hi - lo)
    inner = (slice(SSIM_BORDER, -SSIM_BORDER),) * 3
    selected = full[inner][union[inner]]
    return similarity, float(selected.mean()) if selected.size else 0.0


# ------------------------------------------------------------------------------------ inputs


def find_training_cts(folder: str | Path) -> list[Path]:
    """Every ``ct.nii.gz`` (or .nii, .mha, .nrrd) at any depth below ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"The training data folder '{folder}' does not exist or is not a folder.")
    paths = sorted(p for name in CT_NAMES for p in folder.rglob(name) if p.is_file())
    if not paths:
        raise InputError(f"No training CTs were found in '{folder}': expected case folders holding ct.nii.gz, as 'diffusionsynth prepare-pairs' writes them.")
    return paths


def conditioning_inputs(given: Sequence[str | Path] | None, colin27: Path = COLIN27) -> list[Path]:
    """The ``--inputs`` files when given, else the Colin27 head when installed."""
    if given:
        return [Path(p) for p in given]
    if colin27.is_file():
        return [colin27]
    raise InputError(
        f"No conditioning images: the Colin27 head ('{colin27}', Debian package mricron-data) is not installed "
        "and no --inputs were given. Pass --inputs with images of people who are not in the training data."
    )


def load_audit_model(name: str) -> ModelPackage:
    """A model package (folder or built-in id) of any task that has an output generator."""
    builtin = {row["id"]: Path(row["path"]) for row in builtin_models()}
    path = builtin[name] if name in builtin and not Path(name).exists() else Path(name)
    task = str(read_config(path)["task"])
    if task not in GENERATORS:
        raise ModelError(f"The memorisation audit is not available for the task '{task}' yet (model '{path}'); it covers: {', '.join(sorted(GENERATORS))}.")
    return load_model(path, task)


# ------------------------------------------------------------------------------------ generators


def mri_to_ct_outputs(model: ModelPackage, mri: Volume, seeds: Sequence[int], steps: int | None, device: str) -> list[Volume]:
    """Pseudo-CTs as ``mri-to-ct --samples 1 --seed k`` makes them (one diffusion sample: the generative part, what
    could copy; a package without diffusion gives its deterministic estimate), on the MR resampled to the model's spacing."""
    from .geometry import resample_to_spacing
    from .tasks.mri_to_ct import mri_to_ct
    from .tasks.run import has_diffusion

    small = resample_to_spacing(mri, model.config["spacing_mm"])
    samples = 1 if has_diffusion(model) else 0
    return [mri_to_ct(small, model, steps=steps, seed=seed, samples=samples, device=device).ct for seed in seeds]


GENERATORS: dict[str, OutputGenerator] = {"mri-to-ct": mri_to_ct_outputs}


# ------------------------------------------------------------------------------------ report


@dataclass
class AuditRow:
    input: str
    seed: int
    nearest_case: str
    ncc: float
    ssim: float
    flagged: bool


@dataclass
class AuditReport:
    task: str
    model: str
    steps: int | None
    samples_per_input: int
    training_cases: int
    reference_ncc: float | None
    reference_pair: list[str] | None
    threshold: float
    threshold_source: str
    rows: list[AuditRow] = field(default_factory=list)
    method: str = (
        f"HU clipped to {HU_RANGE[0]:g}..{HU_RANGE[1]:g}; {GRID_SIZE}^3 cube at {GRID_SPACING_MM:g} mm centred on each "
        "head's centre of mass; NCC and mean SSIM over the union of both body masks"
    )

    @property
    def flagged(self) -> int:
        return sum(row.flagged for row in self.rows)

    def to_dict(self) -> dict:
        return {**asdict(self), "flagged": self.flagged}

    def table(self) -> str:
        header = f"{'input':24s} {'seed':>4s}  {'nearest training case':28s} {'NCC':>7s} {'SSIM':>7s}  verdict"
        lines = [
            f"Memorisation audit of '{self.model}' ({self.task}); {self.training_cases} training case(s); {self.method}.",
            header,
            "-" * len(header),
        ]
        for row in self.rows:
            verdict = "LIKELY COPY" if row.flagged else "ok"
            lines.append(f"{row.input[:24]:24s} {row.seed:4d}  {row.nearest_case[:28]:28s} {row.ncc:7.3f} {row.ssim:7.3f}  {verdict}")
        reference = (
            f"{self.reference_ncc:.3f} ({' vs '.join(self.reference_pair or [])})" if self.reference_ncc is not None else "n/a (fewer than two real CTs)"
        )
        lines.append(f"inter-subject reference NCC: {reference}")
        lines.append(f"threshold: NCC > {self.threshold:.3f} ({self.threshold_source})")
        lines.append(f"{self.flagged} of {len(self.rows)} output(s) flagged as likely copies of a training case.")
        return "\n".join(lines)


def reference_similarity(heads: dict[str, CentredHead]) -> tuple[float | None, list[str] | None]:
    """The highest NCC between two different real subjects, and which pair."""
    best: tuple[float | None, list[str] | None] = (None, None)
    for (name_a, a), (name_b, b) in itertools.combinations(list(heads.items())[:MAX_REFERENCE_CTS], 2):
        value, _ = compare(a, b, with_ssim=False)
        if best[0] is None or value > best[0]:
            best = (value, [name_a, name_b])
    return best


def derive_threshold(reference: float | None, given: float | None) -> tuple[float, str]:
    if given is not None:
        return given, "given with --threshold"
    if reference is None:
        return DEFAULT_THRESHOLD, f"default {DEFAULT_THRESHOLD:g}: fewer than two real CTs to derive it from"
    value = (1.0 + max(reference, 0.0)) / 2
    return value, "derived: halfway between the inter-subject reference NCC and 1 (an exact copy)"


def _case_name(path: Path, root: Path) -> str:
    relative = path.parent.relative_to(root) if path.parent != root else Path(path.name)
    return relative.as_posix() or path.name


def run_audit(
    model: ModelPackage,
    training_data: str | Path,
    inputs: Sequence[str | Path] | None = None,
    samples: int = 4,
    steps: int | None = None,
    threshold: float | None = None,
    reference_cts: Sequence[str | Path] = (),
    device: str = "auto",
    progress: ProgressCallback = no_progress,
) -> AuditReport:
    """Generate ``samples`` outputs per input (seeds ``0..samples-1``) and find each one's nearest training case."""
    generator = GENERATORS.get(model.task)
    if generator is None:
        raise ModelError(f"The memorisation audit is not available for the task '{model.task}' yet.")
    if samples < 1:
        raise InputError("The number of samples must be 1 or more.")
    if threshold is not None and not -1.0 < threshold <= 1.0:
        raise InputError(f"The threshold {threshold} is not a correlation; give a value in (-1, 1].")
    root = Path(training_data)
    ct_paths = find_training_cts(root)
    input_paths = conditioning_inputs(inputs)
    images = [read_volume(path, "conditioning image") for path in input_paths]  # fail fast, before any work
    for path, image in zip(input_paths, images):
        require_content(image, f"conditioning image '{path}'")
    total = len(ct_paths) + len(reference_cts) + len(images) * samples
    done = 0

    def load(path: Path, what: str) -> CentredHead:
        nonlocal done
        head = centre_head(read_volume(path, what))
        done += 1
        progress(done, total, f"read {path.name}")
        return head

    training = {_case_name(p, root): load(p, "training CT") for p in ct_paths}
    references = {f"{Path(p).parent.name}/{Path(p).name}": load(Path(p), "reference CT") for p in reference_cts}
    reference_ncc, reference_pair = reference_similarity({**references, **training})  # references first: never cut off
    cut, source = derive_threshold(reference_ncc, threshold)
    report = AuditReport(
        task=model.task,
        model=model.id,
        steps=steps or model.config.get("inference", {}).get("default_steps"),
        samples_per_input=samples,
        training_cases=len(training),
        reference_ncc=reference_ncc,
        reference_pair=reference_pair,
        threshold=cut,
        threshold_source=source,
    )
    for path, image in zip(input_paths, images):
        for seed in range(samples):
            (output,) = generator(model, image, [seed], steps, device)
            head = centre_head(output)
            scores = {name: compare(head, case, with_ssim=False)[0] for name, case in training.items()}
            nearest = max(scores, key=lambda name: scores[name])
            similarity, structural = compare(head, training[nearest])
            report.rows.append(AuditRow(path.name, seed, nearest, round(similarity, 4), round(float(structural or 0.0), 4), similarity > cut))
            done += 1
            progress(done, total, f"audited {path.name} seed {seed}")
    return report
