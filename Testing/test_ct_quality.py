"""The pseudo-CT quality check on a real head CT and its registered MR, whole and deliberately broken."""

from __future__ import annotations

import numpy as np
import pytest

from DiffusionSynthLib.ct_quality import LIMITS, check_pseudo_ct
from DiffusionSynthLib.registration import prepare_pair
from DiffusionSynthLib.tasks.mri_to_ct import mr_head
from DiffusionSynthLib.volume import read_volume

from conftest import HEAD_CT, HEAD_MR


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The real MR registered onto its real CT (the pair's own grid), and the MR's head."""
    if not HEAD_MR.is_file():
        pytest.skip(f"real data not found at {HEAD_MR}")
    paths = prepare_pair(read_volume(HEAD_MR), read_volume(HEAD_CT), tmp_path_factory.mktemp("pair") / "out")
    mr, ct = read_volume(paths["mr"]), read_volume(paths["ct"])
    return mr, ct, mr_head(mr)


def test_a_real_ct_passes_all_but_the_field_of_view_figure(pair):
    mr, ct, head = pair
    check = check_pseudo_ct(ct, mr, head, disagreement_share=0.05)
    figures = check.figures
    assert 0.26 <= figures["skull_layer_bone_share"] <= 0.5 and 1200 <= figures["head_hu_p99"] <= 1700
    assert figures["intracranial_air_ml"] < LIMITS["intracranial_air_ml"][1]  # the sinuses are dark in the MR: not counted
    # this MR's field of view cuts the vertex: the one warning, named in the summary and the record
    assert figures["head_cut_share"] > 0.1 and len(check.warnings) == 1 and check.warnings[0].startswith("head_cut_share")
    record = check.record()
    assert record["passed"] is False and record["figures"]["prior_network_disagreement_share"] == 0.05
    assert check.summary().startswith("quality check 1 warning(s): intracranial_air_ml")


def test_no_skull_air_in_the_brain_and_a_wandering_network_are_each_warned(pair):
    mr, ct, head = pair
    soft = ct.with_array(np.where(ct.array > 300, 40, ct.array).astype(ct.array.dtype))  # the skull as soft tissue
    warned = " ".join(check_pseudo_ct(soft, mr, head).warnings)
    assert "skull_layer_bone_share" in warned and "head_hu_p99" in warned and "intracranial_air_ml" not in warned

    grid = np.indices(ct.shape).astype(np.float32)
    centre = np.argwhere(head).mean(axis=0)
    ball = sum(((grid[i] - centre[i]) * float(ct.spacing[i])) ** 2 for i in range(3)) <= 15.0**2  # 3 cm across, in the brain
    air = ct.with_array(np.where(ball, -1000, ct.array).astype(ct.array.dtype))
    check = check_pseudo_ct(air, mr, head)
    assert check.figures["intracranial_air_ml"] > 5.0 and any(w.startswith("intracranial_air_ml") for w in check.warnings)

    assert any(w.startswith("prior_network_disagreement_share") for w in check_pseudo_ct(ct, mr, head, disagreement_share=0.3).warnings)
