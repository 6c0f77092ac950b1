"""The committed sample study: small, readable by our loader, and regenerated bit-for-bit by the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from phantom_cases import study_in_memory

from pipeline import cli, ingest
from pipeline.outputs import MARKER

# Not imported from conftest: other test folders' conftest modules shadow the root one.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

SAMPLE = PROJECT_ROOT / "sample_data" / "normal"
# The exact command documented in sample_data/README.md.
REGENERATE = ["phantom", "{out}", "--variant", "normal", "--seed", "0", "--vascular", "cta", "--compress"]


def _files(root: Path) -> dict[str, bytes]:
    """Every file of a study, except the result marker the command adds (pipeline.outputs.MARKER)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def test_sample_is_small_and_documented() -> None:
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total <= 15 * 1024 * 1024
    readme = (PROJECT_ROOT / "sample_data" / "README.md").read_text()
    assert (
        "cordotomy phantom sample_data/normal --variant normal --seed 0 --vascular cta --compress" in readme
    )


def test_command_regenerates_sample_bit_for_bit(tmp_path: Path) -> None:
    out = tmp_path / "normal"
    assert cli.main([arg.format(out=out) for arg in REGENERATE]) == 0
    expected, produced = _files(SAMPLE), _files(out)
    assert sorted(produced) == sorted(expected)
    differing = [name for name in expected if produced[name] != expected[name]]
    assert not differing, differing[:5]


@pytest.mark.parametrize("series", ["ct_myelogram", "vascular", "dwi"])
def test_loader_reads_sample_with_truth_geometry(series: str) -> None:
    truth = json.loads((SAMPLE / "truth" / "truth.json").read_text())
    volume = ingest.load_series(SAMPLE / "dicom" / series)
    info = truth["series"][series]
    assert list(volume.shape) == info["shape"]
    np.testing.assert_allclose(volume.affine_lps, np.asarray(info["affine_lps"]), atol=1e-4)
    # Voxels against the generator itself (ground truth), not against another file of the sample.
    study = study_in_memory("normal", 0, "cta")
    generated = {"ct_myelogram": study.case.ct, "vascular": study.case.vascular, "dwi": study.dwi.volume}[
        series
    ]
    assert generated is not None
    expected = generated.array.astype(np.float64)
    if series == "dwi":  # stored as unsigned integers
        expected = np.clip(np.rint(expected), 0, 65535)
    np.testing.assert_array_equal(np.asarray(volume.array, dtype=np.float64), expected)
