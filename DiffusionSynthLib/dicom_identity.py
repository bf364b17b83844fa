"""Who a DICOM pseudo-CT belongs to: the MR series' patient, study and frame of reference, never ``UNKNOWN``.

A DICOM MR brings its own. A NIfTI (or NRRD, MHA) MR carries none, so the user names the patient
(``--patient-id``, ``--patient-name``: a new study and frame of reference) or the DICOM MR series it came from
(``--like``: its patient, study and frame of reference; its slices are referenced when the grids match).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dicom_read import looks_like_dicom
from .dicom_write import Source, mr_series
from .errors import InputError
from .volume import Volume, read_volume

MAX_LO = 64  # DICOM LO / PN component group length


@dataclass
class SeriesIdentity:
    """The MR header to copy patient, study and frame of reference from (None: new ones), its slices to reference,
    and the patient named on the command line (when there is no header)."""

    reference: Any = None
    sources: list[Source] = field(default_factory=list)
    patient: dict[str, str] = field(default_factory=dict)
    note: str = ""


def _checked(value: str, flag: str) -> str:
    if not value.strip() or len(value) > MAX_LO or "\\" in value or any(ord(c) < 32 for c in value):
        raise InputError(f"{flag} '{value}' is not a DICOM identifier: give 1-{MAX_LO} printable characters without a backslash.")
    return value.strip()


def checked_identity_flags(mri: str | os.PathLike, like: str | None, patient_id: str | None, patient_name: str | None) -> None:
    """Refuse, before any work, flags that do not fit the MR: a NIfTI MR needs ``--patient-id`` or ``--like``; a DICOM
    MR takes neither (its own header names the patient)."""
    if looks_like_dicom(Path(mri)):
        if like or patient_id or patient_name:
            raise InputError(
                f"The MR '{mri}' is DICOM: the CT series takes its patient, study and frame of reference; "
                "--like, --patient-id and --patient-name are for a NIfTI, NRRD or MHA MR. Drop them."
            )
        return
    if like and (patient_id or patient_name):
        raise InputError("--like takes the patient from the DICOM MR series it names; give either --like or --patient-id/--patient-name.")
    if like:
        if not looks_like_dicom(Path(like)) or not Path(like).exists():
            raise InputError(f"--like '{like}' is not a DICOM MR series; give the folder (or a file) of the series the MR came from.")
        return
    if not patient_id:
        raise InputError(
            f"The MR '{mri}' is not DICOM, so it names no patient, and a CT series without one (or 'UNKNOWN') must not reach a "
            "planning system: give --patient-id ID [--patient-name 'FAMILY^GIVEN'], or --like DICOM_MR_FOLDER to take patient, "
            "study and frame of reference from the MR series it came from."
        )
    _checked(patient_id, "--patient-id")
    if patient_name:
        _checked(patient_name, "--patient-name")


def series_identity(mri_path: str | os.PathLike, mri: Volume, like: str | None, patient_id: str | None, patient_name: str | None) -> SeriesIdentity:
    """The identity of the CT series made from ``mri`` (read from ``mri_path``); flags as ``checked_identity_flags`` took them."""
    if looks_like_dicom(Path(mri_path)):
        return SeriesIdentity(*mr_series(mri_path))
    if like:
        header, sources = mr_series(like)
        same_grid = read_volume(like, "--like MR series").same_grid(mri)
        note = (
            ""
            if same_grid
            else f"the MR is not on the grid of the --like series '{like}': the CT joins its patient, study and frame of reference "
            "(the MR must be in that scanner's coordinates) but references none of its slices"
        )
        return SeriesIdentity(header, sources if same_grid else [], note=note)
    patient = {"PatientID": _checked(patient_id or "", "--patient-id")}
    if patient_name:
        patient["PatientName"] = _checked(patient_name, "--patient-name")
    return SeriesIdentity(patient=patient)
