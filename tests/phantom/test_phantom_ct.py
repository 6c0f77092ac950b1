"""CT myelogram phantom: labels, tissue values, truth self-consistency, variants, vascular series."""

from __future__ import annotations

import numpy as np
import pytest
from phantom_cases import ct_case
from scipy import ndimage

from pipeline.phantom import LABELS, VARIANTS, CtCase, make_ct_case
from pipeline.phantom.variants import get_variant
from pipeline.seeds import load_seeds
from pipeline.volume import Volume


def _vec(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _labels_near(labels: Volume, point_lps: np.ndarray, radius_mm: float) -> set[int]:
    """Label values of the voxels whose centres lie within ``radius_mm`` of a point."""
    centre = labels.lps_to_index(point_lps)
    reach = np.ceil(radius_mm / labels.spacing_mm).astype(int) + 1
    lo = np.maximum(np.floor(centre).astype(int) - reach, 0)
    hi = np.minimum(np.ceil(centre).astype(int) + reach + 1, labels.shape)
    grid = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij"), -1)
    points = labels.index_to_lps(grid.reshape(-1, 3))
    close = np.linalg.norm(points - point_lps, axis=1) <= radius_mm
    values = labels.array[tuple(grid.reshape(-1, 3)[close].T)]
    return {int(v) for v in values}


def _cross_section(case_: CtCase, step_mm: float = 0.1, half_mm: float = 15.0) -> tuple[np.ndarray, float]:
    """Cord label resampled on the planning plane in the anatomical (left, posterior) frame."""
    truth = case_.truth
    left, anterior, superior = (_vec(truth["axes_lps"][k]) for k in ("left", "anterior", "superior"))
    centre = _vec(truth["level"]["slice_lps_mm"])
    n = round(2 * half_mm / step_mm) + 1
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = left * step_mm, -anterior * step_mm, superior
    affine[:3, 3] = centre - half_mm * left + half_mm * anterior
    plane = case_.labels.resample_to(affine, (n, n, 1), order=0).array[:, :, 0]
    return plane == LABELS["cord"], step_mm


def test_variant_table_complete() -> None:
    expected = {
        "normal", "head-rotated", "cord-displaced", "va-loop", "pfia", "small-cord", "large-cord",
        "coarse", "fine", "high-noise", "no-contrast", "outside-fov",
    }  # fmt: skip
    assert set(VARIANTS) == expected
    with pytest.raises(ValueError, match="choose from"):
        get_variant("upside-down")


def test_normal_case_labels_and_geometry() -> None:
    c = ct_case("normal")
    counts = np.bincount(c.labels.array.ravel(), minlength=9)
    assert all(counts[v] > 0 for v in LABELS.values())
    assert c.labels.array.dtype == np.uint8
    assert c.ct.array.dtype == np.int16
    np.testing.assert_allclose(c.ct.spacing_mm, [0.4, 0.4, 0.8])
    extent = np.asarray(c.ct.shape) * c.ct.spacing_mm
    assert 85 <= extent[0] <= 95
    assert 48 <= extent[2] <= 56  # foramen magnum to C2-C3
    assert c.truth["expected_exit_code"] == 0


def test_normal_case_tissue_values() -> None:
    c = ct_case("normal")
    ct, labels = c.ct.array.astype(np.float64), c.labels.array
    # Interior voxels only (partial volume at edges is realistic but not what the ranges describe).
    csf = ndimage.binary_erosion(labels == LABELS["csf"], iterations=2)
    cord = ndimage.binary_erosion(labels == LABELS["cord"], iterations=2)
    assert 350 <= ct[csf].mean() <= 650  # domain-facts: contrast CSF 500 ± 150 HU (EST)
    assert 15 <= ct[cord].mean() <= 60  # cord 35 ± 10 HU, grey matter a little higher
    bone = np.isin(labels, [LABELS["c1"], LABELS["c2"]])
    assert np.percentile(ct[bone], 90) > 900  # cortical bone ~1200 HU
    assert 200 <= np.median(ct[ndimage.binary_erosion(bone, iterations=4)]) <= 450  # cancellous ~300 HU
    # Contrast pools dorsally when supine: posterior half of the sac denser than the anterior half.
    j = np.nonzero(csf)[1]
    centre_j = np.median(j)
    dorsal = ct[csf][j > centre_j].mean()
    ventral = ct[csf][j < centre_j].mean()
    assert dorsal - ventral > 40


def _muscle_noise_sd(c: CtCase) -> float:
    """SD in a homogeneous muscle block in front of C2 (prevertebral muscle, no fat planes there)."""
    centre = _vec(c.truth["level"]["slice_lps_mm"])
    left, anterior = _vec(c.truth["axes_lps"]["left"]), _vec(c.truth["axes_lps"]["anterior"])
    i, j, k = np.rint(c.ct.lps_to_index(centre + 29 * anterior + 12 * left)).astype(int)
    block = (slice(i - 8, i + 8), slice(j - 6, j + 6), slice(k - 2, k + 3))
    assert not c.labels.array[block].any()
    patch = c.ct.array[block].astype(np.float64)
    # High-pass: subtract the local mean so muscle texture and edges do not count as noise.
    return float((patch - ndimage.uniform_filter(patch, size=(7, 7, 1))).std() * np.sqrt(49 / 48))


@pytest.mark.parametrize(("variant", "low", "high"), [("normal", 18, 45), ("high-noise", 50, 95)])
def test_image_noise(variant: str, low: float, high: float) -> None:
    c = ct_case(variant)
    assert low <= _muscle_noise_sd(c) <= high


def test_no_contrast_variant() -> None:
    c = ct_case("no-contrast")
    csf = ndimage.binary_erosion(c.labels.array == LABELS["csf"], iterations=2)
    assert c.ct.array[csf].mean() < 60
    assert c.truth["contrast"]["intrathecal"] is False
    assert c.truth["expected_exit_code"] == 4


def test_outside_fov_variant() -> None:
    c = ct_case("outside-fov")
    present = set(np.unique(c.labels.array).tolist())
    assert LABELS["c1"] not in present
    assert LABELS["c2"] not in present
    assert {LABELS["cord"], LABELS["other_bone"]} <= present
    level = c.ct.lps_to_index(_vec(c.truth["level"]["slice_lps_mm"]))
    assert not 0 <= level[2] <= c.ct.shape[2] - 1
    assert c.truth["c1_c2_in_fov"] is False
    assert c.truth["expected_exit_code"] == 4


POINT_VARIANTS = ["normal", "head-rotated", "cord-displaced", "large-cord", "fine"]


@pytest.mark.parametrize("variant", POINT_VARIANTS)
def test_truth_points_lie_on_the_structures_they_name(variant: str) -> None:
    c = ct_case(variant)
    truth = c.truth
    reach = float(np.linalg.norm(c.labels.spacing_mm)) * 0.75
    anterior, left = _vec(truth["axes_lps"]["anterior"]), _vec(truth["axes_lps"]["left"])
    centre = _vec(truth["cord"]["centroid_lps_mm"])
    for side, sign in (("left", 1.0), ("right", -1.0)):
        dentate = _vec(truth["dentate_ligament_lps_mm"][side])
        near = _labels_near(c.labels, dentate, reach)
        assert LABELS["cord"] in near, (side, near)  # on the pial surface...
        assert LABELS["dentate_ligament"] in near, (side, near)  # ...where the ligament attaches
        assert sign * (dentate - centre) @ left > 3.0
        for region in ("leg", "arm"):
            entry = _vec(truth["pial_entry_lps_mm"][side][region])
            near = _labels_near(c.labels, entry, reach)
            assert LABELS["cord"] in near, (side, region, near)
            assert near & {LABELS["csf"], LABELS["dentate_ligament"]}, (side, region, near)
            offset = truth["pial_entry_offset_mm"][region]
            assert (entry - dentate) @ anterior == pytest.approx(offset, abs=1e-9)


@pytest.mark.parametrize("variant", ["normal", "small-cord", "large-cord", "head-rotated", "coarse"])
def test_cord_cross_section_matches_truth_and_published_ranges(variant: str) -> None:
    c = ct_case(variant)
    cord, step = _cross_section(c)
    rows = np.nonzero(cord.any(axis=1))[0]
    cols = np.nonzero(cord.any(axis=0))[0]
    transverse = (rows[-1] - rows[0] + 1) * step
    ap = (cols[-1] - cols[0] + 1) * step
    area = cord.sum() * step**2
    truth = c.truth["cord"]
    voxel = float(c.labels.spacing_mm[:2].max())
    assert transverse == pytest.approx(truth["transverse_mm"], abs=voxel + 0.1)
    assert ap == pytest.approx(truth["ap_mm"], abs=voxel + 0.1)
    assert area == pytest.approx(truth["area_mm2"], rel=0.08)
    # Kanpolat et al. 1995, CT myelography at C1-C2 in cordotomy patients (domain-facts §1).
    assert 7.0 <= ap <= 11.4
    assert 9.0 <= transverse <= 14.0


def test_head_rotation_is_a_true_3d_rotation() -> None:
    c = ct_case("head-rotated")
    superior = _vec(c.truth["axes_lps"]["superior"])
    # Tilt of the anatomy against the scanner axes: yaw 12°, pitch 3°, roll 5° (not about one axis).
    assert 4.0 < np.degrees(np.arccos(superior[2])) < 8.0
    assert abs(_vec(c.truth["axes_lps"]["left"])[1]) > np.sin(np.radians(10))
    # Independent check: the labelled cord's long axis (PCA of its voxels) is the truth superior axis.
    points = c.labels.index_to_lps(np.argwhere(c.labels.array == LABELS["cord"]))
    points = points - points.mean(axis=0)
    axis = np.linalg.eigh(points.T @ points)[1][:, -1]
    assert np.degrees(np.arccos(abs(axis @ superior))) < 1.5


OVERLAP = [
    pytest.param("normal", {"left": False, "right": False}, id="normal"),
    pytest.param("va-loop", {"left": True, "right": False}, id="va-loop"),
    pytest.param("pfia", {"left": True, "right": False}, id="pfia"),
    pytest.param("head-rotated", {"left": False, "right": False}, id="head-rotated"),
]


@pytest.mark.parametrize(("variant", "expected"), OVERLAP)
def test_vertebral_artery_in_the_straight_lateral_path(variant: str, expected: dict[str, bool]) -> None:
    c = ct_case(variant)
    truth = c.truth
    assert truth["vertebral_artery"]["overlaps_window"] == expected
    left = _vec(truth["axes_lps"]["left"])
    centre = _vec(truth["cord"]["centroid_lps_mm"])
    for side, sign, label in (
        ("left", 1.0, "left_vertebral_artery"),
        ("right", -1.0, "right_vertebral_artery"),
    ):
        # Independent of the analytic flag: walk the label map along the straight lateral path.
        entry = _vec(truth["pial_entry_lps_mm"][side]["leg"])
        reach = 45.0 - sign * (entry - centre) @ left
        path = entry + np.linspace(0.0, reach, 1800)[:, None] * (sign * left)
        index = np.rint(c.labels.lps_to_index(path)).astype(int)
        inside = np.all((index >= 0) & (index < np.asarray(c.labels.shape)), axis=1)
        hit = np.any(c.labels.array[tuple(index[inside].T)] == LABELS[label])
        assert hit == expected[side], side
        clearance = truth["vertebral_artery"]["lateral_path_clearance_mm"][side]
        assert (clearance < 0) == expected[side]
    if not any(expected.values()):
        assert min(truth["vertebral_artery"]["lateral_path_clearance_mm"].values()) > 3.0


def test_dentate_ligament_is_a_partial_volume_line() -> None:
    c = ct_case("normal")
    ct, labels = c.ct.array.astype(np.float64), c.labels.array
    ligament = np.argwhere(labels == LABELS["dentate_ligament"])
    shift = 3  # voxels = 1.2 mm along +/- posterior (axis 1 here, the head is straight)
    i, j, k = ligament.T
    above, below = ct[i, j - shift, k], ct[i, j + shift, k]
    beside = (labels[i, j - shift, k] == LABELS["csf"]) & (labels[i, j + shift, k] == LABELS["csf"])
    drop = (0.5 * (above + below) - ct[i, j, k])[beside]
    assert beside.sum() > 200
    # domain-facts §2: a 0.2 mm sheet partial-volumes to about 100-200 HU below the contrast.
    assert 70 <= drop.mean() <= 230


def test_seeded_noise_and_fixed_anatomy() -> None:
    a, b = ct_case("normal"), ct_case("normal", "cta")  # the CT noise is drawn before the vascular noise
    other = ct_case("normal", seed=1)
    np.testing.assert_array_equal(a.ct.array, b.ct.array)
    np.testing.assert_array_equal(a.labels.array, other.labels.array)
    assert not np.array_equal(a.ct.array, other.ct.array)


@pytest.mark.parametrize("kind", ["cta", "t2"])
def test_vascular_series_in_its_own_frame(kind: str) -> None:
    c = ct_case("normal", kind)
    vascular, v_labels = c.vascular, c.vascular_labels
    assert vascular is not None
    assert v_labels is not None
    assert not np.allclose(vascular.affine_lps, c.ct.affine_lps)
    transform = np.asarray(c.truth["vascular"]["ct_lps_from_vascular_lps"])
    assert not np.allclose(transform[:3, :3], np.eye(3))
    # Vascular artery voxels mapped through the truth transform land on the CT's artery labels.
    for label in ("left_vertebral_artery", "right_vertebral_artery"):
        points = v_labels.index_to_lps(np.argwhere(v_labels.array == LABELS[label]))
        mapped = points @ transform[:3, :3].T + transform[:3, 3]
        index = np.rint(c.labels.lps_to_index(mapped)).astype(int)
        inside = np.all((index >= 0) & (index < np.asarray(c.labels.shape)), axis=1)
        target = ndimage.binary_dilation(c.labels.array == LABELS[label], iterations=2)
        assert inside.sum() > 500
        assert target[tuple(index[inside].T)].mean() > 0.95
    image = vascular.array.astype(np.float64)
    core = ndimage.binary_erosion(np.isin(v_labels.array, [6, 7]), iterations=1)
    csf = ndimage.binary_erosion(v_labels.array == LABELS["csf"], iterations=2)
    cord = ndimage.binary_erosion(v_labels.array == LABELS["cord"], iterations=2)
    if kind == "cta":
        assert image[core].mean() > 250  # arteries enhanced (250-500 HU)
        assert image[csf].mean() < 60  # no intrathecal contrast on the CTA
    else:
        assert image[csf].mean() > 2.0 * image[cord].mean()  # T2: CSF bright, cord darker
        assert image[core].mean() < 0.2 * image[csf].mean()  # flow voids


def test_parameters_come_from_seeds(tmp_path) -> None:
    override = tmp_path / "mine.yaml"
    override.write_text(
        "anatomy: {cord: {ap_mm: 9.6, transverse_mm: 12.8}}\nct: {hu: {csf_contrast: 420.0}}\n"
    )
    c = make_ct_case("normal", vascular=None, seeds=load_seeds(override))
    assert c.truth["cord"]["ap_mm"] == 9.6
    cord, step = _cross_section(c)
    cols = np.nonzero(cord.any(axis=0))[0]
    assert (cols[-1] - cols[0] + 1) * step == pytest.approx(9.6, abs=0.5)
    csf = ndimage.binary_erosion(c.labels.array == LABELS["csf"], iterations=2)
    assert c.ct.array[csf].mean() == pytest.approx(420.0, abs=40.0)


def _label_at(c: CtCase, points_lps: np.ndarray) -> np.ndarray:
    index = np.rint(c.labels.lps_to_index(points_lps)).astype(int)
    return c.labels.array[tuple(index.T)]


@pytest.mark.parametrize("side", ["left", "right"])
def test_vertebral_artery_runs_through_both_foramina_and_over_the_c1_arch(side: str) -> None:
    """Normal V3 course: through the C2 and C1 transverse foramina (bone all round), then on the
    upper surface of the C1 posterior arch (bone just below)."""
    c = ct_case("normal")
    lps_from_anat = np.asarray(c.truth["pose"]["lps_from_anatomical"])

    def to_lps(points: np.ndarray) -> np.ndarray:
        return points @ lps_from_anat[:3, :3].T + lps_from_anat[:3, 3]

    anatomical = (
        np.asarray(c.truth["vertebral_artery"]["centreline_lps_mm"][side]) - lps_from_anat[:3, 3]
    ) @ (lps_from_anat[:3, :3])
    radius = c.truth["vertebral_artery"]["diameter_mm"] / 2.0
    ring = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=float) * (radius + 1.6)
    for label, (z_lo, z_hi) in (("c2", (-11.0, -8.0)), ("c1", (8.5, 10.5))):
        inside = anatomical[(anatomical[:, 2] >= z_lo) & (anatomical[:, 2] <= z_hi)]
        assert len(inside) > 0
        for point in inside:
            around = _label_at(c, to_lps(point + ring))
            assert np.count_nonzero(around == LABELS[label]) >= 3, (label, point, around)
    sign = 1.0 if side == "left" else -1.0
    groove = anatomical[
        (sign * anatomical[:, 0] > 14.0) & (sign * anatomical[:, 0] < 21.0) & (anatomical[:, 2] > 14.0)
    ]
    assert len(groove) > 0
    below = _label_at(c, to_lps(groove - np.array([0.0, 0.0, radius + 1.5])))
    assert np.mean(below == LABELS["c1"]) > 0.8
