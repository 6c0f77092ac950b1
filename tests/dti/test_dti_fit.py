"""Tensor fit: equality with dipy's TensorModel on dipy's real data, and truth on noise-free tensors."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from dipy.core.gradients import gradient_table as dipy_gradient_table
from dipy.data import get_fnames
from dipy.io.gradients import read_bvals_bvecs
from dipy.reconst.dti import TensorModel

from pipeline.dti import fit_tensors
from pipeline.errors import InputDataError, UsageError

# small_101D samples many b-values (q-space); the volumes up to 1300 s/mm² are its shell nearest the
# reference protocol's b = 1000 s/mm² (the tensor model's regime), plus its b0 (b = 15).
B_MAX_101D_S_MM2 = 1300.0


def _dipy_dataset(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image, bval_file, bvec_file = get_fnames(name=name)
    data = np.asarray(nib.load(image).dataobj)
    bvals, bvecs = read_bvals_bvecs(bval_file, bvec_file)
    if name == "small_101D":
        keep = bvals <= B_MAX_101D_S_MM2
        data, bvals, bvecs = data[..., keep], bvals[keep], bvecs[keep]
    return data, bvals, bvecs


@pytest.mark.reference
@pytest.mark.parametrize("method", ["WLS", "OLS"])
@pytest.mark.parametrize("dataset", ["small_64D", "small_101D"])
def test_fit_equals_dipy_on_real_data(dataset: str, method: str) -> None:
    data, bvals, bvecs = _dipy_dataset(dataset)
    reference = TensorModel(dipy_gradient_table(bvals, bvecs=bvecs), fit_method=method).fit(data)
    ours = fit_tensors(data, bvals, bvecs, method=method)
    # Tolerances of the issue: FA 1e-9, diffusivities 1e-12 mm²/s (typical values ~1e-3 mm²/s).
    np.testing.assert_allclose(ours.fa, reference.fa, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.md, reference.md, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.ad, reference.ad, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.rd, reference.rd, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.evals, reference.evals, rtol=0, atol=1e-12)


@pytest.mark.reference
def test_principal_eigenvector_and_colour_fa_match_dipy() -> None:
    data, bvals, bvecs = _dipy_dataset("small_64D")
    reference = TensorModel(dipy_gradient_table(bvals, bvecs=bvecs)).fit(data)
    ours = fit_tensors(data, bvals, bvecs)
    anisotropic = reference.fa > 0.2  # where the principal direction is well defined
    alignment = np.abs(np.sum(ours.principal_eigenvector * reference.evecs[..., 0], axis=-1))
    assert alignment[anisotropic].min() > 1 - 1e-9
    np.testing.assert_allclose(ours.color_fa[anisotropic], reference.color_fa[anisotropic], atol=1e-8)


@pytest.mark.reference
@pytest.mark.parametrize("method", ["NLLS", "RESTORE"])
def test_dipy_methods_are_dipy(method: str) -> None:
    data, bvals, bvecs = _dipy_dataset("small_64D")
    mask = np.zeros(data.shape[:3], dtype=bool)
    mask[4:6, 4:6, 4:6] = True
    reference = TensorModel(dipy_gradient_table(bvals, bvecs=bvecs), fit_method=method).fit(data, mask=mask)
    ours = fit_tensors(data, bvals, bvecs, mask=mask, method=method)
    np.testing.assert_allclose(ours.fa[mask], reference.fa[mask], atol=1e-12)
    np.testing.assert_allclose(ours.md[mask], reference.md[mask], atol=1e-15)


def _gradients(n_directions: int = 20, b_s_mm2: float = 1000.0) -> tuple[np.ndarray, np.ndarray]:
    golden = np.pi * (3 - np.sqrt(5))
    k = np.arange(n_directions)
    z = 1 - (k + 0.5) / n_directions  # upper half sphere (antipodal directions are equivalent)
    radius = np.sqrt(1 - z * z)
    directions = np.stack([radius * np.cos(golden * k), radius * np.sin(golden * k), z], axis=1)
    bvecs = np.concatenate([np.zeros((2, 3)), directions])
    bvals = np.concatenate([[0.0, 0.0], np.full(n_directions, b_s_mm2)])
    return bvals, bvecs


def _signals(tensors: np.ndarray, bvals: np.ndarray, bvecs: np.ndarray, s0: float = 1000.0) -> np.ndarray:
    return s0 * np.exp(-bvals * np.einsum("ni,...ij,nj->...n", bvecs, tensors, bvecs))


@pytest.mark.parametrize("method", ["WLS", "OLS"])
def test_noise_free_tensors_are_recovered(method: str) -> None:
    """Known truth by construction (as dipy's test_diffusivities): AD = λ1, RD = (λ2+λ3)/2."""
    rng = np.random.default_rng(3)
    evals = np.array(
        [[1.69e-3, 0.44e-3, 0.44e-3], [1.13e-3, 0.5e-3, 0.5e-3], [3e-3, 3e-3, 3e-3], [1.4e-3, 0.9e-3, 0.4e-3]]
    )
    rotations = np.linalg.qr(rng.normal(size=(4, 3, 3)))[0]
    tensors = np.einsum("vij,vj,vkj->vik", rotations, evals, rotations)
    bvals, bvecs = _gradients()
    data = _signals(tensors, bvals, bvecs).reshape(2, 2, 1, -1)
    maps = fit_tensors(data, bvals, bvecs, method=method)
    e = evals.reshape(2, 2, 1, 3)
    np.testing.assert_allclose(maps.ad, e[..., 0], rtol=1e-10)
    np.testing.assert_allclose(maps.rd, e[..., 1:].mean(-1), rtol=1e-10)
    np.testing.assert_allclose(maps.md, e.mean(-1), rtol=1e-10)
    fa = np.sqrt(1.5 * ((e - e.mean(-1, keepdims=True)) ** 2).sum(-1) / (e**2).sum(-1))
    np.testing.assert_allclose(maps.fa, fa, atol=1e-10)
    np.testing.assert_allclose(maps.s0, 1000.0, rtol=1e-10)
    v1 = rotations[:, :, 0].reshape(2, 2, 1, 3)
    anisotropic = np.array([True, True, False, True]).reshape(2, 2, 1)
    alignment = np.abs((maps.principal_eigenvector * v1).sum(-1))
    assert np.all(alignment[anisotropic] > 1 - 1e-9)


def test_mask_limits_the_fit_and_zeroes_outside() -> None:
    data, bvals, bvecs = _dipy_dataset("small_64D")
    mask = np.zeros(data.shape[:3], dtype=bool)
    mask[2:7, 3:8, 4] = True
    masked = fit_tensors(data, bvals, bvecs, mask=mask)
    full = fit_tensors(data, bvals, bvecs)
    np.testing.assert_array_equal(masked.fa[~mask], 0.0)
    np.testing.assert_allclose(masked.fa[mask], full.fa[mask], atol=1e-14)
    np.testing.assert_allclose(masked.md[mask], full.md[mask], atol=1e-18)
    # And against dipy given the same mask (independent reference, not only our own full fit).
    reference = TensorModel(dipy_gradient_table(bvals, bvecs=bvecs)).fit(data, mask=mask)
    np.testing.assert_allclose(masked.fa[mask], reference.fa[mask], rtol=0, atol=1e-9)
    np.testing.assert_allclose(masked.md[mask], reference.md[mask], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(reference.fa[~mask], 0.0)


def test_threads_do_not_change_the_result() -> None:
    data, bvals, bvecs = _dipy_dataset("small_64D")
    one = fit_tensors(data, bvals, bvecs, n_threads=1)
    two = fit_tensors(data, bvals, bvecs, n_threads=2)
    np.testing.assert_array_equal(one.fa, two.fa)


BAD_FITS = [
    pytest.param({"method": "magic"}, UsageError, "unknown tensor fit method", id="unknown-method"),
    pytest.param({"min_signal": 0.0}, UsageError, "min_signal", id="zero-min-signal"),
    pytest.param({"volumes": 21}, InputDataError, "volumes", id="volume-count-mismatch"),
    pytest.param({"mask_shape": (2, 2, 2)}, InputDataError, "mask shape", id="mask-shape"),
]


@pytest.mark.parametrize(("change", "error", "words"), BAD_FITS)
def test_bad_fit_calls_are_refused(change: dict, error: type, words: str) -> None:
    bvals, bvecs = _gradients()
    data = np.full((3, 3, 3, change.get("volumes", bvals.size)), 500.0)
    mask = np.ones(change.get("mask_shape", (3, 3, 3)), dtype=bool)
    with pytest.raises(error, match=words):
        fit_tensors(
            data,
            bvals,
            bvecs,
            mask=mask,
            method=change.get("method", "WLS"),
            min_signal=change.get("min_signal", 1e-4),
        )
