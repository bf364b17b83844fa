"""The generated sections of a model card: licence and data terms from ``model.json``, held-out figures
from benchmark results, never pasted by hand.

A package keeps each benchmark's JSON output beside its card as ``benchmark-<name>.json``. Each
generated section sits between ``<!-- generated: NAME -->`` and ``<!-- /generated: NAME -->`` and is
rewritten from those files; the rest of the card is the training's. Retraining keeps the results
(``diffusionsynth train`` carries them over) and marks those measured on other weights.

A result is one JSON object: ``benchmark`` (its name), ``title``, ``command``, ``date``, ``machine``,
optionally ``code`` (the commit measured),
``models`` (package id -> ``fingerprint``), ``tables`` (each ``title``, ``columns`` as [key, header]
or [key, header, format spec], ``rows``, and optionally ``filter``: the row key that must equal the
package id), and optionally ``notes`` (sentences).

Usage: ``python -m DiffusionSynthLib.cards PACKAGE [RESULT.json ...]`` stores the results in the
package and rewrites its card.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .priors.regression import MAP, candidate_name

RESULT_PREFIX = "benchmark-"
RESULT_KEYS = ("benchmark", "title", "command", "date", "machine", "models", "tables")
TERMS_BLOCK = "licence"
PRIOR_BLOCK = "prior"


def fingerprint(config: dict[str, Any]) -> dict[str, str]:
    """What a result was measured on: each network's weights sha256, the keys answered by the prior alone, those whose
    quantiles are matched, a digest of calibrated growth parameters and one of the classical prior's parameters."""
    prints = {name: str(spec.get("sha256")) for name, spec in config.get("networks", {}).items()}
    if config.get("refiner", {}).get("prior_only"):
        prints["prior only"] = ", ".join(config["refiner"]["prior_only"])
    if config.get("refiner", {}).get("weights"):
        prints["network weights"] = ", ".join(f"{key} {weight:g}" for key, weight in sorted(config["refiner"]["weights"].items()))
    if config.get("calibration", {}).get("used"):
        prints["quantile matching"] = ", ".join(config["calibration"]["used"])
    if "growth" in config:
        prints["growth"] = hashlib.sha256(json.dumps(config["growth"], sort_keys=True).encode()).hexdigest()
    if "prior" in config:  # the classical prior's fitted parameters: a changed prior changes every output
        prints["prior"] = hashlib.sha256(json.dumps(config["prior"], sort_keys=True).encode()).hexdigest()[:16]
    return prints


def set_block(card: str, name: str, body: str) -> str:
    """``card`` with the generated block ``name`` replaced by ``body`` (appended when absent)."""
    start, end = f"<!-- generated: {name} -->", f"<!-- /generated: {name} -->"
    text = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(card):
        return pattern.sub(lambda _: text, card, count=1)
    return card.rstrip("\n") + "\n\n" + text + "\n"


def terms_section(config: dict[str, Any]) -> str:
    licence = config.get("licence", "not recorded (a package from before licences were recorded)")
    terms = config.get("data_terms", "not recorded (a package from before data terms were recorded)")
    return (
        f"## Licence and data terms\n- Licence of this package (weights or parameters, and this card): {licence}\n"
        f"- Terms of the training data, which apply to what the package learned from it: {terms}\n"
        "- The code: Apache-2.0 (`LICENSE` at the repository root)."
    )


def prior_section(prior: dict[str, Any]) -> str:
    """The regression prior's candidates per configuration: each one's validation error and the one chosen."""
    fits = prior["fits"]
    kinds = list(dict.fromkeys(kind for fit in fits.values() for kind in fit.get("validation_mae", {})))
    smoothing = " and ".join(f"{s:g}" for s in prior.get("scales_mm", []))
    sd = " and ".join(f"{s:g}" for s in prior.get("texture_scales_mm", []))
    meaning = {
        "quadratic": "`quadratic`: the given values and their products",
        "multiscale": f"`multiscale`: those and each given image smoothed at {smoothing} mm",
        "texture": f"`texture`: the values, products, images smoothed at {smoothing} mm, and each image's local SD at {sd} mm",
    }
    named = [text for kind, text in meaning.items() if kind in kinds]
    if any(kind.endswith(MAP) for kind in kinds):
        named.append(f"`{MAP}`: plus a table of the polynomial's residual over the given values")
    lines = ["| configuration | training cases | chosen | " + " | ".join(kinds) + " |", "|" + "---|" * (3 + len(kinds))]
    for key, fit in sorted(fits.items()):
        scores, chosen = fit.get("validation_mae", {}), candidate_name(fit)
        cells = [f"**{scores[k]:.3f}**" if k == chosen else f"{scores[k]:.3f}" if k in scores else "-" for k in kinds]
        lines.append(f"| {key} | {fit.get('cases', '-')} | {chosen} | " + " | ".join(cells) + " |")
    explanation = (
        "Mean absolute error (z units) in the validation case's brain of each candidate fitted on the training cases "
        "(lower is better); the lowest is kept. " + "; ".join(named) + "."
    )
    return "\n\n".join(["## Prior: the candidate chosen for each configuration", explanation, "\n".join(lines)])


def _cell(value: Any, spec: str | None) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value).lower()
    if isinstance(value, (int, float)) and spec:
        return format(value, spec)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def table_markdown(table: dict[str, Any], package_id: str) -> str | None:
    """One result table as markdown; rows for other packages left out when the table says so (None when none is left)."""
    rows = table["rows"]
    if table.get("filter"):
        rows = [row for row in rows if row.get(table["filter"]) == package_id]
    if not rows:
        return None
    columns = [(c[0], c[1], c[2] if len(c) > 2 else None) for c in table["columns"]]
    lines = ["| " + " | ".join(header for _, header, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(key), spec) for key, _, spec in columns) + " |" for row in rows]
    return "\n".join(lines)


def result_section(result: dict[str, Any], config: dict[str, Any]) -> str:
    """A result as a card section, saying whether it was measured on this package's weights."""
    package_id = str(config["id"])
    measured = result["models"].get(package_id)
    if measured is None:
        status = f"**Not measured on `{package_id}`** (the result names {', '.join(result['models']) or 'no model'})."
    elif measured == fingerprint(config):
        status = "Measured on these weights."
    elif "prior" not in measured and measured == {k: v for k, v in fingerprint(config).items() if k != "prior"}:
        status = "Measured on these networks (recorded before the fingerprint covered the prior, so the prior is not checked)."
    else:
        status = (
            f"**Measured on earlier weights** (fingerprint {json.dumps(measured)}): the package was retrained since; run the command again and render the card."
        )
    code = f" (code {result['code']})" if result.get("code") else ""
    parts = [f"## {result['title']}", f"`{result['command']}`{code}, {result['date']}, {result['machine']}. {status}"]
    tables = [(table.get("title"), table_markdown(table, package_id)) for table in result["tables"]]
    for title, markdown in tables:
        if markdown is not None:
            parts += [title, markdown] if title else [markdown]
    if all(markdown is None for _, markdown in tables):
        parts.append(f"(no row for `{package_id}` in this result)")
    parts += list(result.get("notes", []))
    parts.append(f"(Rendered from `{RESULT_PREFIX}{result['benchmark']}.json` by `python -m DiffusionSynthLib.cards`.)")
    return "\n\n".join(parts)


def check_result(result: Any, where: str) -> dict[str, Any]:
    missing = [key for key in RESULT_KEYS if not isinstance(result, dict) or key not in result]
    if missing:
        raise ValueError(f"'{where}' is not a benchmark result: it lacks {missing}.")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(result["benchmark"])):
        raise ValueError(f"'{where}' names its benchmark {result['benchmark']!r}; use letters, digits, '.', '_', '-'.")
    return result


def stored_results(package: Path) -> dict[str, dict[str, Any]]:
    """The benchmark results kept in a package folder, by name (none for a folder that does not exist)."""
    if not package.is_dir():
        return {}
    results = [check_result(json.loads(f.read_text()), str(f)) for f in sorted(package.glob(f"{RESULT_PREFIX}*.json"))]
    return {str(result["benchmark"]): result for result in results}


def _write(path: Path, text: str) -> None:
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.chmod(staging, 0o644)
    os.replace(staging, path)


def store_results(package: Path, results: Sequence[dict[str, Any]]) -> None:
    for result in results:
        check_result(result, "a result")
        _write(package / f"{RESULT_PREFIX}{result['benchmark']}.json", json.dumps(result, indent=2) + "\n")


def render_card(package: Path) -> Path:
    """Rewrite the generated blocks of ``package``'s ``MODEL_CARD.md`` from its ``model.json`` and stored results."""
    config = json.loads((package / "model.json").read_text())
    card_path = package / "MODEL_CARD.md"
    card = card_path.read_text() if card_path.is_file() else f"# Model card: {config['id']}\n"
    card = set_block(card, TERMS_BLOCK, terms_section(config))
    if config.get("prior", {}).get("kind") == "polynomial-regression":
        card = set_block(card, PRIOR_BLOCK, prior_section(config["prior"]))
    stored = stored_results(package)
    for name, result in sorted(stored.items()):
        card = set_block(card, f"{RESULT_PREFIX}{name}", result_section(result, config))
    for name in re.findall(rf"<!-- generated: {re.escape(RESULT_PREFIX)}([A-Za-z0-9_.-]+) -->", card):
        if name not in stored:  # its result was removed from the package: the card no longer shows it
            card = re.sub(
                rf"\n*<!-- generated: {re.escape(RESULT_PREFIX + name)} -->.*?<!-- /generated: {re.escape(RESULT_PREFIX + name)} -->\n?",
                "\n",
                card,
                flags=re.DOTALL,
            )
    _write(card_path, card)
    return card_path


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m DiffusionSynthLib.cards PACKAGE [RESULT.json ...]", file=sys.stderr)
        return 2
    package = Path(args[0])
    if not (package / "model.json").is_file():
        print(f"error: '{package}' is not a model package (no model.json).", file=sys.stderr)
        return 2
    try:
        store_results(package, [check_result(json.loads(Path(p).read_text()), p) for p in args[1:]])
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {render_card(package)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
