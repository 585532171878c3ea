"""The built-in demo models, trained on generated or bundled data into the instance folder.

- `exam`: our origin story. Pass ("Aprobado") or fail ("Suspendido") from hours of study
  (`estudio`) and hours of sleep (`sueno`): a StandardScaler + LogisticRegression Pipeline.
- `exam-legacy`: the same model packaged the old way, a bare classifier plus a separate
  `scaler.joblib` that is replayed before it.
- `iris`: scikit-learn's bundled iris data set, three classes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .runtime.manifest import MANIFEST_NAME, Manifest
from .runtime.packaging import manifest_for_files, write_package
from .runtime.replays import record

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# scikit-learn, pandas and joblib are imported by the functions that train: serving demo
# models that are already trained (with their recorded replays) never imports them.

PASS, FAIL = "Aprobado", "Suspendido"
HOURS = {"type": "number", "min": 0.0, "max": 24.0, "step": 0.5, "unit": "h"}


def exam_data(rows: int = 400, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Students' study and sleep hours, and whether they passed (a noisy logistic rule)."""
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    study = rng.uniform(0, 10, rows).round(1)
    sleep = rng.uniform(3, 10, rows).round(1)
    chance = 1 / (1 + np.exp(-(0.9 * study + 0.6 * sleep - 8.5)))
    passed = rng.uniform(0, 1, rows) < chance
    frame = pd.DataFrame({"estudio": study, "sueno": sleep})
    return frame, np.where(passed, PASS, FAIL)


def _exam_manifest(manifest: Manifest) -> None:
    manifest.version = "1.0.0"
    manifest.title = {"es": "¿Aprobaré el examen?", "en": "Will I pass the exam?"}
    manifest.description = {
        "es": "Predice si un estudiante aprueba según sus horas de estudio y de sueño.",
        "en": "Predicts whether a student passes from their hours of study and of sleep.",
    }
    labels = {
        "estudio": (
            {"es": "Horas de estudio", "en": "Hours of study"},
            {"es": "Horas dedicadas a estudiar", "en": "Hours spent studying"},
        ),
        "sueno": (
            {"es": "Horas de sueño", "en": "Hours of sleep"},
            {"es": "Horas dormidas la noche anterior", "en": "Hours slept the night before"},
        ),
    }
    for feat in manifest.features:
        feat.min, feat.max, feat.step, feat.unit = 0.0, 24.0, 0.5, "h"
        feat.label, feat.help = labels[feat.name]
    manifest.class_labels = {
        PASS: {"es": "Aprobado", "en": "Pass"},
        FAIL: {"es": "Suspendido", "en": "Fail"},
    }


def train_exam(folder: Path) -> Manifest:
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    frame, target = exam_data()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, target)
    return _package(folder, {"model.joblib": pipeline}, _exam_manifest, frame, "exam")


def train_exam_legacy(folder: Path) -> Manifest:
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    frame, target = exam_data()
    scaler = StandardScaler().fit(frame)
    classifier = LogisticRegression().fit(scaler.transform(frame), target)
    files = {"scaler.joblib": scaler, "classifier.joblib": classifier}

    def details(manifest: Manifest) -> None:
        _exam_manifest(manifest)
        manifest.title = {
            "es": "¿Aprobaré? (escalador aparte)",
            "en": "Will I pass? (separate scaler)",
        }

    return _package(folder, files, details, frame, "exam-legacy")


def train_iris(folder: Path) -> Manifest:
    import numpy as np  # noqa: PLC0415
    from sklearn.datasets import load_iris  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    data = load_iris(as_frame=True)
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    frame = data.frame.iloc[:, :4].set_axis(names, axis=1)
    target = np.asarray(data.target_names)[data.target]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(frame, target)

    def details(manifest: Manifest) -> None:
        manifest.version = "1.0.0"
        manifest.title = {"es": "Especie de iris", "en": "Iris species"}
        manifest.description = {
            "es": "Clasifica una flor de iris por sus medidas.",
            "en": "Classifies an iris flower from its measurements.",
        }
        spanish = {"sepal": "sépalo", "petal": "pétalo", "length": "Largo", "width": "Ancho"}
        for feat in manifest.features:
            part, size = feat.name.split("_")
            feat.label = {
                "en": f"{part.capitalize()} {size}",
                "es": f"{spanish[size]} del {spanish[part]}",
            }
            feat.unit, feat.step, feat.min, feat.max = "cm", 0.1, 0.0, 10.0

    return _package(folder, {"model.joblib": pipeline}, details, frame, "iris")


DEMOS: dict[str, Callable[[Path], Manifest]] = {
    "exam": train_exam,
    "exam-legacy": train_exam_legacy,
    "iris": train_iris,
}


def ensure_demo_models(models_dir: Path, *, force: bool = False) -> list[Path]:
    """Train each demo model into `models_dir/<name>` unless it is already there; record the
    replay of one trained before replays were recorded."""
    folders = []
    for name, train in DEMOS.items():
        folder = models_dir / name
        if force or not (folder / MANIFEST_NAME).is_file():
            train(folder)
        elif Manifest.load(folder).replay is None:
            record(folder)
        folders.append(folder)
    return folders


def _package(
    folder: Path,
    objects: dict[str, Any],
    details: Callable[[Manifest], None],
    reference: pd.DataFrame,
    name: str,
) -> Manifest:
    import joblib  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for file, obj in objects.items():
            joblib.dump(obj, Path(tmp) / file)
            paths.append(Path(tmp) / file)
        inspected = manifest_for_files(
            paths[-1], preprocess=paths[:-1], name=name, reference=reference
        )
        details(inspected.manifest)
        return write_package(inspected, folder, paths, reference=reference, overwrite=True)
