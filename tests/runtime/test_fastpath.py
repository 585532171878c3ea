"""The exact fast path answers like scikit-learn itself, or is not used."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, PolynomialFeatures, StandardScaler

from modelserve.runtime import fastpath
from modelserve.runtime.fastpath import FastEngine
from modelserve.runtime.predictor import SklearnEngine
from modelserve.runtime.registry import LoadedModel, load_package, load_source
from modelserve.runtime.schema import Columns
from modelserve.runtime.verify import generated_rows
from tests.support import mixed_pipeline, save


def held_out_rows(model: LoadedModel, n: int = 300) -> list[dict]:
    """Rows the load-time check never saw: another seed, other values."""
    rng = np.random.default_rng(42)
    rows = []
    for row in generated_rows(model.schema.features, n):
        for feat in model.schema.features:
            if feat.numeric and feat.min is not None and feat.max is not None:
                row[feat.name] = float(rng.uniform(feat.min, feat.max))
        rows.append(row)
    return rows


def answers(model: LoadedModel, rows: list[dict]):
    return model.engine.run(model.schema.validate(rows))


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded replay", "replayed at load"])
@pytest.mark.parametrize("name", ["exam", "exam-legacy", "iris"])
def test_demo_models_take_the_fast_path_and_match_sklearn(
    demo_dir: Path, name: str, recorded: bool
) -> None:
    model = load_package(demo_dir / name, recorded=recorded)
    assert isinstance(model.engine, FastEngine)
    assert (model.engine.original is None) is recorded
    assert any("exact fast path on" in n for n in model.notes)
    rows = held_out_rows(model)
    original = load_package(demo_dir / name, recorded=False).engine.original
    assert original is not None
    frame = pd.DataFrame(rows)[model.schema.names]
    x = frame
    for step in original.steps:
        x = step.transform(x)
    got = answers(model, rows)
    np.testing.assert_allclose(
        got.probabilities, original.estimator.predict_proba(x), rtol=0, atol=1e-9
    )
    assert got.labels == [str(v) for v in original.estimator.predict(x)]
    # Each label is the class at its index (binary exam and 3-class iris alike).
    assert got.label_index is not None
    assert [got.classes[i] for i in got.label_index.tolist()] == got.labels


def test_column_transformer_with_one_hot_matches(tmp_path: Path) -> None:
    pipeline, _, held_out = mixed_pipeline()
    model = load_source(save(pipeline, tmp_path / "churn.joblib"))
    assert isinstance(model.engine, FastEngine)
    got = answers(model, held_out.to_dict("records"))
    np.testing.assert_allclose(got.probabilities, pipeline.predict_proba(held_out), atol=1e-9)
    assert got.labels == list(pipeline.predict(held_out))


def test_imputer_minmax_linear_regression_matches(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 50, size=(200, 3))
    y = x @ [0.5, -1.5, 2.0] + 3
    x[::7, 1] = np.nan
    pipeline = make_pipeline(SimpleImputer(), MinMaxScaler(clip=True), LinearRegression())
    pipeline.fit(x[:150], y[:150])
    model = load_source(save(pipeline, tmp_path / "reg.joblib"))
    assert isinstance(model.engine, FastEngine)
    rows = [{f"x{i}": float(v) for i, v in enumerate(r)} for r in x[150:] if not np.isnan(r).any()]
    got = answers(model, rows)
    want = pipeline.predict(np.array([list(r.values()) for r in rows]))
    np.testing.assert_allclose(got.values, want, rtol=0, atol=1e-9)


def test_a_pipeline_it_cannot_replay_falls_back_with_the_reason(tmp_path: Path) -> None:
    x = np.random.default_rng(2).normal(size=(120, 2))
    y = (x[:, 0] > 0).astype(int)
    poly = make_pipeline(PolynomialFeatures(), LogisticRegression()).fit(x, y)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    for name, estimator, missing in [
        ("poly", poly, "PolynomialFeatures"),
        ("rf", forest, "Forest"),
    ]:
        model = load_source(save(estimator, tmp_path / f"{name}.joblib"))
        assert isinstance(model.engine, SklearnEngine)
        assert any("fast path off" in n and missing in n for n in model.notes), model.notes


def test_a_replay_that_does_not_match_is_refused(tmp_path: Path, monkeypatch) -> None:
    real = fastpath._standard_scaler

    def off_by_a_little(scaler):
        step = real(scaler)
        return lambda x: step(x) + 1e-7

    monkeypatch.setattr(fastpath, "_standard_scaler", off_by_a_little)
    x = np.random.default_rng(3).normal(size=(100, 2))
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, x[:, 0] > 0)
    model = load_source(save(pipeline, tmp_path / "m.joblib"))
    assert isinstance(model.engine, SklearnEngine)
    assert any("differs by" in n for n in model.notes), model.notes


def test_the_fast_path_builds_no_dataframe(demo_dir: Path, monkeypatch) -> None:
    model = load_source(demo_dir / "exam")
    assert isinstance(model.engine, FastEngine)

    def forbidden(*args, **kwargs):
        raise AssertionError("pandas on the hot path")

    monkeypatch.setattr(pd, "DataFrame", forbidden)
    assert answers(model, [{"estudio": 6, "sueno": 8}]).labels in (["Aprobado"], ["Suspendido"])


def test_fast_path_can_be_turned_off(demo_dir: Path) -> None:
    model = load_source(demo_dir / "exam", fast_path=False)
    assert isinstance(model.engine, SklearnEngine)


@pytest.mark.parametrize("name", ["exam", "exam-legacy", "iris"])
def test_a_row_alone_scores_to_the_same_bits_as_inside_a_batch(demo_dir: Path, name: str) -> None:
    """Few rows take plain-Python label picks, and BLAS would pick other kernels for other
    shapes (iris' (n, 4) @ (4, 3) did); the answer must not depend on the row count."""
    model = load_source(demo_dir / name)
    rows = held_out_rows(model, 300)
    together = answers(model, rows)
    for i, row in enumerate(rows):
        alone = answers(model, [row])
        assert alone.labels == together.labels[i : i + 1]
        assert alone.probabilities.tobytes() == together.probabilities[i : i + 1].tobytes()


def test_binary_labels_agree_for_few_and_many_rows() -> None:
    """decision > 0 picks the second class; 0, -0.0 and NaN the first, in both ways."""
    decision = np.array([1e-300, 0.0, -0.0, np.nan, -1e-300, 3.5, -np.inf, np.inf] * 5)
    by_index = np.empty(2, dtype=object)
    by_index[:] = ["no", "yes"]
    pair = by_index.tolist()
    many = fastpath._binary_labels(decision, by_index, pair)[0]
    few = [fastpath._binary_labels(decision[i : i + 1], by_index, pair)[0][0] for i in range(40)]
    assert len(decision) >= fastpath.FEW_ROWS and few == many
    assert many[:8] == ["yes", "no", "no", "no", "no", "yes", "no", "yes"]


def test_wider_and_regression_replays_do_not_depend_on_the_row_count(tmp_path: Path) -> None:
    pipeline, _, held_out = mixed_pipeline()  # one-hot columns: 7 inputs to the logistic head
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 50, size=(120, 5))
    regression = make_pipeline(StandardScaler(), LinearRegression()).fit(x, x @ [1, -2, 3, 0.5, 7])
    cases = [
        (pipeline, "churn.joblib", held_out.to_dict("records")),
        (regression, "reg.joblib", [{f"x{i}": float(v) for i, v in enumerate(r)} for r in x]),
    ]
    for fitted, file, rows in cases:
        model = load_source(save(fitted, tmp_path / file))
        assert isinstance(model.engine, FastEngine)
        together = answers(model, rows)
        for i, row in enumerate(rows):
            alone = answers(model, [row])
            assert alone.labels == together.labels[i : i + 1]
            for a, b in (
                (alone.probabilities, together.probabilities),
                (alone.values, together.values),
            ):
                assert (a is None) is (b is None)
                assert a is None or a.tobytes() == b[i : i + 1].tobytes()


def _numpy_only(engine: FastEngine) -> FastEngine:
    """The same replay with the few-rows Python path off: numpy for every row count."""
    return FastEngine(engine.plan, engine.steps, engine.head, engine.original)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (
        a is not None and b is not None and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    )


def test_few_rows_in_python_floats_give_numpy_replays_bits(tmp_path: Path, demo_dir: Path) -> None:
    """The few-rows path (scaler, imputer, binary logistic or linear head as Python floats)
    answers exactly what the numpy replay does, overflowing exp included."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 50, size=(120, 3))
    imputed = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression())
    imputed.fit(x, x[:, 0] > 20)
    regression = make_pipeline(StandardScaler(), LinearRegression()).fit(x, x @ [1, -2, 3])
    fitted = [load_source(demo_dir / "exam")] + [
        load_source(save(est, tmp_path / f"{i}.joblib"))
        for i, est in enumerate([imputed, regression])
    ]
    for model in fitted:
        engine = model.engine
        assert isinstance(engine, FastEngine) and engine.few is not None
        names = model.schema.names
        # Every third row far out of range: decisions whose exp overflows, or nearly.
        rows = [
            [float(rng.uniform(*((-1e6, 1e6) if i % 3 == 0 else (0, 20)))) for _ in names]
            for i in range(60)
        ]
        for count in (1, 2, 5, fastpath.FEW_ROWS - 1):
            values = [list(column) for column in zip(*rows[:count], strict=True)]
            columns = Columns(names, values, count)
            got, want = engine.run(columns), _numpy_only(engine).run(columns)
            assert got.labels == want.labels and got.classes == want.classes
            assert _same(got.probabilities, want.probabilities)
            assert _same(got.values, want.values)
            assert got.label_index is None


def test_few_rows_with_a_missing_value_take_the_numpy_path(tmp_path: Path) -> None:
    x = np.random.default_rng(6).uniform(0, 5, size=(80, 2))
    pipeline = make_pipeline(SimpleImputer(), LogisticRegression()).fit(x, x[:, 1] > 2)
    model = load_source(save(pipeline, tmp_path / "m.joblib"))
    engine = model.engine
    assert isinstance(engine, FastEngine) and engine.few is not None
    assert fastpath._plain_rows([[1.0, math.nan], [2.0, 3.0]]) is None
    assert fastpath._plain_rows([[1.0, 2], [2.0, 3.0]]) is None
    assert fastpath._plain_rows([[1.0, 2.0], [3.0, 4.0]]) == [[1.0, 3.0], [2.0, 4.0]]
    columns = Columns(["x0", "x1"], [[1.0], [math.nan]], 1)
    got, want = engine.run(columns), _numpy_only(engine).run(columns)
    assert got.labels == want.labels and _same(got.probabilities, want.probabilities)


def test_replays_without_a_few_rows_path(tmp_path: Path, demo_dir: Path) -> None:
    """Three classes, one-hot columns or MinMaxScaler: numpy answers every row count."""
    pipeline, _, _ = mixed_pipeline()
    x = np.random.default_rng(7).uniform(0, 5, size=(80, 2))
    minmax = make_pipeline(MinMaxScaler(), LinearRegression()).fit(x, x @ [1, 2])
    models = [
        load_source(demo_dir / "iris"),
        load_source(save(pipeline, tmp_path / "churn.joblib")),
        load_source(save(minmax, tmp_path / "minmax.joblib")),
    ]
    for model in models:
        assert isinstance(model.engine, FastEngine) and model.engine.few is None
