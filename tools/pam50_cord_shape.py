"""Derive the cord/CSF shape-prior table shipped in pipeline/myelogram/data/pam50_cord_shape.json.

Run from the project root (reads the PAM50 template from the shared test data, writes the small JSON)::

    python tools/pam50_cord_shape.py [--pam50 ../shared/data/PAM50]

For each vertebral level of PAM50_levels (C1..T12, L1..), on the 0.5 mm axial slices of that level:
cord cross-section area (mean, 5th and 95th percentile over slices), AP and transverse diameters (extent of
the cord mask along A-P and L-R through its centroid), the CSF (sac = cord + CSF) area, and the mean radial
shape of the cord: the boundary radius along 36 directions divided by the equivalent-circle radius. The
template images themselves are not shipped (source and licence: PAM50, De Leener et al., NeuroImage 2018,
github spinalcordtoolbox/PAM50, distributed with the Spinal Cord Toolbox under the MIT licence).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nibabel as nib
import numpy as np

LEVEL_NAMES = {**{k: f"C{k}" for k in range(1, 8)}, **{7 + k: f"T{k}" for k in range(1, 13)}}
N_DIRECTIONS = 36


def _radial_profile(mask2d: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Boundary radius (mm) along N_DIRECTIONS directions from the centroid (L-R axis 0, A-P axis 1)."""
    ij = np.argwhere(mask2d).astype(float)
    centre = ij.mean(axis=0)
    angles = np.linspace(0, 2 * np.pi, N_DIRECTIONS, endpoint=False)
    radii = np.arange(0, 20, 0.05)
    points = (
        centre[None, None, :]
        + (radii[None, :, None] / spacing_mm) * np.stack([np.cos(angles), np.sin(angles)], axis=1)[:, None, :]
    )
    idx = np.rint(points).astype(int)
    inside = np.zeros(idx.shape[:2], dtype=bool)
    ok = (idx >= 0).all(axis=2) & (idx[..., 0] < mask2d.shape[0]) & (idx[..., 1] < mask2d.shape[1])
    inside[ok] = mask2d[idx[..., 0][ok], idx[..., 1][ok]]
    first_out = np.argmin(inside, axis=1)
    return radii[first_out]


def build_table(pam50: Path) -> dict[str, object]:
    template = pam50 / "template"
    cord_img = nib.load(template / "PAM50_cord.nii.gz")
    cord = np.asarray(cord_img.dataobj) > 0.5
    csf = np.asarray(nib.load(template / "PAM50_csf.nii.gz").dataobj) > 0.5
    levels = np.asarray(nib.load(template / "PAM50_levels.nii.gz").dataobj)
    spacing = float(cord_img.header.get_zooms()[0])
    pixel_mm2 = spacing * spacing
    rows = []
    for value, name in LEVEL_NAMES.items():
        slices = np.where((levels == value).any(axis=(0, 1)))[0]
        slices = [z for z in slices if cord[:, :, z].any()]
        if not slices:
            continue
        area, sac, ap, tr, shapes = [], [], [], [], []
        for z in slices:
            m = cord[:, :, z]
            area.append(m.sum() * pixel_mm2)
            sac.append((m | csf[:, :, z]).sum() * pixel_mm2)
            profile = _radial_profile(m, spacing)
            ap.append(profile[9] + profile[27])  # 90° and 270°: along the template's A-P axis
            tr.append(profile[0] + profile[18])
            shapes.append(profile / np.sqrt(m.sum() * pixel_mm2 / np.pi))
        rows.append(
            {
                "level": name,
                "slices": len(slices),
                "cord_area_mm2": {
                    "mean": round(float(np.mean(area)), 1),
                    "p05": round(float(np.percentile(area, 5)), 1),
                    "p95": round(float(np.percentile(area, 95)), 1),
                },
                "cord_ap_mm": round(float(np.mean(ap)), 2),
                "cord_transverse_mm": round(float(np.mean(tr)), 2),
                "sac_area_mm2": round(float(np.mean(sac)), 1),
                "cord_shape": [round(float(v), 3) for v in np.mean(shapes, axis=0)],
            }
        )
    return {
        "source": (
            "PAM50 spinal cord template (De Leener et al., NeuroImage 2018; github spinalcordtoolbox/PAM50, "
            "commit 31443641706ed3b87b970596c70668909db1e4af), distributed with the Spinal Cord Toolbox "
            "under the MIT licence; derived numbers only, no template image is shipped"
        ),
        "script": "tools/pam50_cord_shape.py",
        "frame": "cord_shape: radius / equivalent-circle radius along 36 directions from the centroid, "
        "counter-clockwise from patient left (0) through anterior (90)",
        "levels": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--pam50", type=Path, default=root.parent / "shared" / "data" / "PAM50")
    parser.add_argument(
        "--out", type=Path, default=root / "pipeline" / "myelogram" / "data" / "pam50_cord_shape.json"
    )
    args = parser.parse_args()
    table = build_table(args.pam50)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    for row in table["levels"]:  # type: ignore[attr-defined]
        print(
            f"{row['level']:>4}: area {row['cord_area_mm2']['mean']:6.1f} mm² "
            f"AP {row['cord_ap_mm']:5.2f} TR {row['cord_transverse_mm']:5.2f} sac {row['sac_area_mm2']:6.1f}"
        )


if __name__ == "__main__":
    main()
