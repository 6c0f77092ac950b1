"""Study: one scan of a case folder, roles with reasons, loading by role without scanning again."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pipeline import cli
from pipeline.errors import AnalysisError, UsageError
from pipeline.ingest import Role, Study, VascularKind, discover

discover_module = importlib.import_module("pipeline.ingest.discover")

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "normal"
TRUTH = json.loads((SAMPLE / "truth" / "truth.json").read_text())


@pytest.fixture
def walk_counter(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every folder walk of the ingest (the one place that lists a directory tree)."""
    calls: list[Path] = []
    original = discover_module._walk

    def counting(path: Path, *rest):  # type: ignore[no-untyped-def]
        calls.append(Path(path))
        return original(path, *rest)

    monkeypatch.setattr(discover_module, "_walk", counting)
    return calls


def test_roles_and_reasons_match_the_phantom_truth() -> None:
    study = Study.scan(SAMPLE / "dicom")
    for role in (Role.CT_MYELOGRAM, Role.VASCULAR, Role.DWI):
        chosen = study.require(role)
        expected = TRUTH["series"][role.value]
        assert chosen.info is not None
        assert chosen.info.series_number == expected["series_number"], role
        assert chosen.info.series_uid == expected["series_instance_uid"], role
        assert chosen.reason
    assert study.require(Role.VASCULAR).vascular_kind is VascularKind.CTA
    listing = study.as_dict()
    assert listing["roles"]["ct_myelogram"] == study.require(Role.CT_MYELOGRAM).label


def test_a_run_like_flow_lists_the_study_folder_once(walk_counter: list[Path]) -> None:
    study = Study.scan(SAMPLE / "dicom")
    ct = study.load(Role.CT_MYELOGRAM)
    vascular = study.load(Role.VASCULAR)
    dwi = study.load_dwi()
    sources = study.source_datasets(Role.CT_MYELOGRAM)
    assert walk_counter == [SAMPLE / "dicom"]
    assert ct.array.shape == tuple(TRUTH["series"]["ct_myelogram"]["shape"])
    np.testing.assert_allclose(ct.affine_lps, TRUTH["series"]["ct_myelogram"]["affine_lps"], atol=1e-6)
    np.testing.assert_allclose(vascular.affine_lps, TRUTH["series"]["vascular"]["affine_lps"], atol=1e-6)
    np.testing.assert_allclose(dwi.bvals_s_mm2, TRUTH["dwi"]["bvals_s_mm2"])
    assert sources is not None
    assert len(sources) == ct.array.shape[2]
    # Provenance names the series for every writer.
    assert ct.provenance.series_number == 2
    assert ct.provenance.modality == "CT"
    assert dwi.volume.provenance.series_number == TRUTH["series"]["dwi"]["series_number"]
    expected_description = pydicom.dcmread(ct.provenance.source_files[0], stop_before_pixels=True)
    assert ct.provenance.description == expected_description.SeriesDescription


def test_segment_with_vascular_in_the_same_folder_scans_it_once(
    walk_counter: list[Path], tmp_path: Path
) -> None:
    study = Study.from_inputs({Role.CT_MYELOGRAM: SAMPLE / "dicom", Role.VASCULAR: SAMPLE / "dicom"})
    assert [s.role for s in study.series] == [Role.CT_MYELOGRAM, Role.VASCULAR]
    assert len(walk_counter) == 1


def test_open_chooses_the_only_series_or_the_role_or_refuses(tmp_path: Path) -> None:
    only = Study.open(SAMPLE / "dicom" / "dwi", role=Role.DWI)
    assert only.require(Role.DWI).info.series_number == 5  # type: ignore[union-attr]
    by_number = Study.open(SAMPLE / "dicom", role=Role.VASCULAR, series=2)
    assert by_number.require(Role.VASCULAR).info.series_number == 2  # type: ignore[union-attr]
    assert "--series" in by_number.require(Role.VASCULAR).reason
    # Two CT volumes, neither named: the role is ambiguous only when asked for a role none has.
    folder = tmp_path / "two"
    shutil.copytree(SAMPLE / "dicom" / "dwi", folder / "dwi")
    shutil.copytree(SAMPLE / "dicom" / "vascular", folder / "vascular")
    with pytest.raises(UsageError, match="none has the role 'ct_myelogram'") as error:
        Study.open(folder, role=Role.CT_MYELOGRAM)
    assert "series 3" in str(error.value)
    assert "series 5" in str(error.value)
    with pytest.raises(UsageError, match="no series '42'"):
        Study.open(folder, role=Role.DWI, series=42)
    with pytest.raises(AnalysisError, match="no ct_myelogram series"):
        Study.scan(folder).require(Role.CT_MYELOGRAM)


def test_nifti_inputs_take_the_role_given(tmp_path: Path) -> None:
    study = Study.open(SAMPLE / "nifti" / "dwi.nii.gz", role=Role.DWI)
    chosen = study.require(Role.DWI)
    assert chosen.is_nifti
    assert chosen.reason == "NIfTI file given for this role"
    dwi = study.load_dwi()
    assert dwi.volume.array.shape[3] == len(TRUTH["dwi"]["bvals_s_mm2"])
    assert dwi.volume.provenance.source == "nifti"


def test_inspect_json_prints_the_study(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inspect", str(SAMPLE / "dicom"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = {"other": None}
    for role in ("ct_myelogram", "vascular", "dwi"):
        first = min((SAMPLE / TRUTH["series"][role]["folder"]).iterdir())
        header = pydicom.dcmread(first, stop_before_pixels=True)
        expected[role] = f"series {header.SeriesNumber} ({header.SeriesDescription!r})"
    assert printed["roles"] == expected
    assert {s["role"] for s in printed["series"]} == {"ct_myelogram", "vascular", "dwi"}
    assert all(s["role_reason"] for s in printed["series"])
    # The same roles as discover's own guess.
    assert {s.series_number: s.role for s in discover(SAMPLE / "dicom")} == {
        s["series_number"]: s["role"] for s in printed["series"]
    }
