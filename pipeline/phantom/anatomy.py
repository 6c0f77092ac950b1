"""Solid anatomy of the upper cervical spine (foramen magnum to C3) as region masks.

All shapes live in the anatomical frame (mm): ``x`` to the patient's left, ``y`` posterior, ``z`` superior,
origin at the cord centre on the C1-C2 planning level; the CT/MR generators map their voxel grids into
this frame (a rigid head pose) and evaluate the masks. Dimensions follow adult morphometry (domain-facts
§1): C1 canal 30 mm from the fovea dentis to the posterior arch (CT, n=567), C2 canal about 18 mm sagittal
and 21.6 mm transverse, dural sac 15 x 20 mm, cord 8.5 x 12 mm; V3 course in :mod:`vessels`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.phantom.cord_section import CordSection
from pipeline.phantom.shapes import (
    ellipsoid,
    elliptic_cylinder_z,
    near_polyline_distance_mm,
    ring_tube,
    superellipsoid,
)
from pipeline.phantom.vessels import vertebral_artery_path

__all__ = ["Anatomy", "Regions", "evaluate_regions", "smooth_field"]

# Vertical landmarks of the model (anatomical z, mm).
C1_POSTERIOR_ARCH_Z = (6.5, 15.0)
C2_LAMINA_TOP_Z = -5.0
C1_TRANSVERSE_FORAMEN_XY = (27.0, -7.5)
BONE_WARP_MM = 0.5  # amplitude (SD) of the smooth warp of bone shapes


@dataclass(frozen=True)
class Anatomy:
    """Parameters of one patient's anatomy.

    Attributes
    ----------
    cord : CordSection
        Cord cross-section at the planning level.
    cord_shift_mm : float
        Lateral displacement of the cord inside the dural sac (+ towards the left); the primary reference
        saw the cord displaced laterally in all three cases.
    sac_ap_mm, sac_transverse_mm : float
        Dural sac diameters (EST 15 x 20 mm).
    va_courses : dict
        ``{"left": course, "right": course}`` with courses from :data:`vessels.VA_COURSES`.
    va_diameter_mm : float
    ligament_thickness_mm, ligament_dorsal_offset_mm : float
        Dentate ligament sheet (EST 0.2 mm, 0.5 mm dorsal to the transverse diameter).
    bone_scale : (3,) tuple of float
        Size of the bones (and of the arteries' course through them) relative to the model, along the
        anatomical left, posterior and superior axes; scaled about the cord centre on the planning level.
    bone_warp_mm : float
        Amplitude (SD) of the smooth warp that keeps bones from being perfect ellipses.
    bone_warp_seed : int
        Offset of the warp fields' seeds: another value gives other bone shapes.
    lamina_scale : float
        Thickness of the C1 posterior arch and the C2 laminae relative to the model (thin laminae < 1).
    """

    cord: CordSection = field(default_factory=CordSection)
    cord_shift_mm: float = 0.0
    sac_ap_mm: float = 15.0
    sac_transverse_mm: float = 20.0
    va_courses: dict[str, str] = field(default_factory=lambda: {"left": "normal", "right": "normal"})
    va_diameter_mm: float = 4.5
    ligament_thickness_mm: float = 0.2
    ligament_dorsal_offset_mm: float = 0.5
    bone_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    bone_warp_mm: float = BONE_WARP_MM
    bone_warp_seed: int = 0
    lamina_scale: float = 1.0

    def bone_point(self, point: np.ndarray) -> np.ndarray:
        """A landmark of the model's bones (anatomical mm) moved with :attr:`bone_scale`."""
        return np.asarray(point, dtype=np.float64) * np.asarray(self.bone_scale)

    def cord_scale(self, z: np.ndarray) -> np.ndarray:
        """Cord size relative to the planning level: widening towards the medulla above C1."""
        return 1.0 + 0.12 * np.clip((np.asarray(z) - 14.0) / 12.0, 0.0, 1.0)

    @property
    def sac_anterior_mm(self) -> float:
        """Anterior semi-axis of the dural sac (mm), constant along z (0.47 of its AP diameter)."""
        return 0.47 * self.sac_ap_mm

    def sac_semi_axes(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(transverse, anterior, posterior) semi-axes; the posterior one opens into the cisterna magna."""
        z = np.asarray(z)
        lateral = self.sac_transverse_mm / 2.0 + 0.15 * np.clip(z - 14.0, 0.0, None)
        anterior = self.sac_anterior_mm + 0.0 * z
        posterior = 0.53 * self.sac_ap_mm + 0.55 * np.clip(z - 12.0, 0.0, None)
        return lateral, anterior, posterior

    def va_path(self, side: str) -> np.ndarray:
        """Centreline of one artery; its course through the foramina follows the bones' size."""
        path = vertebral_artery_path(1.0 if side == "left" else -1.0, self.va_courses[side])
        return path if self.bone_scale == (1.0, 1.0, 1.0) else path * np.asarray(self.bone_scale)


def smooth_field(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    *,
    seed: int,
    wavelength_mm: tuple[float, float],
    terms: int = 8,
) -> np.ndarray:
    """Smooth pseudo-random field of unit variance: a sum of random plane waves (anatomical frame).

    Used for tissue heterogeneity (fat planes, muscle texture). Its own fixed seed keeps anatomy identical
    across series of the same patient, whatever the noise seed.
    """
    rng = np.random.default_rng(seed)
    field = np.zeros(x.shape, dtype=np.float32)
    for _ in range(terms):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        k = (2.0 * np.pi / rng.uniform(*wavelength_mm)) * direction
        phase = rng.uniform(0.0, 2.0 * np.pi)
        field += np.cos(
            np.float32(k[0]) * x + np.float32(k[1]) * y + np.float32(k[2]) * z + np.float32(phase)
        )
    return field * np.float32(np.sqrt(2.0 / terms))


@dataclass
class Regions:
    """Boolean masks (same shape as the coordinates) and a few continuous fields."""

    c1: np.ndarray
    c2: np.ndarray
    other_bone: np.ndarray
    disc: np.ndarray
    sac: np.ndarray
    cord: np.ndarray
    grey_matter: np.ndarray
    va_left: np.ndarray
    va_right: np.ndarray
    ligament_band: np.ndarray
    ligament_distance_mm: np.ndarray
    epidural: np.ndarray
    venous_plexus: np.ndarray
    fat: np.ndarray
    air: np.ndarray
    ligaments_soft: np.ndarray
    carotid: np.ndarray
    jugular: np.ndarray

    @property
    def bone(self) -> np.ndarray:
        return self.c1 | self.c2 | self.other_bone


def _c1(x: np.ndarray, y: np.ndarray, z: np.ndarray, lamina_scale: float = 1.0) -> np.ndarray:
    """Atlas: ring (anterior arch, posterior arch), lateral masses, transverse processes with foramina."""
    ax = np.abs(x)
    # Arch cross-sections blend from the slim anterior arch to the taller, thicker posterior arch.
    back = np.clip((y + 8.0) / 10.0, 0.0, 1.0)
    top, bottom = C1_POSTERIOR_ARCH_Z[1], C1_POSTERIOR_ARCH_Z[0]
    half_thickness = 2.4 + 0.9 * back
    if lamina_scale != 1.0:
        half_thickness = half_thickness * (1.0 - (1.0 - lamina_scale) * back)
    ring = ring_tube(
        x,
        y,
        z,
        centre_y=-4.5,
        semi_xy=(18.5, 17.5),
        half_thickness=half_thickness,
        half_height=5.2 + ((top - bottom) / 2.0 - 5.2) * back,
        centre_z=12.0 + ((top + bottom) / 2.0 - 12.0) * back,
    )
    lateral_masses = superellipsoid(ax, y, z, (18.5, -9.0, 11.0), (6.5, 9.0, 8.5), power=2.6)
    posterior_tubercle = ellipsoid(x, y, z, (0.0, 15.5, 10.75), (6.0, 3.0, 4.5))
    anterior_tubercle = ellipsoid(x, y, z, (0.0, -23.0, 12.0), (4.0, 2.0, 4.0))
    transverse = superellipsoid(ax, y, z, (28.0, -7.5, 10.75), (7.0, 5.8, 4.2), power=3.0)
    foramen = elliptic_cylinder_z(ax, y, z, C1_TRANSVERSE_FORAMEN_XY, (3.2, 3.2), (0.0, 20.0))
    return (ring | lateral_masses | posterior_tubercle | anterior_tubercle | transverse) & ~foramen


def _c2(x: np.ndarray, y: np.ndarray, z: np.ndarray, lamina_scale: float = 1.0) -> np.ndarray:
    """Axis: body, dens, pedicles/pars, superior and inferior articular processes, laminae, spinous
    process (bifid), transverse processes (foramina are carved by the artery itself)."""
    ax = np.abs(x)
    body = superellipsoid(x, y, z, (0.0, -16.5, -10.5), (8.0, 7.0, 11.5), power=3.0)
    dens = elliptic_cylinder_z(x, y, z, (0.0, -14.0), (4.5, 4.75), (-2.0, 15.0)) | ellipsoid(
        x, y, z, (0.0, -14.0, 15.0), (4.5, 4.75, 4.0)
    )
    pedicles = superellipsoid(ax, y, z, (12.0, -5.0, -8.5), (3.5, 7.5, 5.5), power=3.0)
    superior_facets = ellipsoid(ax, y, z, (17.0, -9.0, -2.0), (6.0, 8.0, 4.5))
    inferior_facets = ellipsoid(ax, y, z, (15.5, 2.0, -19.0), (5.0, 6.5, 4.0))
    outer = (x / 16.0) ** 2 + ((y + 3.0) / 17.0) ** 2 <= 1.0
    inner = (x / (16.0 - 4.5 * lamina_scale)) ** 2 + ((y + 3.0) / (17.0 - 5.0 * lamina_scale)) ** 2 <= 1.0
    laminae = outer & ~inner & (y >= -1.0) & (z >= -18.0 - 0.1 * y) & (z <= C2_LAMINA_TOP_Z)
    # Spinous process: a tapering, downward-sloping wedge with a bifid tip.
    along = np.clip((y - 12.0) / 18.0, 0.0, 1.0)
    half_width = 4.5 - 1.5 * along
    spinous = (
        (y >= 11.0)
        & (y <= 30.0)
        & ((x / half_width) ** 2 + ((z + 12.5 + 3.0 * along) / (5.5 - 1.5 * along)) ** 2 <= 1.0)
        & ~((ax < 1.0) & (y > 26.0))
    )
    transverse = superellipsoid(ax, y, z, (22.5, -8.5, -9.5), (6.0, 5.8, 3.5), power=3.0)
    return body | dens | pedicles | superior_facets | inferior_facets | laminae | spinous | transverse


def _subaxial(x: np.ndarray, y: np.ndarray, z: np.ndarray, top_z: float) -> np.ndarray:
    """A generic C3-C7 vertebra whose body top is at ``top_z`` (height 13 mm)."""
    bottom = top_z - 13.0
    if float(z.max()) < bottom - 6.0 or float(z.min()) > top_z + 2.0:
        return np.zeros(x.shape, dtype=bool)  # this vertebra is outside the field of view
    ax = np.abs(x)
    body = superellipsoid(x, y, z, (0.0, -17.0, top_z - 6.5), (8.5, 7.5, 6.5), power=3.0)
    pedicles = superellipsoid(ax, y, z, (11.0, -7.0, top_z - 6.5), (2.5, 4.5, 3.5), power=3.0)
    pillars = superellipsoid(ax, y, z, (16.0, 0.0, top_z - 6.0), (5.0, 6.0, 8.0), power=3.0)
    outer = (x / 15.0) ** 2 + ((y + 2.0) / 15.0) ** 2 <= 1.0
    inner = (x / 11.0) ** 2 + ((y + 2.0) / 10.5) ** 2 <= 1.0
    laminae = outer & ~inner & (y >= 0.0) & (z >= bottom - 1.0) & (z <= top_z - 3.0)
    spinous = superellipsoid(x, y, z, (0.0, 18.0, bottom + 1.5), (2.8, 6.5, 4.0), power=3.0)
    transverse = superellipsoid(ax, y, z, (18.5, -10.5, top_z - 6.5), (5.5, 4.5, 3.5), power=3.0)
    return body | pedicles | pillars | laminae | spinous | transverse


def _occiput(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Occipital bone: a 6 mm plate, the floor of the posterior fossa, rising laterally and posteriorly
    from the rim of the foramen magnum; the condyles rest on the C1 lateral masses."""
    floor = (
        20.5 + 0.006 * x**2 + 0.012 * np.clip(y - 6.0, 0.0, None) ** 2 + 0.5 * np.clip(-y - 16.0, 0.0, None)
    )
    plate = (z >= floor) & (z <= floor + 6.0)
    foramen_magnum = (x / 15.0) ** 2 + ((y + 3.0) / 18.0) ** 2 <= 1.0
    condyles = ellipsoid(np.abs(x), y, z, (15.0, -8.0, 23.5), (6.0, 9.0, 3.5))
    return (plate & ~foramen_magnum) | condyles


def evaluate_regions(x: np.ndarray, y: np.ndarray, z: np.ndarray, anatomy: Anatomy) -> Regions:
    """Evaluate every structure at the given anatomical coordinates (float arrays of one shape).

    Precedence: arteries carve bone (foramina, grooves); bone wins over soft tissue; the cord wins over
    CSF; the ligament is a sub-voxel sheet reported as a distance field inside its band.
    """
    shape = x.shape
    ax = np.abs(x)
    # Bones are drawn in slightly warped coordinates (smooth, <= ~1 mm): real vertebrae are neither
    # exactly symmetric nor made of perfect ellipses. The cord, sac and arteries are not warped, so the
    # truth points (on the cord) stay exact and the arteries still carve their own foramina.
    warp, offset = np.float32(anatomy.bone_warp_mm), anatomy.bone_warp_seed
    wx, wy, wz = (
        x + warp * smooth_field(x, y, z, seed=31 + offset, wavelength_mm=(18.0, 40.0), terms=6),
        y + warp * smooth_field(x, y, z, seed=37 + offset, wavelength_mm=(18.0, 40.0), terms=6),
        z + warp * smooth_field(x, y, z, seed=41 + offset, wavelength_mm=(18.0, 40.0), terms=6),
    )
    if anatomy.bone_scale != (1.0, 1.0, 1.0):
        # Larger bones: the model's shapes evaluated at proportionally shrunk coordinates.
        sx, sy, sz = (np.float32(1.0 / s) for s in anatomy.bone_scale)
        wx, wy, wz = wx * sx, wy * sy, wz * sz
    c1 = _c1(wx, wy, wz, anatomy.lamina_scale)
    c2 = _c2(wx, wy, wz, anatomy.lamina_scale)
    other = _occiput(wx, wy, wz)
    for top in (-25.0, -41.0, -57.0, -73.0):
        other |= _subaxial(wx, wy, wz, top)
    del wx, wy, wz
    disc = np.zeros(shape, dtype=bool)
    bx, by, bz = anatomy.bone_scale
    for top, bottom in ((-22.0, -25.0), (-38.0, -41.0), (-54.0, -57.0), (-70.0, -73.0)):
        disc |= elliptic_cylinder_z(x, y, z, (0.0, -16.8 * by), (8.3 * bx, 7.3 * by), (bottom * bz, top * bz))

    # Arteries: distance to each centreline, evaluated only near the path (cheap).
    radius = anatomy.va_diameter_mm / 2.0
    va = {}
    carve = np.zeros(shape, dtype=bool)
    for side in ("left", "right"):
        path = anatomy.va_path(side)
        near = (
            (x >= path[:, 0].min() - 4.0)
            & (x <= path[:, 0].max() + 4.0)
            & (y >= path[:, 1].min() - 4.0)
            & (y <= path[:, 1].max() + 4.0)
            & (z >= path[:, 2].min() - 4.0)
            & (z <= path[:, 2].max() + 4.0)
        )
        index = np.nonzero(near)
        points = np.stack([x[index], y[index], z[index]], axis=1)
        distance = near_polyline_distance_mm(points, path, radius + 1.0)
        lumen = np.zeros(shape, dtype=bool)
        lumen[index] = distance <= radius
        wall = np.zeros(shape, dtype=bool)
        wall[index] = distance <= radius + 0.8  # vessel wall + venous cuff keep bone away
        va[side] = lumen
        carve |= wall
    c1 &= ~carve
    c2 &= ~carve & ~c1
    other &= ~carve & ~c1 & ~c2
    bone = c1 | c2 | other

    # Thecal sac and cord.
    lateral, anterior, posterior = anatomy.sac_semi_axes(z)
    sac_y = np.where(y >= 0.5, posterior, anterior)
    sac = ((x / lateral) ** 2 + ((y - 0.5) / sac_y) ** 2 <= 1.0) & ~bone
    scale = anatomy.cord_scale(z)
    u = (x - anatomy.cord_shift_mm) / scale
    v = y / scale
    cord = anatomy.cord.cord(u, v) & sac
    grey = anatomy.cord.grey_matter(u, v) & cord

    # Dentate ligament: sheet at v = dorsal offset, from the pial surface to the dura, both sides.
    ligament_v = anatomy.ligament_dorsal_offset_mm
    ligament_distance = (y - ligament_v * scale).astype(np.float32)
    ligament_band = sac & ~cord & (np.abs(ligament_distance) <= 1.5) & (np.abs(z) <= 40.0)

    # Soft tissues around the canal.
    canal = ((x / 14.5) ** 2 + ((y + 1.0) / 12.5) ** 2 <= 1.0) & (z <= 22.0)
    epidural = canal & ~sac & ~bone
    venous = epidural & (y < -5.5)
    ligaments_soft = (
        ellipsoid(x, y, z, (0.0, -10.5, 10.0), (10.0, 1.6, 9.0))  # transverse ligament / tectorial membrane
        & ~sac
        & ~bone
    )
    # Intermuscular fat: a smooth random field (fixed, so the CT and the vascular series agree) thresholded
    # into fat planes between the posterior neck muscles, plus the suboccipital triangle and the nape.
    marbling = smooth_field(x, y, z, seed=11, wavelength_mm=(14.0, 30.0))
    posterior_neck = (y > 9.0) | ((ax > 30.0) & (y > -12.0))
    fat = (
        ((np.abs(marbling) < 0.12) & posterior_neck)
        | (ax < 0.8) & (y > 18.0)  # nuchal midline
        | ellipsoid(ax, y, z, (22.0, 8.0, 9.0), (7.0, 6.0, 8.0))  # suboccipital triangle fat
        | (y > 41.0 + 2.0 * marbling)  # subcutaneous fat
    ) & ~bone
    air = ((x / 15.0) ** 2 + ((y + 42.0) / 6.5) ** 2 <= 1.0) & ~bone
    # Carotid sheath in front of the C1 transverse process: internal carotid artery (anteromedial) and
    # internal jugular vein (posterolateral); unlabelled (not in the output contract) but present.
    carotid = ((ax - 33.0 + 0.1 * z) ** 2 + (y + 28.0) ** 2 <= 2.6**2) & ~bone
    jugular = (((ax - 40.0) / 5.0) ** 2 + ((y + 20.0) / 3.5) ** 2 <= 1.0) & ~bone & ~carotid
    return Regions(
        c1=c1,
        c2=c2,
        other_bone=other,
        disc=disc & ~bone,
        sac=sac,
        cord=cord,
        grey_matter=grey,
        va_left=va["left"] & ~bone,
        va_right=va["right"] & ~bone,
        ligament_band=ligament_band,
        ligament_distance_mm=ligament_distance,
        epidural=epidural & ~sac,
        venous_plexus=venous,
        fat=fat,
        air=air,
        carotid=carotid,
        jugular=jugular,
        ligaments_soft=ligaments_soft,
    )
