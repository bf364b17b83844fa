"""``diffusionsynth train``: train a model package on a folder of cases."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ...errors import InputError


def cmd_train(args: argparse.Namespace) -> int:
    from ...train.loop import LoopSettings

    folders = [Path(d) for d in args.data]
    for folder in folders:
        if not folder.is_dir():
            raise InputError(f"The training data folder '{folder}' does not exist.")
    if len(folders) > 1 and args.task not in ("impute", "inpaint"):
        raise InputError(f"--task {args.task} trains on one data folder; {len(folders)} were given ({', '.join(args.data)}).")
    data = folders[0]
    if args.split and args.task not in ("impute", "inpaint"):
        raise InputError(f"--split is for --task impute and inpaint; --task {args.task} was given.")
    from ...models.package import check_package_output

    check_package_output(args.output)  # before hours of training, not after
    from ...cards import stored_results

    kept = list(stored_results(Path(args.output)).values())  # held-out results of the package being replaced
    if args.restart_diffusion and not (args.resume and args.task != "forecast"):
        raise InputError(
            "--restart-diffusion keeps a package's network and retrains its residual diffusion: use it with --resume (mri-to-ct, impute, inpaint)."
        )
    settings = LoopSettings(
        minutes=args.time_budget,
        max_steps=args.max_steps,
        seed=args.seed,
        autoencoder_fraction=args.autoencoder_fraction,
        restart_diffusion=args.restart_diffusion,
    )

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.task == "mri-to-ct":
        from ...train.mri_to_ct import train_mri_to_ct

        path = train_mri_to_ct(
            data,
            Path(args.output),
            preset=args.preset,
            spacing=args.spacing or 2.0,
            patch=tuple(args.patch or (64, 64, 32)),
            batch=args.batch,
            ct_scans=[Path(p) for p in args.ct_data or []],
            holdout_fraction=args.holdout_slab,
            validation_fraction=args.validation_slab,
            synthetic_per_scan=args.synthetic_mr,
            settings=settings,
            refiner_fraction=args.refiner_fraction,
            resume=args.resume,
            scheduler=args.scheduler,
            device=args.device,
            log=log,
        )
    elif args.task in ("impute", "inpaint"):  # the prior packages: one recipe, two tasks
        from ...train.impute import train_impute
        from ...train.inpaint import train_inpaint

        if args.tumour_weight != 1.0 and args.task != "impute":
            raise InputError(f"--tumour-weight is for --task impute; --task {args.task} was given.")
        trainer = train_impute if args.task == "impute" else train_inpaint
        extra: dict = {"tumour_weight": args.tumour_weight} if args.task == "impute" else {}
        if args.split:
            from ...train.split import read_split

            extra["split"] = read_split(Path(args.split))
        path = trainer(
            folders,
            Path(args.output),
            preset=args.preset,
            spacing=args.spacing or 1.0,
            patch=tuple(args.patch or (64, 64, 64)),
            batch=args.batch,
            exclude=args.exclude_case or [],
            validation_case=args.validation_case,
            settings=settings,
            refiner_fraction=args.refiner_fraction,
            resume=args.resume,
            scheduler=args.scheduler,
            device=args.device,
            log=log,
            **extra,
        )
    elif args.task == "forecast":
        from ...train.forecast import train_forecast

        path = train_forecast(data, Path(args.output), exclude=args.exclude_case or [], log=log)
    else:
        raise InputError(f"Training for the task '{args.task}' is not available yet.")
    if int(os.environ.get("RANK", "0")) == 0:
        from ...cards import render_card, store_results
        from ...train.terms import data_terms, write_terms

        write_terms(path, args.licence, " | ".join(dict.fromkeys(data_terms(folder, args.data_terms) for folder in folders)))
        store_results(path, kept)
        render_card(path)
        print(f"wrote model package {path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model package on a folder of cases")
    p.add_argument("--task", required=True, choices=["mri-to-ct", "impute", "inpaint", "forecast"])
    p.add_argument("--data", required=True, nargs="+", help="folder of case folders; impute and inpaint take several (for example ../shared/data runs/cases)")
    p.add_argument("--output", required=True, help="model package folder to write")
    p.add_argument("--time-budget", type=float, default=40.0, metavar="MINUTES", help="total training time (default 40)")
    p.add_argument("--max-steps", type=int, help="stop each stage after this many steps (smoke tests)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --output")
    p.add_argument(
        "--restart-diffusion",
        action="store_true",
        help="with --resume from a package: keep its network, train the residual diffusion (autoencoder and UNet) afresh for the "
        "budget's share beyond the network's (an interrupted run continues from its own checkpoints)",
    )
    p.add_argument("--preset", choices=["small", "tiny"], default="small", help="network size")
    p.add_argument("--spacing", type=float, help="isotropic model spacing in mm (default: impute and inpaint 1, mri-to-ct 2)")
    p.add_argument("--patch", type=int, nargs=3, help="training patch in voxels, multiples of 16 (default: impute and inpaint 64 64 64, mri-to-ct 64 64 32)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--holdout-slab", type=float, default=0.25, help="mri-to-ct: fraction of each pair's slices (top slab) never read, for the benchmark")
    p.add_argument("--validation-slab", type=float, default=0.2, help="mri-to-ct: fraction of each pair's slices (below the held-out slab) kept for validation")
    p.add_argument("--exclude-case", action="append", help="leave this case folder out (leave-one-out folds); repeatable")
    p.add_argument(
        "--validation-case",
        action="append",
        help="impute, inpaint: a case kept out for validation and every choice (impute: repeatable, choices averaged over them; "
        "default: the last case with the most sequences)",
    )
    p.add_argument(
        "--split",
        metavar="FILE",
        help='impute and inpaint: a JSON split {"validation": [case, ...], "test": {group: [case, ...]}}: test cases are never read, '
        "recorded in the package for the benchmark (for example benchmarks/splits/brats50.json)",
    )
    p.add_argument(
        "--refiner-fraction",
        type=float,
        default=0.7,
        help="share of the time budget for the regression network; the rest trains the residual diffusion",
    )
    p.add_argument(
        "--ct-data",
        nargs="+",
        help="mri-to-ct: CT scans without an MR (NIfTI files, folders holding ct.nii.gz, DICOM series folders) for the prior's depth statistics",
    )
    p.add_argument(
        "--synthetic-mr",
        type=int,
        default=6,
        help="mri-to-ct: random MR contrasts painted on each --ct-data head to train the network on (0: the real pairs only)",
    )
    p.add_argument(
        "--tumour-weight",
        type=float,
        default=1.0,
        help="impute: weight of the voxels inside a case's tumour segmentation in the network's loss and validation (default 1: no extra weight)",
    )
    p.add_argument("--autoencoder-fraction", type=float, default=0.35, help="share of the time budget for the autoencoder")
    p.add_argument("--scheduler", choices=["RFlowScheduler", "DDIMScheduler"], default="RFlowScheduler")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda; under torchrun each rank takes its LOCAL_RANK GPU")
    p.add_argument("--licence", help="the licence you release the package under (recorded in model.json and the card)")
    p.add_argument("--data-terms", help="the training data's terms (default: read from a licence file or README in --data)")
    p.set_defaults(run=cmd_train)
