"""Customer segmentation: ``marts.customer_features`` → sklearn Pipeline → model selection → Insiders,
names and stable ids → one transaction of ``ml.*`` rows, plus a joblib model per run.

Modules: features (what is read and how it is prepared), model (candidates and the selection rule),
naming (Insiders and segment names), matching (stable ids across runs), rules (readable entry rules),
artifact (the saved model), store (the ``ml`` schema), job (the pure ``segment`` and
``run_segmentation``, which reads, calls it and writes).
"""

from insiders.segment.artifact import SegmentModel, load_model
from insiders.segment.job import (
    SegmentationResult,
    SegmentationRun,
    SegmentSummary,
    assign_segmentation,
    run_segmentation,
    segment,
)
from insiders.segment.model import SelectionRule

__all__ = [
    "SegmentModel",
    "SegmentSummary",
    "SegmentationResult",
    "SegmentationRun",
    "SelectionRule",
    "assign_segmentation",
    "load_model",
    "run_segmentation",
    "segment",
]
