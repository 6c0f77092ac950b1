"""discover(): every series under a folder, whatever the file names, with roles and problems."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _ingest_support import pydicom_folder, siemens_dwi_folder

from pipeline.ingest import SeriesInfo, discover
from pipeline.ingest.discover import _assign_myelogram


def test_dicomdir_tree_with_non_dicom_files(tmp_path: Path) -> None:
    tree = tmp_path / "export"
    shutil.copytree(pydicom_folder("dicomdirtests"), tree)  # DICOMDIR files, READMEs, nested folders
    infos = discover(tree)
    numbers = sorted((i.modality, i.series_number) for i in infos)
    assert ("CT", 5) in numbers
    assert ("CR", 1) in numbers
    assert ("MR", 700) in numbers
    smartscore = next(i for i in infos if i.series_number == 5 and i.modality == "CT")
    assert smartscore.shape == (16, 16, 5)
    assert smartscore.spacing_mm == pytest.approx((0.488281, 0.488281, 2.5), abs=1e-5)
    assert smartscore.orientation == "axial"
    assert smartscore.problems == ()
    assert smartscore.role == "other"  # 5 slices: a calcium-score stack, not a myelogram volume
    brain = next(i for i in infos if i.description == "Routine Brain")
    assert any("slice(s) missing" in p for p in brain.problems)  # a 4-file excerpt of a longer series
    radiographs = [i for i in infos if i.modality == "CR"]
    assert all(any("cannot place the image in space" in p for p in i.problems) for i in radiographs)


def test_unreadable_file_reported_with_its_series(tmp_path: Path) -> None:
    folder = tmp_path / "ct"
    shutil.copytree(pydicom_folder("dicomdirtests/98892001/CT5N"), folder)
    (folder / "broken").symlink_to("broken")
    (info,) = discover(folder)
    assert any("broken: cannot read file" in p for p in info.problems)


def test_roles_for_diffusion(tmp_path: Path) -> None:
    (info,) = discover(siemens_dwi_folder(tmp_path))
    assert info.role == "dwi"
    assert info.n_volumes == 2
    assert info.shape == (128, 128, 48, 2)  # unpacked from the mosaic
    assert info.problems == ()


@pytest.mark.realdata
def test_real_ct_series(real_data: Path) -> None:
    (tilted,) = discover(real_data / "dcm_qa_ct" / "GE_tilted_head_ct")
    assert tilted.role == "ct_myelogram"
    assert tilted.n_slices == 28
    assert any("gantry tilt 18.5 deg" in p for p in tilted.problems)
    assert any("uneven slice spacing" in p for p in tilted.problems)
    (anonymised,) = discover(real_data / "totalsegmentator_ct" / "jpeg2000_abdomen_ct")
    assert anonymised.series_uid == ""  # the public files were stripped of their UIDs
    assert anonymised.shape == (512, 512, 20)
    assert any("no SeriesInstanceUID" in p for p in anonymised.problems)


def _info(study: str, description: str, n_slices: int) -> SeriesInfo:
    return SeriesInfo(
        study,
        f"{study}.{description}",
        1,
        description,
        "CT",
        n_slices,
        n_slices,
        1,
        (512, 512, n_slices),
        (0.5, 0.5, 1.0),
        "axial",
        "ct_myelogram",
    )


def test_one_myelogram_guess_per_study() -> None:
    infos = [
        _info("1", "Head 5mm", 40),
        _info("1", "C-spine myelo 0.6", 200),
        _info("1", "Bone 1mm", 300),
        _info("2", "Body", 100),
    ]
    roles = {(i.study_uid, i.description): i.role for i in _assign_myelogram(infos)}
    assert roles == {
        ("1", "Head 5mm"): "other",
        ("1", "C-spine myelo 0.6"): "ct_myelogram",  # the description names the spine
        ("1", "Bone 1mm"): "other",
        ("2", "Body"): "ct_myelogram",  # the only CT volume of its study
    }
