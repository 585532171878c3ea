"""`modelserve models add | list | check` through the CLI runner."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from modelserve.cli import main
from modelserve.runtime.manifest import Manifest
from tests.support import mixed_pipeline, numeric_pipeline, save


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_add_writes_a_pinned_inferred_manifest(tmp_instance: Path, tmp_path: Path) -> None:
    pipeline, train, _ = mixed_pipeline()
    reference = tmp_path / "train.csv"
    train.to_csv(reference, index=False)
    result = run(
        "models", "add", save(pipeline, tmp_path / "churn.joblib"), "--reference", reference
    )
    assert result.exit_code == 0, result.output
    manifest = Manifest.load(tmp_instance / "models" / "churn")
    features = {f.name: f for f in manifest.features}
    assert features["age"].min == train["age"].min() and features["age"].max == train["age"].max()
    assert features["city"].type == "category"
    assert manifest.classes == ["no", "yes"]
    assert manifest.model_artifact.sha256 and "scikit-learn" in manifest.libraries
    assert (tmp_instance / "models" / "churn" / "reference.csv").is_file()
    assert "city: category" in result.output


def test_add_with_separate_preprocessing_in_order(tmp_instance: Path, tmp_path: Path) -> None:
    _, x, _ = numeric_pipeline()
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    clf = LogisticRegression().fit(scaler.transform(x), x[:, 0] > 0)
    result = run(
        "models",
        "add",
        save(clf, tmp_path / "clf.pkl"),
        "--name",
        "two-step",
        "--preprocess",
        save(scaler, tmp_path / "scaler.joblib"),
    )
    assert result.exit_code == 0, result.output
    manifest = Manifest.load(tmp_instance / "models" / "two-step")
    assert [(a.file, a.role) for a in manifest.artifacts] == [
        ("scaler.joblib", "preprocess"),
        ("clf.pkl", "model"),
    ]


def test_add_refuses_to_overwrite_without_force(tmp_instance: Path, tmp_path: Path) -> None:
    path = save(numeric_pipeline()[0], tmp_path / "m.joblib")
    assert run("models", "add", path).exit_code == 0
    again = run("models", "add", path)
    assert again.exit_code == 1 and "--force" in again.output
    assert run("models", "add", path, "--force").exit_code == 0


def test_list_and_check(tmp_instance: Path, tmp_path: Path) -> None:
    run("models", "add", save(numeric_pipeline()[0], tmp_path / "good.joblib"))
    run("models", "add", save(numeric_pipeline()[0], tmp_path / "tampered.joblib"))
    target = tmp_instance / "models" / "tampered" / "tampered.joblib"
    target.write_bytes(target.read_bytes()[:-1])
    listing = run("models", "list")
    assert "good\t1\tclassification\t3 inputs" in listing.output
    check = run("models", "check")
    assert check.exit_code == 1
    assert "ok   " in check.output and "FAIL" in check.output
    assert "does not match the pinned" in check.output
    # The good one loads from its files, and its recorded replay still holds.
    assert "note: good: exact fast path on (matches within" in check.output
    assert "note: good: exact fast path on (recorded replay" in check.output


def test_add_records_the_replay_and_says_so(tmp_instance: Path, tmp_path: Path) -> None:
    result = run("models", "add", save(numeric_pipeline()[0], tmp_path / "m.joblib"))
    assert "replay: replay.json (exact fast path; serves without scikit-learn)" in result.output
    assert Manifest.load(tmp_instance / "models" / "m").replay is not None


def test_add_explains_an_unloadable_file(tmp_instance: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.skops"
    junk.write_bytes(b"PK not really")
    result = run("models", "add", junk)
    assert result.exit_code == 1 and "Error:" in result.output and "Traceback" not in result.output


def test_models_group_is_on_the_flask_cli_too(runner) -> None:
    result = runner.invoke(args=["models", "--help"])
    assert result.exit_code == 0 and "check" in result.output


def test_reference_csv_sets_integer_and_ranges(tmp_instance: Path, tmp_path: Path) -> None:
    _, x, _ = numeric_pipeline()
    frame = pd.DataFrame(x, columns=["x0", "x1", "x2"])
    reference = tmp_path / "ref.csv"
    frame.to_csv(reference, index=False)
    result = run(
        "models",
        "add",
        save(numeric_pipeline()[0], tmp_path / "n.joblib"),
        "--reference",
        reference,
    )
    assert result.exit_code == 0
    manifest = Manifest.load(tmp_instance / "models" / "n")
    assert manifest.features[0].min == frame["x0"].min()
