"""``diffusionsynth inpaint``: remove a lesion to healthy tissue, or add one inside a mask."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..common import (
    ProgressPrinter,
    add_sequences,
    notice_unused_sampling,
    overwrite_argument,
    plan_sequences,
    read_mask,
    read_sequences,
    samples_help,
    sampling_arguments,
    sequence_arguments,
)

LABELS_FILE = "labels.nii.gz"  # add mode without --labels: the sub-region map drawn


def cmd_inpaint(args: argparse.Namespace) -> int:
    from ...models import resolve_model
    from ...outputs import OutputSet
    from ...pipelines import InpaintPipeline
    from ...provenance import make_provenance
    from ...sequences import SEQUENCES
    from ...tasks.inpaint import check_options, given_sequences

    check_options(args.mode, args.strength)
    paths = {name: getattr(args, name) for name in SEQUENCES}
    given = given_sequences(paths)
    outputs = OutputSet(args.output_dir, overwrite=args.overwrite)
    plan_sequences(outputs, given, args.samples or 0)
    if args.mode == "add" and args.labels is None:
        outputs.plan(LABELS_FILE)
    volumes = read_sequences(paths, given)
    mask = read_mask(args.mask, volumes[given[0]])
    labels = None if args.labels is None else read_mask(args.labels, volumes[given[0]], "labels")
    pipe = InpaintPipeline(resolve_model(args.model, "inpaint"), args.device)
    result = pipe(
        volumes,
        mask,
        labels=labels,
        mode=args.mode,
        strength=args.strength,
        labels_convention=args.labels_convention,
        dilate_mm=args.dilate,
        steps=args.steps,
        seed=args.seed,
        samples=args.samples,
        progress=ProgressPrinter(args.progress),
    )
    extra = {"mode": args.mode, "strength": args.strength, "mask": Path(args.mask).name, "mask_voxels": result.mask_voxels}
    if args.dilate:
        extra["dilate_mm"] = args.dilate
    if labels is not None:
        extra.update(labels=Path(args.labels).name, labels_convention=args.labels_convention)
    if result.labels is not None:
        extra.update(
            sub_regions=f"{LABELS_FILE}: a real tumour's layout from the package's lesion bank, drawn by the seed", labels_convention=args.labels_convention
        )
    notice_unused_sampling(args, result.samples, seed_used=result.labels is not None)
    record = make_provenance("inpaint", pipe.model, result.seed, result.steps, result.samples, paths, extra)
    add_sequences(outputs, result.outputs, result.std, record)
    if result.labels is not None:
        outputs.add(LABELS_FILE, result.labels, {**record, "output": f"sub-region labels of the added tumour ({args.labels_convention})"})
    written = outputs.commit()
    print(f"wrote {', '.join(str(p) for p in written)} ({args.mode}, {result.mask_voxels} voxels in the mask)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inpaint", help="remove a lesion to healthy tissue, or add one inside a mask")
    sequence_arguments(p, "image (give one or more, all on one grid; each is inpainted)")
    p.add_argument("--mask", required=True, help="label map or segmentation on the images' grid; any non-zero voxel is inside")
    p.add_argument("--mode", required=True, choices=["remove", "add"], help="remove: healthy tissue in the mask; add: a tumour in it")
    p.add_argument(
        "--dilate",
        type=float,
        default=0.0,
        metavar="MM",
        help="grow the mask by this many mm (within the brain) before filling, 0-20 (default 0): a segmentation is often tighter than the FLAIR abnormality",
    )
    p.add_argument("--strength", type=float, default=1.0, help="how pronounced the change is, 0-3 (default 1)")
    p.add_argument(
        "--labels",
        help="add mode: label map of the tumour's sub-regions on the images' grid (default: a real tumour's layout drawn into the mask by --seed, written as labels.nii.gz)",
    )
    p.add_argument(
        "--labels-convention",
        default="brats2013",
        choices=["brats2013", "brats2017", "brats2023"],
        help="labels of --labels: brats2013 (default; 1 necrosis, 2 oedema, 3 non-enhancing, 4 enhancing), brats2017 (1, 2, 4), brats2023 (3 enhancing)",
    )
    p.add_argument("--output-dir", required=True, help="folder for <sequence>.nii.gz of each given sequence")
    overwrite_argument(p)
    sampling_arguments(p)
    p.set_defaults(run=cmd_inpaint, samples=None)
    samples_help(
        p, "diffusion samples to average, writing <sequence>_std.nii.gz from 2 (default: the model's; 0 for prior packages: the deterministic estimate)"
    )
