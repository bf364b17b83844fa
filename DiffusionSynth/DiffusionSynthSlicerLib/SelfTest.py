"""The module's self-test without Qt: the logic runs a real MRI -> CT model on a head phantom.

``DiffusionSynthTest`` in ``DiffusionSynth.py`` runs it inside Slicer, the test suite on
``slicer-core``. The model is ``$DIFFUSIONSYNTH_TEST_MODEL`` or else the built-in one; without
any model the self-test fails with a sentence saying so, it never passes without running.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import slicer.util
import vtk

from . import Nodes
from .Logic import SynthesisLogic, SynthesisRequest

MODEL_VARIABLE = "DIFFUSIONSYNTH_TEST_MODEL"


def require(condition: bool, message: str) -> None:
    """A self-test check that holds under ``python -O`` too."""
    if not condition:
        raise AssertionError(message)


def self_test_model(builtin: Sequence[str], environ: Mapping[str, str] = os.environ) -> str:
    """``$DIFFUSIONSYNTH_TEST_MODEL`` when set, else the first built-in MRI -> CT model id."""
    explicit = environ.get(MODEL_VARIABLE, "").strip()
    if explicit:
        return explicit
    require(
        bool(builtin),
        (
            "No MRI -> CT model to test with: the built-in models (DiffusionSynthLib/models/builtin) are missing from "
            f"this installation. Reinstall the extension, or set {MODEL_VARIABLE} to a model package folder."
        ),
    )
    return builtin[0]


def phantom(scene, name: str = "Phantom MR"):
    """An ellipsoid 'head' with a dark skull ring and a bright core, on an oblique anisotropic grid."""
    i, j, k = np.meshgrid(*(np.linspace(-1, 1, n) for n in (48, 56, 36)), indexing="ij")
    r = np.sqrt(i**2 + j**2 + k**2)
    array = np.where(r < 0.85, 400.0, 0.0) + np.where(r < 0.7, 300.0, 0.0) - np.where((r > 0.7) & (r < 0.78), 350.0, 0.0)
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    slicer.util.updateVolumeFromArray(node, array.astype(np.float32).transpose(2, 1, 0))
    node.SetSpacing(1.1, 0.9, 2.5)
    node.SetOrigin(-20.0, 15.5, 33.0)
    transform = vtk.vtkTransform()
    transform.RotateZ(17)
    transform.RotateX(-11)
    directions = vtk.vtkMatrix4x4()
    directions.DeepCopy(transform.GetMatrix())
    node.SetIJKToRASDirectionMatrix(directions)
    return node


def check_mri_to_ct(logic: SynthesisLogic, scene, environ: Mapping[str, str] = os.environ) -> None:
    """Pseudo-CT of the phantom: a new synthetic int16 HU node on the input's grid, the input untouched."""
    model = self_test_model(logic.builtin_models("mri-to-ct"), environ)
    volume = phantom(scene)
    before = slicer.util.arrayFromVolume(volume).copy()
    nodes = logic.run(SynthesisRequest(task="mri-to-ct", mri=volume, model=model, steps=2, seed=1), timeout=600)
    require(len(nodes) == 1, f"one pseudo-CT node expected, got {len(nodes)}")
    array = slicer.util.arrayFromVolume(nodes[0])
    require(array.shape == before.shape, f"pseudo-CT shape {array.shape} differs from the input's {before.shape}")
    require(np.array_equal(slicer.util.arrayFromVolume(volume), before), "the input volume was changed")
    require(nodes[0].GetAttribute("DiffusionSynth.Synthetic") == "true", "the pseudo-CT is not marked synthetic")
    require(int(array[0, 0, 0]) == -1000 and int(array.max()) <= 3000, f"HU out of range: corner {array[0, 0, 0]}, max {array.max()}")
    require(np.array_equal(Nodes.ijk_to_ras(nodes[0]), Nodes.ijk_to_ras(volume)), "the pseudo-CT is not on the input's grid")
