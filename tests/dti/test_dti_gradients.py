"""Gradient tables: dipy's normalisation and design matrix, and the refusals of unusable encodings."""

from __future__ import annotations

import numpy as np
import pytest
from dipy.core.gradients import gradient_table as dipy_gradient_table
from dipy.reconst.dti import design_matrix as dipy_design_matrix

from pipeline.dti.gradients import distinct_directions, gradient_table
from pipeline.errors import InputDataError


def _scheme(n_directions: int = 20) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(n_directions) + 0.5
    z = 1 - k / n_directions
    r = np.sqrt(1 - z * z)
    phi = np.pi * (3 - np.sqrt(5)) * k
    directions = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
    return np.r_[0.0, 0.0, np.full(n_directions, 1000.0)], np.r_[np.zeros((2, 3)), directions]


def test_design_matrix_is_dipys() -> None:
    bvals, bvecs = _scheme()
    bvecs[0] = np.nan  # dipy treats NaN components of a b0 as 0
    bvecs[1] = [0.3, 0.0, 0.0]  # a non-unit b0 vector is zeroed with its b-value
    bvals[1] = 5.0
    ours = gradient_table(bvals, bvecs)
    reference = dipy_gradient_table(bvals, bvecs=bvecs)
    np.testing.assert_array_equal(ours.design_matrix(), dipy_design_matrix(reference))
    np.testing.assert_array_equal(ours.b0_mask, reference.b0s_mask)


def test_fsl_three_row_layout_is_accepted() -> None:
    bvals, bvecs = _scheme()
    np.testing.assert_array_equal(gradient_table(bvals, bvecs.T).bvecs, gradient_table(bvals, bvecs).bvecs)


def test_antipodal_directions_count_once() -> None:
    _, bvecs = _scheme(8)
    assert distinct_directions(np.r_[bvecs[2:], -bvecs[2:]]) == 8


def _broken(case: str) -> tuple[np.ndarray | None, np.ndarray | None, int | None]:
    bvals, bvecs = _scheme()
    if case == "missing":
        return None, None, None
    if case == "count-mismatch":
        return bvals[:-1], bvecs, None
    if case == "volumes-mismatch":
        return bvals, bvecs, bvals.size + 1
    if case == "negative-b":
        bvals[3] = -1000.0
    if case == "nan-b":
        bvals[3] = np.nan
    if case == "no-b0":
        bvals[:2] = 1000.0
        bvecs[:2] = bvecs[2:4]
    if case == "zero-vector":
        bvecs[5] = 0.0
    if case == "five-directions":
        bvals, bvecs = bvals[:7], bvecs[:7]
    if case == "repeated-directions":
        bvecs[2:] = np.tile(bvecs[2:5], (7, 1))[:20]
    if case == "coplanar":
        angles = np.linspace(0, np.pi, 20, endpoint=False)
        bvecs[2:] = np.stack([np.cos(angles), np.sin(angles), np.zeros(20)], axis=1)
    return bvals, bvecs, None


BROKEN = [
    pytest.param("missing", "gradients missing", id="gradients-missing"),
    pytest.param("count-mismatch", "inconsistent", id="bval-bvec-count-mismatch"),
    pytest.param("volumes-mismatch", "volumes", id="volume-count-mismatch"),
    pytest.param("negative-b", "non-negative", id="negative-b-value"),
    pytest.param("nan-b", "finite", id="nan-b-value"),
    pytest.param("no-b0", "no b0", id="no-b0"),
    pytest.param("zero-vector", "no unit gradient direction", id="weighted-volume-without-direction"),
    pytest.param("five-directions", "at least 6", id="fewer-than-6-directions"),
    pytest.param("repeated-directions", "at least 6", id="3-distinct-directions"),
    pytest.param("coplanar", "do not determine the tensor", id="coplanar-directions"),
]


@pytest.mark.parametrize(("case", "words"), BROKEN)
def test_unusable_encodings_are_refused(case: str, words: str) -> None:
    bvals, bvecs, n_volumes = _broken(case)
    with pytest.raises(InputDataError, match=words):
        gradient_table(bvals, bvecs, n_volumes=n_volumes, source="series 7 ('DWI')")
