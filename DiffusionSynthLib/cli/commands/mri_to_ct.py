"""``diffusionsynth mri-to-ct``: pseudo-CT in Hounsfield units from a head MRI."""

from __future__ import annotations

import argparse
import shutil

from ...errors import InputError, OutputError, QualityCheckFailed
from ..common import (
    ProgressPrinter,
    notice_unused_sampling,
    notify,
    samples_help,
    sampling_arguments,
)


def cmd_mri_to_ct(args: argparse.Namespace) -> int:
    from ...models import resolve_model
    from ...pipelines import MriToCtPipeline
    from ...provenance import make_provenance
    from ...tasks.checks import require_content, require_not_ct
    from ...volume import OUTPUT_SUFFIXES, check_output_folder, check_writable, read_volume, write_volume

    dicom = args.output_format == "dicom"
    if dicom and args.output.lower().endswith(OUTPUT_SUFFIXES + (".dcm",)):
        raise OutputError(
            f"--output-format dicom writes a CT series into a folder, but --output '{args.output}' is a file name; "
            "give a folder (for example --output pseudo_ct_dicom) or drop --output-format dicom to write that file."
        )
    output = check_output_folder(args.output) if dicom else check_writable(args.output)
    if dicom and output.is_dir() and any(output.iterdir()):
        raise OutputError(f"The DICOM output '{output}' is a folder that already holds files; give a new or empty folder for the CT series.")
    uncertainty = check_writable(args.uncertainty) if args.uncertainty else None
    if uncertainty is not None and (args.samples or 0) < 2:
        raise InputError("--uncertainty needs at least two samples; add --samples 2 or more.")
    mri = read_volume(args.mri, "MR image")
    require_content(mri, f"MR image '{args.mri}'")
    require_not_ct(mri, f"MR image '{args.mri}'")
    if dicom:
        from ...dicom_identity import checked_identity_flags

        checked_identity_flags(args.mri, args.like, args.patient_id, args.patient_name)
    elif args.like or args.patient_id or args.patient_name:
        raise InputError("--like, --patient-id and --patient-name name the patient of a DICOM CT series; add --output-format dicom or drop them.")
    model = resolve_model(args.model, "mri-to-ct")
    result = MriToCtPipeline(model, args.device)(mri, steps=args.steps, seed=args.seed, samples=args.samples, progress=ProgressPrinter(args.progress))
    notice_unused_sampling(args, result.samples)
    quality = result.quality
    if quality is not None:
        print(quality.summary())
        for warning in quality.warnings:
            notify(args, "warning", warning)
        if dicom and not quality.passed and not args.accept_qc_warnings:
            raise QualityCheckFailed(
                f"The pseudo-CT of '{args.mri}' failed its quality check ({'; '.join(quality.warnings)}), so no DICOM series was "
                "written: a planning system must not import an implausible CT unawares. Check the MR (a whole head, no missing "
                "slices; see the README's pseudo-CT section), or add --accept-qc-warnings to write it anyway (the warnings stay in "
                "its ImageComments)."
            )
    extra = {"quality_check": quality.record()} if quality is not None else None
    record = make_provenance("mri-to-ct", model, result.seed, result.steps, result.samples, {"mri": args.mri}, extra)
    if dicom:
        from ...dicom_identity import series_identity
        from ...dicom_write import write_ct_series

        identity = series_identity(args.mri, mri, args.like, args.patient_id, args.patient_name)
        if identity.note:
            notify(args, "note", identity.note)
        write_ct_series(result.ct, output, record, identity.reference, identity.sources, identity.patient)
    else:
        write_volume(result.ct, output, record)
    if uncertainty is not None and result.std is not None:
        try:
            write_volume(result.std, uncertainty, {**record, "output": "voxel-wise standard deviation of the samples (HU)"})
        except BaseException:
            if dicom:  # both outputs or neither
                shutil.rmtree(output, ignore_errors=True)
            else:
                output.unlink(missing_ok=True)
            raise
    print(f"wrote {output}" + (f" and {uncertainty}" if uncertainty else ""))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mri-to-ct", help="pseudo-CT in Hounsfield units from a head MRI")
    p.add_argument("--mri", required=True, help="input MR image (NIfTI, NRRD, MHA)")
    p.add_argument("--output", required=True, help="output pseudo-CT file (int16 HU, on the MR's grid)")
    p.add_argument("--uncertainty", help="also write the samples' voxel-wise standard deviation (needs --samples >= 2)")
    p.add_argument(
        "--output-format",
        choices=["nifti", "dicom"],
        default="nifti",
        help="nifti (default; NRRD/MHA by the --output extension) or dicom: --output is a new folder for a CT series beside the MR",
    )
    p.add_argument("--patient-id", help="with --output-format dicom and a NIfTI/NRRD/MHA MR: the CT series' PatientID (a new study)")
    p.add_argument("--patient-name", help="with --patient-id: the PatientName (DICOM form FAMILY^GIVEN)")
    p.add_argument(
        "--like",
        metavar="DICOM_MR",
        help="with --output-format dicom and a NIfTI/NRRD/MHA MR: the DICOM MR series it came from (patient, study, frame of reference)",
    )
    p.add_argument(
        "--accept-qc-warnings",
        action="store_true",
        help="write the DICOM series even when the pseudo-CT's quality check warns (without it, --output-format dicom refuses)",
    )
    sampling_arguments(p)
    p.set_defaults(run=cmd_mri_to_ct, samples=None)
    samples_help(p, "diffusion samples to average (default: the model's; 0 for prior packages: the deterministic estimate; 2 or more for --uncertainty)")
