"""Checking and installing the Python packages the library needs inside Slicer.

PyTorch comes first, through the PyTorch extension's ``PyTorchUtils`` (it picks the build for the
computer's GPU); the rest with ``slicer.util.pip_install``. Slicer's own SimpleITK is never
replaced. Importing this file needs nothing; installing needs the Slicer application.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

TORCH_REQUIREMENT = ">=2.4"
REQUIREMENTS: dict[str, str] = {  # import name -> pip requirement (the library's dependencies)
    "monai": "monai>=1.5",
    "nibabel": "nibabel>=5.0",
    "einops": "einops>=0.7",
    "safetensors": "safetensors>=0.4",
    "scipy": "scipy>=1.10",
    "nrrd": "pynrrd>=1.0",
    "highdicom": "highdicom>=0.28",  # DICOM series, DICOM-SEG and the CT series out (Slicer ships pydicom)
    "skimage": "scikit-image>=0.22",  # quantile matching of imputed sequences
}


class InstallError(RuntimeError):
    """Installation failed or was declined; ``restart_required`` tells the UI to offer a restart."""

    def __init__(self, message: str, restart_required: bool = False) -> None:
        super().__init__(message)
        self.restart_required = restart_required


def missing_packages() -> list[str]:
    """Import names of the missing packages (``torch`` first when missing)."""
    names = ["torch", *REQUIREMENTS]
    return [name for name in names if importlib.util.find_spec(name) is None]


def install_missing(confirm: Callable[[str], bool], log: Callable[[str], None] = print) -> list[str]:
    """Install what :func:`missing_packages` lists, after ``confirm(question)`` says yes.

    Returns the packages installed. Raises :class:`InstallError` with a sentence on refusal or failure.
    """
    missing = missing_packages()
    if not missing:
        return []
    question = (
        "DiffusionSynth needs these Python packages, which are not installed in Slicer yet: "
        f"{', '.join(missing)}.\n\nInstall them now? This downloads several hundred MB (PyTorch) and can take minutes."
    )
    if not confirm(question):
        raise InstallError(f"DiffusionSynth cannot run without {', '.join(missing)}; nothing was installed.")
    import slicer

    if "torch" in missing:
        try:
            import PyTorchUtils  # the PyTorch extension
        except ImportError:
            raise InstallError(
                "PyTorch is not installed and the PyTorch extension is missing. Install the 'PyTorch' extension "
                "from the Extensions Manager, restart Slicer, then press Apply again.",
                restart_required=True,
            ) from None
        log("Installing PyTorch (PyTorch extension)...")
        if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False, torchVersionRequirement=TORCH_REQUIREMENT) is None:
            raise InstallError("PyTorch could not be installed; see the Python console, or install it from the PyTorch module.")
    for name in missing:
        if name == "torch":
            continue
        log(f"Installing {REQUIREMENTS[name]}...")
        try:
            slicer.util.pip_install(REQUIREMENTS[name])
        except Exception as error:  # noqa: BLE001 - pip failures come in many types; report them all
            raise InstallError(f"Installing {REQUIREMENTS[name]} failed: {error}. Check the network connection and try again.") from error
    importlib.invalidate_caches()
    still = missing_packages()
    if still:
        raise InstallError(f"{', '.join(still)} still cannot be imported after installation; restart Slicer and try again.", restart_required=True)
    return missing
