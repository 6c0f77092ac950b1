"""Real DWI series of every vendor (../shared/data/dwi_vendors) against dcm2niix's reference output.

For each series, ``convert`` and ``load_dwi`` must give what dcm2niix wrote (ref/): the same volumes in
the same order, b-values within 0.5 %, the same gradient directions in the world with dcm2niix's sign
(dot >= 0.999 for b > 0), a grid that maps onto dcm2niix's voxel centres within 1e-3 mm
(ref/dcm2niix_local_geometry.txt; our rows are not flipped as dcm2niix's are, so the comparison is in
world space), equal voxels where the reference NIfTI is kept, and the same FA as dipy's WLS fit of
dcm2niix's output.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from dipy.core.gradients import gradient_table
from dipy.io.gradients import read_bvals_bvecs
from dipy.reconst.dti import TensorModel

from pipeline.cli import main
from pipeline.dti import fit_tensors
from pipeline.ingest import convert, discover, load_dwi
from pipeline.ingest.diffusion import DiffusionData
from pipeline.ingest.encodings import resolve_headers
from pipeline.ingest.series import select_series
from pipeline.volume import LPS_TO_RAS, Volume, fsl_bvecs_from_lps

pytestmark = pytest.mark.reference

VENDORS = [
    pytest.param("siemens_mosaic_sag", id="siemens-mosaic"),
    pytest.param("siemens_xa60_enhanced", id="siemens-enhanced"),
    pytest.param("philips_classic", id="philips"),
    pytest.param("ge_classic", id="ge"),
    pytest.param("toshiba_classic_ax30_slab", id="toshiba"),
    pytest.param("uih_mosaic_rot", id="uih-mosaic"),
]
B_RELATIVE_TOLERANCE = 0.005
MIN_DOT = 0.999
AFFINE_TOLERANCE_MM = 1e-3
FA_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Reference:
    """dcm2niix's output for one series: encoding, grid, and voxels when kept."""

    bvals: np.ndarray
    bvecs: np.ndarray  # FSL convention for dcm2niix's NIfTI
    shape: tuple[int, ...]
    affine_ras: np.ndarray
    nifti: Path | None


def _folder(real_data: Path, name: str) -> Path:
    folder = real_data / "dwi_vendors" / name
    if not (folder / "dicom").is_dir():
        pytest.skip(f"{folder} not found: the vendor DWI data (see shared/data/dwi_vendors/README.md)")
    return folder


def _reference(folder: Path) -> Reference:
    (bval,) = sorted((folder / "ref").glob("*.bval"))
    bvals, bvecs = read_bvals_bvecs(str(bval), str(bval.with_suffix(".bvec")))
    text = (folder / "ref" / "dcm2niix_local_geometry.txt").read_text()
    shape_match = re.search(r"^shape: \(([^)]*)\)", text, re.MULTILINE)
    assert shape_match is not None
    shape = tuple(int(v) for v in shape_match.group(1).split(","))
    rows = text.split("affine (sform, RAS+ mm):")[1].strip().splitlines()[:4]
    affine = np.array([[float(v) for v in row.split()] for row in rows])
    niftis = sorted((folder / "ref").glob("*.nii.gz"))
    return Reference(bvals, bvecs, shape, affine, niftis[0] if niftis else None)


def _world_ras(bvecs: np.ndarray, affine_ras: np.ndarray) -> np.ndarray:
    """FSL .bvec rows to world (RAS) directions: undo the x flip of a positive determinant, rotate."""
    vectors = np.array(bvecs, dtype=np.float64)
    if np.linalg.det(affine_ras[:3, :3]) > 0:
        vectors[:, 0] = -vectors[:, 0]
    return vectors @ (affine_ras[:3, :3] / np.linalg.norm(affine_ras[:3, :3], axis=0)).T


def _index_map(volume: Volume, reference: Reference) -> tuple[np.ndarray, np.ndarray, float]:
    """Signed axis permutation and offset taking our voxel indices to dcm2niix's, and the largest
    distance (mm) between a corner voxel centre of ours and the dcm2niix voxel centre it maps to."""
    to_reference = np.linalg.inv(reference.affine_ras) @ volume.affine_ras
    permutation = np.round(to_reference[:3, :3])
    assert np.all(np.abs(permutation).sum(axis=0) == 1), f"not an axis permutation:\n{to_reference}"
    offset = np.round(to_reference[:3, 3])
    shape = np.array(volume.shape[:3])
    corners = np.array(
        [[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)]
    )
    ours_ras = corners @ volume.affine_ras[:3, :3].T + volume.affine_ras[:3, 3]
    landing = corners @ permutation.T + offset
    theirs_ras = landing @ reference.affine_ras[:3, :3].T + reference.affine_ras[:3, 3]
    return permutation, offset, float(np.max(np.linalg.norm(ours_ras - theirs_ras, axis=1)))


def _theirs_on_our_grid(
    theirs: np.ndarray, our_shape: tuple[int, ...], permutation: np.ndarray, offset: np.ndarray
) -> np.ndarray:
    grid = np.indices(our_shape[:3]).reshape(3, -1)
    index = (permutation @ grid + offset[:, None]).astype(int)
    assert np.all(index >= 0)
    assert np.all(index.max(axis=1) < np.array(theirs.shape[:3]))
    return theirs[tuple(index)].reshape(our_shape[:3] + theirs.shape[3:])


@pytest.fixture(scope="module")
def loaded() -> dict[str, DiffusionData]:
    """Each series loaded once per module (a few seconds each)."""
    return {}


def _load(real_data: Path, name: str, cache: dict[str, DiffusionData]) -> DiffusionData:
    if name not in cache:
        cache[name] = load_dwi(_folder(real_data, name) / "dicom")
    return cache[name]


@pytest.mark.realdata
@pytest.mark.parametrize("name", VENDORS)
def test_load_dwi_matches_dcm2niix(real_data: Path, name: str, loaded: dict[str, DiffusionData]) -> None:
    folder = _folder(real_data, name)
    reference = _reference(folder)
    dwi = _load(real_data, name, loaded)
    # Volumes: number and order, b-values.
    assert dwi.volume.shape[3] == len(reference.bvals) == reference.shape[3]
    np.testing.assert_allclose(dwi.bvals_s_mm2, reference.bvals, rtol=B_RELATIVE_TOLERANCE, atol=1e-6)
    # Grid: a signed axis permutation of dcm2niix's, landing on its voxel centres.
    permutation, offset, error_mm = _index_map(dwi.volume, reference)
    assert error_mm <= AFFINE_TOLERANCE_MM
    assert sorted(dwi.volume.shape[:3]) == sorted(reference.shape[:3])
    np.testing.assert_allclose(
        np.sort(dwi.volume.spacing_mm),
        np.sort(np.linalg.norm(reference.affine_ras[:3, :3], axis=0)),
        atol=1e-4,
    )
    # Directions in the world, with dcm2niix's sign, for every volume dcm2niix gives one (b > 0; UIH's
    # b=1.25 "b0" has none); zero vectors where dcm2niix writes zero.
    weighted = np.linalg.norm(reference.bvecs, axis=1) > 0
    assert np.all(reference.bvals[weighted] > 0)
    ours = _world_ras(dwi.bvecs, dwi.volume.affine_ras)
    theirs = _world_ras(reference.bvecs, reference.affine_ras)
    theirs[weighted] /= np.linalg.norm(theirs[weighted], axis=1)[:, None]  # GE's are stored as read, |g| != 1
    dots = np.sum(ours * theirs, axis=1)[weighted]
    assert dots.min() >= MIN_DOT, f"worst direction agreement {dots.min():.6f}"
    np.testing.assert_allclose(np.linalg.norm(dwi.bvecs[weighted], axis=1), 1.0, atol=1e-6)
    assert np.all(dwi.bvecs[~weighted] == 0.0)
    # Voxels, where dcm2niix's NIfTI is kept.
    if reference.nifti is not None:
        data = np.asarray(nib.load(reference.nifti).get_fdata(dtype=np.float32))
        theirs_data = _theirs_on_our_grid(data, dwi.volume.shape, permutation, offset)
        np.testing.assert_array_equal(dwi.volume.array, theirs_data)


@pytest.mark.realdata
@pytest.mark.parametrize("name", VENDORS)
def test_convert_writes_what_load_dwi_gives(
    real_data: Path, name: str, tmp_path: Path, loaded: dict[str, DiffusionData]
) -> None:
    folder = _folder(real_data, name)
    out = tmp_path / f"{name}.nii.gz"
    written = convert(folder / "dicom", out)
    assert [p.name for p in written] == [f"{name}.nii.gz", f"{name}.bval", f"{name}.bvec"]
    dwi = _load(real_data, name, loaded)
    image = nib.load(out)
    np.testing.assert_allclose(image.affine, dwi.volume.affine_ras, atol=1e-4)
    assert image.shape == dwi.volume.shape
    bvals, bvecs = read_bvals_bvecs(str(written[1]), str(written[2]))
    np.testing.assert_allclose(bvals, dwi.bvals_s_mm2, rtol=1e-5)
    np.testing.assert_allclose(bvecs, dwi.bvecs, atol=1e-5)


def _signal_mask(data: np.ndarray, bvals: np.ndarray) -> np.ndarray:
    """Voxels whose mean lowest-b signal exceeds a fifth of its 99th percentile (tissue, not air)."""
    b0 = data[..., bvals <= bvals.min() + 1.0].mean(axis=-1)
    return b0 > 0.2 * np.percentile(b0, 99)


def _rounded(values: np.ndarray) -> np.ndarray:
    """Values as dcm2niix prints them in .bvec files (6 significant digits)."""
    return np.vectorize(lambda v: float(f"{v:.6g}"))(values)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("name", VENDORS)
def test_fa_equals_dipy_fit_of_dcm2niix_output(
    real_data: Path, name: str, loaded: dict[str, DiffusionData]
) -> None:
    folder = _folder(real_data, name)
    reference = _reference(folder)
    dwi = _load(real_data, name, loaded)
    data = np.asarray(dwi.volume.array, dtype=np.float64)
    mask = _signal_mask(data, dwi.bvals_s_mm2)
    assert mask.sum() > 100
    ours = fit_tensors(data, dwi.bvals_s_mm2, dwi.bvecs, mask=mask, method="WLS").fa
    permutation, offset, _error = _index_map(dwi.volume, reference)
    tolerance = FA_TOLERANCE
    if reference.nifti is not None:
        # dipy on dcm2niix's own NIfTI and .bval/.bvec, compared on our grid.
        image = np.asarray(nib.load(reference.nifti).get_fdata(dtype=np.float32), dtype=np.float64)
        fit = TensorModel(gradient_table(reference.bvals, bvecs=reference.bvecs), fit_method="WLS").fit(image)
        theirs = _theirs_on_our_grid(fit.fa, dwi.volume.shape, permutation, offset)
    else:
        # No reference NIfTI kept: dipy on our voxels with dcm2niix's directions carried to our grid.
        world_lps = _world_ras(reference.bvecs, reference.affine_ras) @ LPS_TO_RAS[:3, :3]
        bvecs = fsl_bvecs_from_lps(world_lps, dwi.volume.affine_lps)
        model = TensorModel(gradient_table(reference.bvals, bvecs=bvecs), fit_method="WLS")
        theirs = model.fit(data, mask=mask).fa
        # dcm2niix prints 6 significant digits (directions within 6e-7 rad of ours); at b = 2000 s/mm²
        # that rounding alone moves FA by up to ~8e-6, measured here as dipy's FA with our directions
        # against the same directions rounded, and allowed on top of the 1e-6.
        exact = TensorModel(gradient_table(dwi.bvals_s_mm2, bvecs=dwi.bvecs), fit_method="WLS").fit(
            data, mask=mask
        )
        rounded = TensorModel(
            gradient_table(dwi.bvals_s_mm2, bvecs=_rounded(dwi.bvecs)), fit_method="WLS"
        ).fit(data, mask=mask)
        assert np.abs(ours - exact.fa)[mask].max() <= 1e-9  # same encoding: dipy's fit to rounding
        tolerance += 2.0 * float(np.abs(exact.fa - rounded.fa)[mask].max())
    difference = np.abs(ours - theirs)[mask]
    assert difference.max() <= tolerance, f"largest FA difference {difference.max():.2e} > {tolerance:.2e}"


@pytest.mark.realdata
def test_dti_on_a_brain_dwi_stops_at_cord_not_found(real_data: Path, tmp_path: Path, capsys) -> None:
    folder = _folder(real_data, "ge_classic")
    out = tmp_path / "out"
    assert main(["dti", str(folder / "dicom"), "--out", str(out)]) == 4
    error = capsys.readouterr().err
    assert "cord not found" in error.lower() or "no spinal cord" in error.lower(), error
    assert not (out / "dti.json").exists()


@pytest.mark.realdata
@pytest.mark.parametrize("name", VENDORS)
def test_inspect_sees_a_dwi_with_dcm2niix_volume_count(real_data: Path, name: str) -> None:
    folder = _folder(real_data, name)
    (info,) = discover(folder / "dicom")
    assert info.role == "dwi"
    assert info.n_volumes == len(_reference(folder).bvals)
    assert info.problems == ()


@pytest.mark.realdata
def test_philips_trace_image_left_out_and_named(real_data: Path, caplog: pytest.LogCaptureFixture) -> None:
    selected = select_series(_folder(real_data, "philips_classic") / "dicom")
    with caplog.at_level(logging.DEBUG, logger="pipeline.ingest"):
        kept = resolve_headers(selected.headers, selected.label)
    assert len(kept) == 16 * 40  # 17 images per slice position, one the isotropic (trace) image
    assert "skipped 40 derived isotropic (trace) image(s)" in caplog.text
    assert "0032.dcm" in caplog.text  # the first trace slice (b = 2000 s/mm², zero vector)
