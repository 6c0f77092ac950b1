"""DWI phantom: dipy's tensor fit recovers the stated truth; masks, sides and geometry are consistent."""

from __future__ import annotations

import numpy as np
import pytest
from dipy.core.gradients import gradient_table
from dipy.reconst.dti import TensorModel

from pipeline.phantom import make_dwi_phantom
from pipeline.phantom.dwi import tensor_scalars
from pipeline.seeds import load_seeds

GEOMETRIES = [
    pytest.param("left", (0.0, 0.0), 0.0, id="left-centred"),
    pytest.param("right", (0.0, 0.0), 0.0, id="right-centred"),
    pytest.param("left", (3.2, -2.4), 17.0, id="left-offset-rotated"),
    pytest.param("right", (-4.0, 1.6), -23.0, id="right-offset-rotated"),
]


def _fit(phantom, method: str = "WLS"):
    table = gradient_table(phantom.bvals_s_mm2, bvecs=phantom.bvecs)
    mask = phantom.lesion_mask | phantom.homolog_mask
    return TensorModel(table, fit_method=method).fit(phantom.volume.array.astype(np.float64), mask=mask)


@pytest.mark.reference
@pytest.mark.parametrize(("side", "offset", "rotation"), GEOMETRIES)
@pytest.mark.parametrize("method", ["WLS", "OLS"])
def test_noise_free_fit_recovers_true_eigenvalues(side, offset, rotation, method) -> None:
    phantom = make_dwi_phantom(snr=None, cordotomy_side=side, cord_offset_mm=offset, rotation_deg=rotation)
    fit = _fit(phantom, method)
    seeds = load_seeds()
    for roi, key in (("lesion", "lesion_eigenvalues_mm2_s"), ("homolog", "white_matter_eigenvalues_mm2_s")):
        mask = getattr(phantom, f"{roi}_mask")
        true = np.asarray(seeds.numbers(f"diffusion.{key}"))
        np.testing.assert_allclose(fit.evals[mask], np.broadcast_to(true, (mask.sum(), 3)), rtol=1e-6)
        for name, attr in (("fa", "fa"), ("md_mm2_s", "md"), ("ad_mm2_s", "ad"), ("rd_mm2_s", "rd")):
            np.testing.assert_allclose(getattr(fit, attr)[mask], phantom.truth[roi][name], rtol=1e-6)


def test_truth_matches_seed_tensors_and_change() -> None:
    phantom = make_dwi_phantom(snr=None)
    assert phantom.truth["lesion"]["ad_mm2_s"] == pytest.approx(1.13e-3)
    assert phantom.truth["homolog"]["rd_mm2_s"] == pytest.approx(0.44e-3)
    # Option B of domain-facts §7: AD −33 %, RD +13 %, FA −31 %, MD −17 %.
    assert phantom.change_percent["ad"] == pytest.approx(-33.1, abs=0.1)
    assert phantom.change_percent["rd"] == pytest.approx(13.6, abs=0.1)
    assert phantom.change_percent["fa"] == pytest.approx(-31.9, abs=0.1)
    assert phantom.change_percent["md"] == pytest.approx(-17.1, abs=0.1)
    assert tensor_scalars((1.0, 1.0, 1.0))["fa"] == 0.0


@pytest.mark.parametrize(("side", "offset", "rotation"), GEOMETRIES)
def test_lesion_on_cordotomy_side_and_homolog_is_its_mirror(side, offset, rotation) -> None:
    phantom = make_dwi_phantom(snr=None, cordotomy_side=side, cord_offset_mm=offset, rotation_deg=rotation)
    truth = phantom.truth
    assert phantom.lesion_side == side
    assert truth["pain_side"] != side == phantom.lesion_side
    centre = np.asarray(truth["cord_centre_lps_mm"])
    left = np.asarray(truth["left_axis_lps"])
    sign = 1.0 if side == "left" else -1.0

    def lateral_mm(mask):
        points = phantom.volume.index_to_lps(np.argwhere(mask))
        return (points - centre) @ left

    assert phantom.lesion_mask.sum() >= 8
    assert phantom.homolog_mask.sum() >= 8
    assert np.all(sign * lateral_mm(phantom.lesion_mask) > 1.0)
    assert np.all(sign * lateral_mm(phantom.homolog_mask) < -1.0)
    # Mirror: the centroids are symmetric about the midsagittal line (within a voxel, grids differ).
    posterior = np.asarray(truth["posterior_axis_lps"])
    lesion_pts = phantom.volume.index_to_lps(np.argwhere(phantom.lesion_mask)) - centre
    homolog_pts = phantom.volume.index_to_lps(np.argwhere(phantom.homolog_mask)) - centre
    assert (lesion_pts @ left).mean() == pytest.approx(-(homolog_pts @ left).mean(), abs=0.8)
    assert (lesion_pts @ posterior).mean() == pytest.approx((homolog_pts @ posterior).mean(), abs=0.8)
    assert not np.any(phantom.lesion_mask & phantom.homolog_mask)
    assert np.all(phantom.cord_mask[phantom.lesion_mask])
    assert np.all(phantom.cord_mask[phantom.homolog_mask])


def test_cord_is_off_image_centre_when_offset() -> None:
    phantom = make_dwi_phantom(snr=None, cord_offset_mm=(3.2, -2.4), rotation_deg=17.0)
    grid_centre = phantom.volume.index_to_lps((np.array(phantom.volume.shape[:3]) - 1) / 2.0)
    cord_centroid = phantom.volume.index_to_lps(np.argwhere(phantom.cord_mask).mean(axis=0))
    np.testing.assert_allclose(cord_centroid[:2], [3.2, -2.4], atol=0.3)
    assert np.linalg.norm(cord_centroid[:2] - grid_centre[:2]) > 3.5


def test_protocol_and_conventions() -> None:
    phantom = make_dwi_phantom(snr=None)
    volume = phantom.volume
    assert volume.array.dtype == np.float32
    assert volume.array.ndim == 4
    assert volume.array.shape[3] == len(phantom.bvals_s_mm2) == len(phantom.bvecs) == 22
    assert np.count_nonzero(phantom.bvals_s_mm2 == 0) == 2
    assert np.all(phantom.bvals_s_mm2[2:] == 1000.0)
    norms = np.linalg.norm(phantom.bvecs[2:], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-12)
    # FSL convention: the RAS affine has a positive determinant here, so x is negated vs the voxel axes.
    assert np.linalg.det(volume.affine_ras[:3, :3]) > 0
    np.testing.assert_allclose(phantom.bvecs[:, 0], -phantom.directions_lps[:, 0])
    np.testing.assert_allclose(volume.spacing_mm, [0.8, 0.8, 4.0])


def test_noise_is_rician_and_seeded() -> None:
    a = make_dwi_phantom(seed=3, snr=20.0)
    b = make_dwi_phantom(seed=3, snr=20.0)
    c = make_dwi_phantom(seed=4, snr=20.0)
    clean = make_dwi_phantom(snr=None)
    np.testing.assert_array_equal(a.volume.array, b.volume.array)
    assert not np.array_equal(a.volume.array, c.volume.array)
    assert np.all(a.volume.array >= 0)  # magnitude data
    b0 = clean.volume.array[..., 0]
    bright = b0 > 800  # high-signal voxels: Rician ~ Gaussian there, SD ≈ sigma = S0_cord / snr
    residual = (a.volume.array[..., 0] - b0)[bright]
    assert residual.std() == pytest.approx(1000.0 / 20.0, rel=0.15)


def test_noisy_fit_is_close_to_truth() -> None:
    phantom = make_dwi_phantom(seed=0, snr=30.0)
    fit = _fit(phantom)
    assert fit.fa[phantom.homolog_mask].mean() == pytest.approx(phantom.truth["homolog"]["fa"], abs=0.08)
    assert fit.md[phantom.lesion_mask].mean() == pytest.approx(phantom.truth["lesion"]["md_mm2_s"], rel=0.1)


def test_bad_side_rejected() -> None:
    with pytest.raises(ValueError, match="side"):
        make_dwi_phantom(cordotomy_side="up")


def test_lesion_size_near_effective_cordotomy_fractions() -> None:
    """Berger et al.: relief went with >= 10.0 % of the cord section on T2 and >= 6.2 % on DTI; the
    phantom lesion is of that order (partial-volume extent and pure-voxel core)."""
    phantom = make_dwi_phantom(snr=None)
    assert 7.0 <= phantom.truth["lesion_cord_fraction_percent"] <= 15.0
    lesion_slices = np.nonzero(phantom.lesion_mask.any(axis=(0, 1)))[0]
    pure = phantom.lesion_mask[..., lesion_slices].sum() / phantom.cord_mask[..., lesion_slices].sum()
    assert 4.0 <= 100 * pure <= 10.0
