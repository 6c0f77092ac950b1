"""Closed-form eigenvalues against LAPACK on random, degenerate and unphysical tensors."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.dti.eigen import fractional_anisotropy, tensor_from_elements, tensor_scalars

LOWER = (np.array([0, 1, 1, 2, 2, 2]), np.array([0, 0, 1, 0, 1, 2]))


def _elements(tensors: np.ndarray) -> np.ndarray:
    return tensors[..., LOWER[0], LOWER[1]]


def _rotated(evals: np.ndarray, seed: int = 0) -> np.ndarray:
    rotations = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(evals), 3, 3)))[0]
    return _elements(np.einsum("vij,vj,vkj->vik", rotations, evals, rotations))


CASES = [
    pytest.param(np.random.default_rng(1).uniform(0, 3e-3, (5000, 3)), id="random-positive"),
    pytest.param(np.tile([1.69e-3, 0.44e-3, 0.44e-3], (200, 1)), id="prolate-exact"),
    pytest.param(np.tile([1.2e-3, 1.2e-3, 0.3e-3], (200, 1)), id="oblate-exact"),
    pytest.param(np.tile([1e-3, 1e-3, 1e-3], (50, 1)), id="isotropic"),
    pytest.param(np.tile([1e-3, 1e-3 * (1 + 1e-9), 1e-3], (50, 1)), id="nearly-isotropic"),
    pytest.param(np.random.default_rng(2).uniform(-1e-3, 1e-3, (2000, 3)), id="unphysical-negative"),
    pytest.param(np.zeros((10, 3)), id="zero"),
]


@pytest.mark.parametrize("evals", CASES)
def test_scalars_match_lapack(evals: np.ndarray) -> None:
    floor = 1e-9
    elements = _rotated(evals)
    reference = np.linalg.eigvalsh(tensor_from_elements(elements))[:, ::-1].clip(min=floor)
    got, fa, md, ad, rd = tensor_scalars(elements, min_diffusivity=floor)
    scale = 3e-3
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(md, reference.mean(-1), rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(ad, reference[:, 0], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(rd, reference[:, 1:].mean(-1), rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(fa, fractional_anisotropy(reference), rtol=0, atol=1e-10)
