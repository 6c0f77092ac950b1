"""Expected electrode impedance along the planned path, so live readings can be compared with the plan.

The tissue sequence comes from the segmentation along the chosen path (skin -> dura -> CSF -> pia ->
cord); the ohm ranges from seeds/electrode.yaml. Two published sets disagree (domain-facts §0, §8): the
primary reference (< 200 Ω CSF, < 400 Ω at the pia, > 700 Ω in the cord; Shepherd et al. 2017) and
Kanpolat's chapter (CSF about 400 Ω, +200 Ω on pial contact, > 1000 Ω in the cord). The set is chosen by
``electrode.impedance_ohm.default_set`` (primary by default). A ``null`` bound is open.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.seeds import Seeds

__all__ = ["ImpedanceSegment", "expected_impedance"]


@dataclass(frozen=True)
class ImpedanceSegment:
    """One stretch of the path (depths from the skin entry, mm) and its expected impedance (Ω)."""

    from_depth_mm: float
    to_depth_mm: float
    tissue: str
    ohm_range: tuple[float | None, float | None]
    source: str

    def to_json(self) -> dict[str, object]:
        return {
            "from_depth_mm": round(self.from_depth_mm, 2),
            "to_depth_mm": round(self.to_depth_mm, 2),
            "tissue": self.tissue,
            "ohm_range": list(self.ohm_range),
            "source": self.source,
        }


def _ranges(seeds: Seeds) -> dict[str, tuple[tuple[float | None, float | None], str]]:
    """Ohm range and citation per tissue for the configured set."""
    chosen = str(seeds.value("electrode.impedance_ohm.default_set"))
    key = f"electrode.impedance_ohm.{chosen}"
    if chosen == "kanpolat":
        csf = seeds.number(f"{key}.csf")
        pia = csf + seeds.number(f"{key}.pia_rise")
        return {
            "csf": ((csf, csf), seeds[f"{key}.csf"].source),
            "pia": ((pia, pia), seeds[f"{key}.pia_rise"].source),
            "cord": ((seeds.number(f"{key}.cord_min"), None), seeds[f"{key}.cord_min"].source),
        }
    csf_max = seeds.number(f"{key}.csf_max")
    return {
        "csf": ((None, csf_max), seeds[f"{key}.csf_max"].source),
        "pia": ((csf_max, seeds.number(f"{key}.pia_max")), seeds[f"{key}.pia_max"].source),
        "cord": ((seeds.number(f"{key}.cord_min"), None), seeds[f"{key}.cord_min"].source),
    }


def expected_impedance(
    *, skin_to_dura_mm: float, skin_to_pia_mm: float, skin_to_target_mm: float, seeds: Seeds
) -> list[ImpedanceSegment]:
    """Impedance by depth: extradural tissue, CSF, the pial surface (a point: contact), cord to the tip.

    No source gives an impedance for the extradural soft tissue, so its range is open on both ends.
    """
    ranges = _ranges(seeds)
    return [
        ImpedanceSegment(0.0, skin_to_dura_mm, "extradural soft tissue", (None, None), "no published value"),
        ImpedanceSegment(skin_to_dura_mm, skin_to_pia_mm, "csf", *ranges["csf"]),
        ImpedanceSegment(skin_to_pia_mm, skin_to_pia_mm, "pia", *ranges["pia"]),
        ImpedanceSegment(skin_to_pia_mm, skin_to_target_mm, "cord", *ranges["cord"]),
    ]
