"""Trajectory stage: somatotopic target, lateral C1-C2 needle path, clearances, impedance, flags.

Public face of the subpackage:

* :func:`plan_trajectory` (myelogram result + CT + pain side/region + parameters) -> :class:`Plan`,
  whose :meth:`Plan.to_json` is ``plan.json`` (``"schema": "cordotomy.plan/1"``, DESIGN.md §4);
* :func:`assess_window`: does a vertebral artery lie over the lateral C1-C2 window, per side;
* :class:`PainSide`, :class:`PainRegion` (the string values are accepted too), :class:`Flag`,
  :class:`Severity`.
"""

from pipeline.trajectory.plan import SCHEMA, Plan, assess_window, plan_trajectory
from pipeline.trajectory.safety import Flag, Severity, WindowAssessment, lateral_path_clearance_mm
from pipeline.trajectory.target import PainRegion, PainSide, cordotomy_side

__all__ = [
    "SCHEMA",
    "Flag",
    "PainRegion",
    "PainSide",
    "Plan",
    "Severity",
    "WindowAssessment",
    "assess_window",
    "cordotomy_side",
    "lateral_path_clearance_mm",
    "plan_trajectory",
]
