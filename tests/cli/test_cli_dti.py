"""``cordotomy dti`` end to end (NIfTI and DICOM inputs) and its refusals of bad input (exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pipeline import cli
from pipeline.outputs import MARKER
from pipeline.phantom.dicom_series import SeriesInfo, StudyInfo, write_mr_series
from pipeline.phantom.dwi import DwiPhantom, make_dwi_phantom


def _write_nifti_dwi(
    folder: Path,
    data: np.ndarray,
    affine_lps: np.ndarray,
    bvals: np.ndarray | None,
    bvecs: np.ndarray | None,
) -> Path:
    """DWI as dcm2niix writes it: NIfTI (RAS) + FSL .bval (one row) and .bvec (three rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dwi.nii.gz"
    nib.Nifti1Image(data.astype(np.float32), np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_lps).to_filename(path)
    if bvals is not None:
        (folder / "dwi.bval").write_text(" ".join(f"{b:g}" for b in bvals) + "\n")
    if bvecs is not None:
        (folder / "dwi.bvec").write_text(
            "\n".join(" ".join(f"{v:.8f}" for v in row) for row in bvecs.T) + "\n"
        )
    return path


def _write_mask(path: Path, mask: np.ndarray, affine_lps: np.ndarray) -> Path:
    nib.Nifti1Image(mask.astype(np.uint8), np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_lps).to_filename(path)
    return path


@pytest.fixture(scope="module")
def phantom() -> DwiPhantom:
    return make_dwi_phantom(seed=2, cordotomy_side="right", cord_offset_mm=(1.6, -2.4), rotation_deg=8.0)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_nifti_input_without_masks(phantom: DwiPhantom, tmp_path: Path) -> None:
    volume = phantom.volume
    dwi = _write_nifti_dwi(
        tmp_path / "in", volume.array, volume.affine_lps, phantom.bvals_s_mm2, phantom.bvecs
    )
    out = tmp_path / "out"
    assert cli.main(["dti", str(dwi), "--out", str(out)]) == 0
    document = json.loads((out / "dti.json").read_text())
    assert document["schema"] == "cordotomy.dti/1"
    assert document["lesion_source"] == "detected"
    assert document["lesion_side"] == "right"
    assert document["cord"]["source"] == "segmented"
    for key in ("voxels", "volume_mm3", "fa", "md_mm2_s", "ad_mm2_s", "rd_mm2_s"):
        assert key in document["lesion"]
        assert key in document["homolog"]
    assert set(document["change_percent"]) == {"fa", "md", "ad", "rd"}
    assert document["reference_change_percent"] == {"fa": -30.0, "md": -12.0, "ad": -33.0, "rd": 13.0}
    assert document["lesion_cord_fraction_threshold"]["min_percent"] == 6.2
    # Maps and masks on the DWI grid, overlaying it exactly.
    source = nib.load(dwi)
    for name in ("fa", "md", "ad", "rd", "lesion", "homolog", "cord", "color_fa", "v1", "mean_b0"):
        image = nib.load(out / "dti" / f"{name}.nii.gz")
        assert image.shape[:3] == source.shape[:3]
        np.testing.assert_allclose(image.affine, source.affine, atol=1e-5)
    lesion = np.asarray(nib.load(out / "dti" / "lesion.nii.gz").dataobj) > 0
    # A 10-voxel lesion: the detected ROI depends on the cord mask's midline to a voxel. Measured with the
    # phantom's true cord mask the Dice is 0.50, with the MRI cord segmentation of issue #14 0.64 (its cord
    # Dice here is 0.999); the bound checks a detected lesion overlapping the truth, not the detector's
    # accuracy (tests/dti/test_dti_lesion.py does that).
    assert _dice(lesion, phantom.lesion_mask) >= 0.6
    md = np.asarray(nib.load(out / "dti" / "md.nii.gz").dataobj)
    assert abs(float(md[phantom.homolog_mask].mean()) / phantom.truth["homolog"]["md_mm2_s"] - 1) < 0.05


def test_dicom_input_with_masks(phantom: DwiPhantom, tmp_path: Path) -> None:
    """DICOM DWI through ingest: gradients in LPS become FSL b-vectors; metrics equal the NIfTI route's."""
    stored = phantom.volume.with_array(np.clip(np.rint(phantom.volume.array), 0, 65535).astype(np.uint16))
    write_mr_series(
        stored,
        tmp_path / "dicom",
        StudyInfo(key="dti-cli-test"),
        SeriesInfo(5, "DTI cord 20dir b1000", frame_key="session"),
        bvals_s_mm2=phantom.bvals_s_mm2,
        directions_lps=phantom.directions_lps,
    )
    affine = phantom.volume.affine_lps
    lesion = _write_mask(tmp_path / "lesion.nii.gz", phantom.lesion_mask, affine)
    cord = _write_mask(tmp_path / "cord.nii.gz", phantom.cord_mask, affine)
    out = tmp_path / "out"
    argv = [
        "dti",
        str(tmp_path / "dicom"),
        "--out",
        str(out),
        "--lesion-mask",
        str(lesion),
        "--cord-mask",
        str(cord),
    ]
    assert cli.main([*argv, "--lesion-side", "right"]) == 0
    document = json.loads((out / "dti.json").read_text())
    assert document["lesion_source"] == "mask"
    assert document["cord"]["source"] == "mask"
    assert document["lesion"]["voxels"] == int(phantom.lesion_mask.sum())
    assert document["input"]["series_number"] == 5
    for key, truth in (("md_mm2_s", "md_mm2_s"), ("ad_mm2_s", "ad_mm2_s")):
        assert abs(document["lesion"][key] / phantom.truth["lesion"][truth] - 1) < 0.05
    # Same data as NIfTI (the integers DICOM stored) give the same answer: the gradient frames agree.
    nifti = _write_nifti_dwi(tmp_path / "nii", stored.array, affine, phantom.bvals_s_mm2, phantom.bvecs)
    assert cli.main(["dti", str(nifti), "--out", str(tmp_path / "out2"), "--lesion-mask", str(lesion)]) == 0
    again = json.loads((tmp_path / "out2" / "dti.json").read_text())
    for key in ("fa", "md", "ad", "rd"):
        assert again["change_percent"][key] == pytest.approx(document["change_percent"][key], abs=1e-3)


def test_existing_output_needs_force(phantom: DwiPhantom, tmp_path: Path, capsys) -> None:
    volume = phantom.volume
    dwi = _write_nifti_dwi(
        tmp_path / "in", volume.array, volume.affine_lps, phantom.bvals_s_mm2, phantom.bvecs
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep")
    assert cli.main(["dti", str(dwi), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "old.txt").exists()
    # --force replaces only a folder an earlier run of ours wrote (its marker), never anyone else's.
    assert cli.main(["dti", str(dwi), "--out", str(out), "--force"]) == 2
    assert "not written by cordotomy" in capsys.readouterr().err
    (out / MARKER).write_text(json.dumps({"tool": "cordotomy", "version": "0", "command": "dti"}))
    assert cli.main(["dti", str(dwi), "--out", str(out), "--force"]) == 0
    assert (out / "dti.json").exists()
    assert not (out / "old.txt").exists()


def _broken_input(case: str, phantom: DwiPhantom, folder: Path) -> list[str]:
    data, affine = phantom.volume.array, phantom.volume.affine_lps
    bvals, bvecs = phantom.bvals_s_mm2.copy(), phantom.bvecs.copy()
    extra: list[str] = []
    folder.mkdir(parents=True, exist_ok=True)
    if case == "gradients-missing":
        bvals = bvecs = None
    elif case == "bval-bvec-count":
        bvecs = bvecs[:-1]
    elif case == "negative-b":
        bvals[5] = -1000.0
    elif case == "weighted-without-direction":
        bvecs[5] = 0.0
    elif case == "five-directions":
        data, bvals, bvecs = data[..., :7], bvals[:7], bvecs[:7]
    elif case == "volume-count":
        data = data[..., :-1]
    elif case == "nan-voxels":
        data = data.copy()
        data[3, 3, 3, 4] = np.nan
    elif case == "empty-lesion-mask":
        extra = ["--lesion-mask", str(_write_mask(folder / "empty.nii.gz", np.zeros(data.shape[:3]), affine))]
    elif case == "lesion-mask-not-a-file":
        extra = ["--lesion-mask", str(folder / "absent.nii.gz")]
    return [str(_write_nifti_dwi(folder, data, affine, bvals, bvecs)), *extra]


BROKEN = [
    pytest.param("gradients-missing", "gradients missing", id="gradients-missing"),
    pytest.param("bval-bvec-count", "does not match", id="bval-bvec-count-mismatch"),
    pytest.param("negative-b", "non-negative", id="negative-b-value"),
    pytest.param("weighted-without-direction", "no unit gradient direction", id="b1000-without-direction"),
    pytest.param("five-directions", "at least 6", id="fewer-than-6-directions"),
    pytest.param("volume-count", "b-values", id="volume-count-mismatch"),
    pytest.param("nan-voxels", "NaN", id="nan-voxels"),
    pytest.param("empty-lesion-mask", "empty", id="empty-lesion-mask"),
    pytest.param("lesion-mask-not-a-file", "no such file", id="missing-lesion-mask"),
]


@pytest.mark.parametrize(("case", "words"), BROKEN)
def test_bad_input_exits_3_and_writes_nothing(
    phantom: DwiPhantom, tmp_path: Path, capsys, case, words
) -> None:
    argv = _broken_input(case, phantom, tmp_path / "in")
    out = tmp_path / "out"
    assert cli.main(["dti", argv[0], "--out", str(out), *argv[1:]]) == 3
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_failed_motion_correction_exits_4(phantom: DwiPhantom, tmp_path: Path, capsys) -> None:
    """Motion beyond the limits of seeds/ (here overridden to a millionth of a degree/mm) is refused."""
    volume = phantom.volume
    dwi = _write_nifti_dwi(
        tmp_path / "in", volume.array, volume.affine_lps, phantom.bvals_s_mm2, phantom.bvecs
    )
    limits = tmp_path / "limits.yaml"
    limits.write_text(
        "diffusion:\n  motion_correction:\n    max_rotation_deg: 1.0e-6\n    max_translation_mm: 1.0e-6\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert (
        cli.main(["dti", str(dwi), "--out", str(out), "--motion-correction", "--parameters", str(limits)])
        == 4
    )
    assert "motion correction failed" in capsys.readouterr().err
    assert not out.exists()
