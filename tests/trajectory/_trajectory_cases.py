"""Phantom cases analysed once per process and shared by the trajectory tests (imported, not a conftest,
so that every test module shares one cache)."""

from __future__ import annotations

import functools

import numpy as np

from pipeline.myelogram import MyelogramResult, analyse_myelogram
from pipeline.phantom import variants as phantom_variants
from pipeline.phantom.ct import CtCase, make_ct_case
from pipeline.phantom.variants import CtVariant
from pipeline.seeds import Seeds, load_seeds
from pipeline.trajectory import Plan, plan_trajectory

# A variant the generator does not list: the head flexed and tilted more than "head-rotated" does.
EXTRA_VARIANTS = {
    "tilted": CtVariant(
        "tilted",
        "head flexed 10° and tilted 8° sideways (tests only)",
        pitch_deg=10.0,
        roll_deg=8.0,
        yaw_deg=-6.0,
    ),
}

AnalysedCase = tuple[CtCase, MyelogramResult]


@functools.cache
def analysed_case(variant: str, vascular: str | None = None, seed: int = 1) -> AnalysedCase:
    """A phantom case and its myelogram result; with ``vascular`` the arteries come from that series."""
    extra = EXTRA_VARIANTS.get(variant)
    if extra is not None:
        phantom_variants.VARIANTS[variant] = extra
    try:
        case = make_ct_case(variant, seed=seed, vascular=vascular)
    finally:
        if extra is not None:
            del phantom_variants.VARIANTS[variant]
    result = analyse_myelogram(
        case.ct, vascular=case.vascular if vascular else None, vascular_modality=vascular or "cta"
    )
    return case, result


@functools.cache
def default_seeds() -> Seeds:
    return load_seeds()


def plan_for(
    variant: str, vascular: str | None, pain_side: str, pain_region: str, seeds: Seeds | None = None
) -> tuple[CtCase, MyelogramResult, Plan]:
    case, result = analysed_case(variant, vascular)
    plan = plan_trajectory(
        result, case.ct, pain_side=pain_side, pain_region=pain_region, seeds=seeds or default_seeds()
    )
    return case, result, plan


def anatomical(case: CtCase, points_lps_mm: np.ndarray) -> np.ndarray:
    """LPS points in the phantom's true anatomical frame (x left, y posterior, z superior; mm)."""
    matrix = np.asarray(case.truth["pose"]["lps_from_anatomical"])
    return (np.asarray(points_lps_mm) - matrix[:3, 3]) @ matrix[:3, :3]
