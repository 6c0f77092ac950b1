"""Axial cross-section of the upper cervical cord: outline, grey matter, spinothalamic region, lesion.

Shared by the CT myelogram and the DWI phantoms so both describe the same cord. Everything is defined in
the cord's own frame in mm: ``u`` towards the patient's left and ``v`` towards posterior, origin at the cord
centre (the midsagittal line is ``u = 0``). The shapes are parametric, drawn from textbook anatomy of C1-C2
(ellipse 8.5 x 12 mm, Sherman et al. AJNR 1990; butterfly grey matter; lateral spinothalamic tract in the
anterolateral funiculus between the dentate-ligament line and the ventral horn, Lahuerta et al. 1994); the
PAM50 atlas is used only in tests to check that the spinothalamic region sits where PAM50 puts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CordSection", "side_sign"]


def side_sign(side: str) -> float:
    """+1 for the patient's left (LPS +x), -1 for the right."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return 1.0 if side == "left" else -1.0


def _in_ellipse(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float, angle_deg: float = 0.0
) -> np.ndarray:
    """Points inside a rotated ellipse (normalised coordinates)."""
    angle = np.deg2rad(angle_deg)
    dx, dy = x - cx, y - cy
    a = dx * np.cos(angle) + dy * np.sin(angle)
    b = -dx * np.sin(angle) + dy * np.cos(angle)
    return (a / rx) ** 2 + (b / ry) ** 2 <= 1.0


@dataclass(frozen=True)
class CordSection:
    """Cord cross-section with its anatomical sub-regions.

    Parameters
    ----------
    ap_mm, transverse_mm : float
        Cord diameters (Kanpolat et al. 1995 range at C1-C2: AP 7.0-11.4, transverse 9.0-14.0 mm).
    lesion_radius_mm : float
        In-plane radius of the lesion seen on follow-up DWI (ablation plus cytotoxic oedema; the value used
        by the generators comes from ``seeds/diffusion.yaml``).
    """

    ap_mm: float = 8.5
    transverse_mm: float = 12.0
    lesion_radius_mm: float = 1.6

    @property
    def semi_axes_mm(self) -> tuple[float, float]:
        """(transverse/2, AP/2)."""
        return self.transverse_mm / 2.0, self.ap_mm / 2.0

    @property
    def area_mm2(self) -> float:
        """True ellipse area (π/4·AP·T; domain-facts §1 note on the 'approximate cord area')."""
        return float(np.pi / 4.0 * self.ap_mm * self.transverse_mm)

    def _normalised(self, u_mm: np.ndarray, v_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.semi_axes_mm
        return np.asarray(u_mm) / a, np.asarray(v_mm) / b

    def cord(self, u_mm: np.ndarray, v_mm: np.ndarray) -> np.ndarray:
        """Inside the pial surface."""
        x, y = self._normalised(u_mm, v_mm)
        return x**2 + y**2 <= 1.0

    def grey_matter(self, u_mm: np.ndarray, v_mm: np.ndarray) -> np.ndarray:
        """Butterfly grey matter: commissure, ventral horns (broad) and dorsal horns (slender, dorsolateral)."""
        x, y = self._normalised(u_mm, v_mm)
        ax = np.abs(x)
        commissure = _in_ellipse(ax, y, 0.0, 0.02, 0.30, 0.12)
        ventral = _in_ellipse(ax, y, 0.28, -0.30, 0.17, 0.30, angle_deg=35.0)
        dorsal = _in_ellipse(ax, y, 0.26, 0.42, 0.075, 0.36, angle_deg=-25.0)
        return (commissure | ventral | dorsal) & self.cord(u_mm, v_mm)

    def white_matter(self, u_mm: np.ndarray, v_mm: np.ndarray) -> np.ndarray:
        return self.cord(u_mm, v_mm) & ~self.grey_matter(u_mm, v_mm)

    def spinothalamic(self, u_mm: np.ndarray, v_mm: np.ndarray, side: str) -> np.ndarray:
        """Lateral spinothalamic tract region of one side.

        The anterolateral funiculus between the dentate-ligament line (the transverse diameter, slightly
        dorsal) and the ventral horn, within the outer third of the hemicord (Lahuerta et al. J Neurosurg
        1994: effective lesions reach 5 mm deep from the surface).
        """
        x, y = self._normalised(u_mm, v_mm)
        radius = np.hypot(x, y)
        # Angle from the lateral direction towards anterior (v negative), in degrees.
        angle = np.rad2deg(np.arctan2(-y, side_sign(side) * x))
        in_band = (angle >= -8.0) & (angle <= 60.0) & (radius >= 0.62)
        return in_band & self.white_matter(u_mm, v_mm)

    def lesion_centre_mm(self, side: str) -> tuple[float, float]:
        """Centre of the ablation lesion: in the spinothalamic region, 25° anterior of lateral, r = 0.8."""
        a, b = self.semi_axes_mm
        angle = np.deg2rad(25.0)
        return side_sign(side) * 0.80 * a * float(np.cos(angle)), -0.80 * b * float(np.sin(angle))

    def lesion(self, u_mm: np.ndarray, v_mm: np.ndarray, side: str) -> np.ndarray:
        """In-plane lesion footprint: a disc in white matter (grey matter spared so that its mirror image,
        the homolog, is pure white matter; the tensors of the two then differ only by the lesion)."""
        cu, cv = self.lesion_centre_mm(side)
        disc = (np.asarray(u_mm) - cu) ** 2 + (np.asarray(v_mm) - cv) ** 2 <= self.lesion_radius_mm**2
        return disc & self.white_matter(u_mm, v_mm)
