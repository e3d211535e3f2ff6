"""The per-run model artefact: the fitted Pipeline (preparation + chosen model) and how its cluster
labels map to segment ids, saved with joblib under ``<artifact_dir>/<run_id>/model.joblib``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline

MODEL_FILE = "model.joblib"


@dataclass
class SegmentModel:
    run_id: str
    pipeline: Pipeline = field(repr=False)  # impute → log1p → scale → weigh → cluster
    features: tuple[str, ...]
    segment_ids: dict[int, int]  # model label → segment_id
    segment_names: dict[int, str]  # segment_id → segment_name
    insiders_segment_id: int
    sklearn_version: str = sklearn.__version__

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Segment ids for customers given in original feature units (a frame with ``features``)."""
        labels = self.pipeline.predict(frame[list(self.features)])
        return np.array([self.segment_ids[int(label)] for label in labels], dtype=int)


def save_model(model: SegmentModel, artifact_dir: Path) -> Path:
    """Write atomically (temp file + rename) and return the file's path."""
    folder = Path(artifact_dir) / model.run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".model-", suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(model, tmp, compress=3)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def local_path(path: str | Path) -> Path:
    """A path or the file:// URI recorded on the run row, as a path."""
    text = str(path)
    if text.startswith("file://"):
        text = unquote(urlparse(text).path)
    return Path(text)


def artifact_exists(path: str | Path) -> bool:
    return local_path(path).is_file()


def load_model(path: str | Path) -> SegmentModel:
    """Load a saved model (a path or the file:// URI recorded on the run row)."""
    return joblib.load(local_path(path))
