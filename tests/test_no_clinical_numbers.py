"""No clinical number of seeds/ is copied into the code (issue 11).

Every module-level constant of ``pipeline/`` (``NAME = 3.0``, ``NAME = (180.0, 800.0)``) is compared with
every number of the clinical seed files. A constant is a copy when one of its numbers equals a seed's
value (or half of it, for a radius named after a diameter) and its name shares at least two words with
the seed's key (``DORSAL_OFFSET_MM = 0.5`` against ``anatomy.dentate_ligament.dorsal_offset_mm``). One
shared word is not enough: method constants (ray steps, smoothing widths) reuse common words and round
numbers by coincidence. The random phantom family's ranges (``seeds/family.yaml``) are not clinical.
"""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline.seeds import load_seeds

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"
NOT_CLINICAL = {"family"}
GENERIC = {"mm", "hu", "s", "ms", "value", "default", "min", "max", "range", "percent", "of", "the", "per",
           "deg", "mm2", "ohm", "hz", "v", "count", "ratio", "fraction", "pixels", "pixel"}  # fmt: skip


ABBREVIATIONS = {"va": {"vertebral", "artery"}, "stt": {"spinothalamic", "tract"}}


def _words(text: str) -> set[str]:
    words = {w for w in text.lower().replace(".", "_").split("_") if w and w not in GENERIC}
    return words.union(*(ABBREVIATIONS.get(w, set()) for w in words))


def _seed_numbers() -> list[tuple[str, float]]:
    found = []
    for key, seed in load_seeds().items():
        if key.split(".")[0] in NOT_CLINICAL:
            continue
        values = seed.value if isinstance(seed.value, list) else [seed.value]
        found += [(key, float(v)) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return found


def _numbers(node: ast.AST) -> list[float]:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return [float(node.value)]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return [-v for v in _numbers(node.operand)]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [v for element in node.elts for v in _numbers(element)]
    return []


def _module_constants(path: Path) -> list[tuple[str, int, list[float]]]:
    constants = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        numbers = _numbers(value)
        constants += [(t.id, node.lineno, numbers) for t in targets if isinstance(t, ast.Name) and numbers]
    return constants


def _is_copy(name: str, number: float, key: str, seed_value: float) -> bool:
    words, seed_words = _words(name), _words(key)
    if "radius" in words and "diameter" in seed_words:
        seed_value, seed_words = seed_value / 2.0, (seed_words - {"diameter"}) | {"radius"}
    return number == seed_value and len(words & seed_words) >= 2


def copied_constants() -> list[str]:
    seeds = _seed_numbers()
    copies = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "seeds.py":
            continue
        for name, line, numbers in _module_constants(path):
            copies += [
                f"{path.relative_to(PACKAGE.parent)}:{line} {name} = {number:g} copies seed {key}"
                for number in numbers
                for key, value in seeds
                if _is_copy(name, number, key, value)
            ]
    return copies


def test_the_check_finds_a_copy() -> None:
    """The rule catches the forms of copy it is meant for (a direct value and a radius of a diameter)."""
    seeds = dict(_seed_numbers())
    margin = seeds["safety.vertebral_artery_margin_mm"]
    diameter = seeds["anatomy.vertebral_artery.diameter_mm"]
    assert _is_copy("VERTEBRAL_ARTERY_MARGIN_MM", margin, "safety.vertebral_artery_margin_mm", margin)
    assert _is_copy("VA_RADIUS_MM", diameter / 2, "anatomy.vertebral_artery.diameter_mm", diameter)
    assert not _is_copy("RAY_STEP_MM", margin, "safety.vertebral_artery_margin_mm", margin)


def test_no_seed_value_is_copied_into_a_module_constant() -> None:
    assert copied_constants() == []
