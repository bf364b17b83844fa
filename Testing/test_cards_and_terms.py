"""Licence and data terms in every package, model cards written from the data given and from benchmark results."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from DiffusionSynthLib import cards
from DiffusionSynthLib.cli import main
from DiffusionSynthLib.models import builtin_models
from DiffusionSynthLib.models.package import load_model
from DiffusionSynthLib.train.terms import UNKNOWN_TERMS, UNSPECIFIED_LICENCE, data_terms
from DiffusionSynthLib.volume import read_volume

REPO = Path(__file__).resolve().parents[1]


def test_the_code_has_its_licence_file():
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_every_builtin_package_states_its_licence_and_data_terms():
    rows = builtin_models()
    assert {row["task"] for row in rows} >= {"mri-to-ct", "impute", "inpaint", "forecast"}
    for row in rows:
        config = json.loads((Path(row["path"]) / "model.json").read_text())
        assert config.get("licence", "").strip() and config.get("data_terms", "").strip(), row["id"]
        card = Path(row["card"]).read_text()
        assert "<!-- generated: licence -->" in card and config["licence"] in card and config["data_terms"] in card, row["id"]
        load_model(row["path"])  # the keys changed model.json only: the weights still match their sha256


def test_data_terms_come_from_the_data_folder(shared_data):
    assert "Creative Commons Attribution 3.0" in data_terms(shared_data / "tumour_progression")  # license_tcia.html
    brats = data_terms(shared_data / "brats2013_flair_t1c")  # LICENSE.txt in each case folder, quoted once
    assert "NonCommercial" in brats and brats.count("Switzerland") == 1 and "brats_2013_pat0004/LICENSE.txt" in brats
    assert data_terms(shared_data / "brain_tumour_mri") == UNKNOWN_TERMS  # states nothing itself
    assert data_terms(shared_data / "brain_tumour_mri", "research use only") == "research use only"


def test_a_trained_package_records_licence_and_terms(tiny_model):
    config = json.loads((tiny_model / "model.json").read_text())
    assert config["licence"] == UNSPECIFIED_LICENCE and config["data_terms"] == UNKNOWN_TERMS  # no --licence; the pairs state no terms
    assert UNKNOWN_TERMS in (tiny_model / "MODEL_CARD.md").read_text()


def _measured_result(package: Path, mri: Path) -> dict:
    """A real, small benchmark: one pseudo-CT with the package, timed, in the result format the renderer reads."""
    from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct

    model, volume = load_model(package, "mri-to-ct"), read_volume(mri)
    started = time.perf_counter()
    result = mri_to_ct(volume, model, steps=1, device="cpu")
    seconds = time.perf_counter() - started
    row = {
        "model": model.id,
        "input": "x".join(map(str, volume.shape)),
        "seconds": seconds,
        "mean_hu_in_head": float(np.mean(result.ct.array[result.head_mask])),
    }
    return {
        "benchmark": "tiny-speed",
        "title": "One pseudo-CT, timed",
        "command": "Testing/test_cards_and_terms.py",
        "date": "today",
        "machine": "this one",
        "models": {model.id: cards.fingerprint(model.config)},
        "tables": [
            {
                "columns": [["input", "input"], ["seconds", "seconds", ".4f"], ["mean_hu_in_head", "mean HU", ".2f"]],
                "rows": [row, {**row, "model": "another-model", "input": "not this package's"}],
                "filter": "model",
            }
        ],
    }, row


def test_results_render_into_the_card_and_survive_retraining(tiny_model, small_mri, tmp_path, capsys):
    package = tmp_path / tiny_model.name  # retraining names the package after its folder
    shutil.copytree(tiny_model, package)
    result, row = _measured_result(package, small_mri)
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result))
    assert cards.main([str(package), str(path)]) == 0
    line = f"| {row['input']} | {row['seconds']:.4f} | {row['mean_hu_in_head']:.2f} |"
    card = (package / "MODEL_CARD.md").read_text()
    assert line in card and "Measured on these weights." in card and "not this package's" not in card
    assert cards.main([str(package), str(path)]) == 0 and (package / "MODEL_CARD.md").read_text() == card  # rendering is idempotent

    pairs = tiny_model.parent / "pairs"
    train = [
        "train",
        "--task",
        "mri-to-ct",
        "--data",
        str(pairs),
        "--output",
        str(package),
        "--preset",
        "tiny",
        "--max-steps",
        "1",
        "--patch",
        "32",
        "32",
        "16",
        "--batch",
        "1",
        "--seed",
        "1",
        "--licence",
        "Apache-2.0",
    ]
    assert main(train) == 0
    card = (package / "MODEL_CARD.md").read_text()
    assert line in card and "Measured on earlier weights" in card and "Measured on these weights." not in card
    assert json.loads((package / "model.json").read_text())["licence"] == "Apache-2.0"


def _bare_result(config: dict) -> dict:
    """A result with no table, measured on ``config``'s weights."""
    return {
        "benchmark": "prior-check",
        "title": "A check",
        "command": "Testing/test_cards_and_terms.py",
        "date": "today",
        "machine": "this one",
        "models": {config["id"]: cards.fingerprint(config)},
        "tables": [],
    }


def test_a_changed_prior_marks_a_result_as_measured_on_other_weights(tiny_model, tmp_path):
    """The fingerprint covers the classical prior's parameters: a result measured before the prior was changed (networks
    untouched) is no longer 'measured on these weights'; one recorded before the fingerprint had the prior says so."""
    package = tmp_path / "tiny-copy"
    shutil.copytree(tiny_model, package)
    config = json.loads((package / "model.json").read_text())
    result = _bare_result(config)
    assert "prior" in result["models"][config["id"]]
    cards.store_results(package, [result])
    assert "Measured on these weights." in cards.render_card(package).read_text()
    config["prior"]["changed by hand"] = 1
    (package / "model.json").write_text(json.dumps(config))
    assert "Measured on earlier weights" in cards.render_card(package).read_text()
    older = {k: v for k, v in cards.fingerprint(config).items() if k != "prior"}
    cards.store_results(package, [{**result, "models": {config["id"]: older}}])
    assert "recorded before the fingerprint covered the prior" in cards.render_card(package).read_text()


def test_a_result_removed_from_the_package_leaves_the_card(tiny_model, tmp_path):
    package = tmp_path / "tiny-copy"
    shutil.copytree(tiny_model, package)
    config = json.loads((package / "model.json").read_text())
    result = {**_bare_result(config), "benchmark": "gone-soon"}
    cards.store_results(package, [result])
    assert "<!-- generated: benchmark-gone-soon -->" in cards.render_card(package).read_text()
    (package / "benchmark-gone-soon.json").unlink()
    card = cards.render_card(package).read_text()
    assert "benchmark-gone-soon" not in card and "A check" not in card and "<!-- generated: licence -->" in card


def test_shipped_results_come_from_committed_code():
    """Every benchmark result a built-in package ships (and its card shows) was measured on committed code."""
    from DiffusionSynthLib.models.registry import BUILTIN_DIR

    dirty = [
        f"{path.parent.name}/{path.name}" for path in sorted(BUILTIN_DIR.glob("*/benchmark-*.json")) if "uncommitted" in json.loads(path.read_text())["code"]
    ]
    assert not dirty, f"measured on code with uncommitted changes: {dirty}"


def test_the_renderer_refuses_what_is_not_a_result(tiny_model, tmp_path, capsys):
    package = tmp_path / "tiny-copy"
    shutil.copytree(tiny_model, package)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"title": "no benchmark name"}))
    before = (package / "MODEL_CARD.md").read_text()
    assert cards.main([str(package), str(bad)]) == 2 and "lacks" in capsys.readouterr().err
    assert (package / "MODEL_CARD.md").read_text() == before and not list(package.glob("benchmark-*.json"))


def test_builtin_cards_are_rendered_from_their_stored_results(tmp_path):
    """No hand edit inside a generated block: rendering a built-in card again changes nothing, and each keeps its speed result."""
    for row in builtin_models():
        assert "speed" in cards.stored_results(Path(row["path"])), row["id"]
        copy = tmp_path / row["id"]
        shutil.copytree(row["path"], copy)
        cards.render_card(copy)
        assert (copy / "MODEL_CARD.md").read_text() == Path(row["card"]).read_text(), row["id"]


def test_the_card_shows_each_prior_candidates_validation_error_and_the_one_chosen():
    """From a fitted ``model.json`` prior: a row per configuration, the chosen candidate in bold, the scales named."""
    prior = {
        "kind": "polynomial-regression",
        "scales_mm": [2.0, 5.0],
        "texture_scales_mm": [3.0, 8.0],
        "fits": {
            "t1c->t2f": {"features": "texture", "map": {}, "cases": 7, "validation_mae": {"quadratic": 0.61, "texture": 0.55, "texture+map": 0.52}},
            "t2f->t1c": {"features": "quadratic", "cases": 7, "validation_mae": {"quadratic": 0.70, "texture": 0.71, "texture+map": 0.72}},
        },
    }
    section = cards.prior_section(prior)
    assert "| t1c->t2f | 7 | texture+map | 0.610 | 0.550 | **0.520** |" in section
    assert "| t2f->t1c | 7 | quadratic | **0.700** | 0.710 | 0.720 |" in section
    assert "local SD at 3 and 8 mm" in section and "`+map`" in section and "multiscale" not in section
