"""``cordotomy segment`` refuses images that do not fit, and says what it could not find (issue 13).

* a CT given as ``--contrast t2`` (or an MRI as a CT myelogram) is exit 3, naming the mismatch;
* a CT without intrathecal contrast is exit 4 "no contrast";
* a field of view without C1-C2 is exit 4 "not in the field of view";
* C1-C2 in view but C1 not separable: exit 0, sac and cord written, C1/C2 labels absent and the warning
  recorded in ``myelogram.json``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pipeline import cli
from pipeline.phantom.ct import CtCase, make_ct_case
from pipeline.volume import Provenance, Volume


@functools.cache
def _case(variant: str) -> CtCase:
    return make_ct_case(variant, seed=4, vascular=None)


def _save(volume: Volume, path: Path) -> Path:
    nib.save(volume.to_nifti(), str(path))
    return path


def _outputs_absent(out: Path) -> bool:
    return not out.exists() and not list(out.parent.glob(f".{out.name}*"))


def test_ct_given_as_t2_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _save(_case("normal").ct, tmp_path / "ct.nii.gz")
    out = tmp_path / "out"
    assert cli.main(["segment", str(source), "--out", str(out), "--contrast", "t2"]) == 3
    error = capsys.readouterr().err
    assert "is a CT" in error
    assert "--contrast ct-myelogram" in error
    assert _outputs_absent(out)


def test_mri_given_as_ct_myelogram_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    magnitude = np.abs(rng.normal(300.0, 80.0, (40, 40, 20))).astype(np.float32)
    source = _save(Volume(magnitude, np.diag([0.8, 0.8, 1.0, 1.0])), tmp_path / "t2.nii.gz")
    out = tmp_path / "out"
    assert cli.main(["segment", str(source), "--out", str(out)]) == 3
    assert "does not look like a CT in Hounsfield units" in capsys.readouterr().err
    assert _outputs_absent(out)


def test_dicom_modality_decides_over_values() -> None:
    from pipeline.errors import InputDataError
    from pipeline.myelogram.contrast import Contrast, check_modality

    ct = _case("normal").ct
    with pytest.raises(InputDataError, match="Modality CT"):
        check_modality(ct, Contrast.T2, "series 2")
    check_modality(ct, Contrast.CT_MYELOGRAM, "series 2")
    mr = Volume(np.abs(np.asarray(ct.array, dtype=np.float32)), ct.affine_lps, Provenance(modality="MR"))
    with pytest.raises(InputDataError, match="Modality MR"):
        check_modality(mr, Contrast.CT_MYELOGRAM, "series 3")


REFUSED = [
    pytest.param("no-contrast", "no contrast in the thecal sac", id="no-contrast"),
    pytest.param("outside-fov", "C1-C2 not in the field of view", id="outside-fov"),
]


@pytest.mark.parametrize(("variant", "words"), REFUSED)
def test_refused_with_exit_4(
    variant: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _save(_case(variant).ct, tmp_path / "ct.nii.gz")
    out = tmp_path / "out"
    assert cli.main(["segment", str(source), "--out", str(out)]) == 4
    assert words in capsys.readouterr().err
    assert _outputs_absent(out)


@pytest.mark.slow
def test_c1_not_separable_is_a_warning_not_a_refusal(tmp_path: Path) -> None:
    """C1 erased (soft tissue where the atlas was): C2 and its dens are in view, so C1-C2 is in the
    field of view; segment writes the sac and cord, no C1/C2 labels, and says why."""
    case = _case("normal")
    array = np.asarray(case.ct.array).copy()
    array[case.labels.array == 3] = 45
    source = _save(case.ct.with_array(array), tmp_path / "ct.nii.gz")
    out = tmp_path / "out"
    assert cli.main(["segment", str(source), "--out", str(out)]) == 0
    labels = np.asarray(nib.load(str(out / "segmentation.nii.gz")).dataobj)
    truth = case.labels.array
    assert not np.isin(labels, (3, 4)).any()
    cord = labels == 2
    assert 2 * (cord & (truth == 2)).sum() / (cord.sum() + (truth == 2).sum()) >= 0.95
    summary = json.loads((out / "myelogram.json").read_text())
    assert summary["vertebrae"] is None
    assert any("C1 not found" in warning for warning in summary["warnings"])


@pytest.mark.slow
def test_planning_needs_the_vertebrae() -> None:
    """The Python API: with C1 unseparable the result has no vertebrae, and asking for them is exit 4
    naming what was not found (what ``plan`` will report)."""
    from pipeline.errors import AnalysisError
    from pipeline.myelogram.analysis import analyse_myelogram

    case = _case("normal")
    array = np.asarray(case.ct.array).copy()
    array[case.labels.array == 3] = 45
    result = analyse_myelogram(case.ct.with_array(array))
    assert result.vertebrae is None
    assert result.warnings
    with pytest.raises(AnalysisError, match="C1 not found") as caught:
        result.require_vertebrae()
    assert caught.value.exit_code == 4
