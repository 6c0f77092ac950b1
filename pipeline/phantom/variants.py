"""Named sample-case variants (issue 3): what differs from the normal case, and why.

Each variant is a small frozen record; :func:`pipeline.phantom.ct.make_ct_case` turns it into images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["VARIANTS", "CtVariant", "get_variant"]


@dataclass(frozen=True)
class CtVariant:
    """Differences of one case from the normal anatomy and scan."""

    name: str
    description: str
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    cord_shift: str | None = None  # "right"/"left": cord displaced laterally inside the sac
    cord_size: str = "normal"  # "normal" | "small" | "large"
    va_courses: dict[str, str] = field(default_factory=lambda: {"left": "normal", "right": "normal"})
    voxel: str = "default"  # "default" | "coarse" | "fine"
    high_noise: bool = False
    intrathecal_contrast: bool = True
    c1_c2_in_fov: bool = True

    @property
    def expected_exit_code(self) -> int:
        """What the analysis stages must return on this case (DESIGN §5): 4 when they cannot proceed."""
        return 0 if self.intrathecal_contrast and self.c1_c2_in_fov else 4


_LIST = [
    CtVariant("normal", "typical adult anatomy, head straight, default voxels and noise"),
    CtVariant(
        "head-rotated",
        "head turned 12° (yaw), tilted 5° (roll) and flexed 3° (pitch): image axes are not anatomical axes",
        yaw_deg=12.0,
        pitch_deg=3.0,
        roll_deg=5.0,
    ),
    CtVariant("cord-displaced", "cord displaced 3 mm to the right inside the dural sac", cord_shift="right"),
    CtVariant(
        "va-loop",
        "left vertebral artery loops posteromedially over the lateral C1-2 window (into the lateral path)",
        va_courses={"left": "loop", "right": "normal"},
    ),
    CtVariant(
        "pfia",
        "persistent first intersegmental artery on the left: enters the canal at C1-2 and ascends intradurally",
        va_courses={"left": "pfia", "right": "normal"},
    ),
    CtVariant("small-cord", "small cord (AP 7.6 x transverse 9.6 mm), roomy CSF", cord_size="small"),
    CtVariant("large-cord", "large cord (AP 11.0 x transverse 13.8 mm), thin CSF rim", cord_size="large"),
    CtVariant("coarse", "coarse voxels 0.5 x 0.5 x 1.25 mm", voxel="coarse"),
    CtVariant("fine", "fine voxels 0.35 x 0.35 x 0.6 mm", voxel="fine"),
    CtVariant("high-noise", "image noise SD 70 HU (low dose / large patient)", high_noise=True),
    CtVariant(
        "no-contrast",
        "no intrathecal contrast (CSF ~15 HU): later stages must stop with exit code 4",
        intrathecal_contrast=False,
    ),
    CtVariant(
        "outside-fov",
        "scan covers C3-C5 only, C1-C2 outside the field of view: later stages must stop with exit code 4",
        c1_c2_in_fov=False,
    ),
]

VARIANTS: dict[str, CtVariant] = {variant.name: variant for variant in _LIST}


def get_variant(name: str) -> CtVariant:
    """Look up a variant by name; the error lists the valid names."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown phantom variant {name!r}; choose from {', '.join(VARIANTS)}") from None
