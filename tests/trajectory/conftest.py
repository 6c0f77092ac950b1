"""Phantom cases analysed once per session and shared by the trajectory tests."""

from __future__ import annotations

import functools

import pytest

from pipeline.myelogram import MyelogramResult, analyse_myelogram
from pipeline.phantom.ct import CtCase, make_ct_case


@functools.cache
def analysed_case(variant: str, vascular: str | None, seed: int = 1) -> tuple[CtCase, MyelogramResult]:
    """A phantom case and its myelogram result; with ``vascular`` the arteries come from that series."""
    case = make_ct_case(variant, seed=seed, vascular=vascular)
    result = analyse_myelogram(
        case.ct,
        vascular=case.vascular if vascular else None,
        vascular_modality=vascular or "cta",
    )
    return case, result


@pytest.fixture(scope="session")
def analysed() -> object:
    """``analysed(variant, vascular=None)`` -> (case, myelogram result), cached for the session."""
    return analysed_case
