"""The Python API (`import isyarat`) and the `isyarat extract` verb, on small real data."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import isyarat
from isyarat.cli.main import main
from isyarat.data.table import read_table
from isyarat.runtime.smoothing import Prediction

ASL = "asl-alphabet-landmarks-graudt/raw_gestures"
SIBI = "sibi-alphabet-ajustiago/images"


def photos(datasets: Path, out: Path, letters=("A", "B"), per_letter: int = 2) -> Path:
    """A folder dataset of links to a few real SIBI photos per letter."""
    for letter in letters:
        (out / letter).mkdir(parents=True)
        for photo in sorted((datasets / SIBI / letter).glob("*.jpg"))[:per_letter]:
            (out / letter / photo.name).symlink_to(photo)
    return out


def test_import_is_cheap_and_exports_the_verbs():
    code = "import sys, isyarat; print(json.dumps([m for m in ('torch', 'numpy', 'mediapipe') if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [], "import isyarat loads no heavy library"
    assert {"train", "evaluate", "export", "Recognizer", "load_recipe"} <= set(dir(isyarat))
    assert all(callable(getattr(isyarat, name)) for name in isyarat.__all__)
    from isyarat.export import bundle  # noqa: F401  (the export package is also the export() function)

    assert callable(isyarat.export)
    with pytest.raises(AttributeError):
        isyarat.no_such_thing  # noqa: B018


def test_train_export_evaluate_recognize_from_python(datasets, tmp_path):
    """The flow of the README's Python section, on 12 real frames of each of three ASL letters."""
    data = tmp_path / "asl3"
    for letter in ("A", "B", "L"):
        (data / letter).mkdir(parents=True)
        for f in sorted((datasets / ASL / letter).glob("*.npy"))[:12]:
            shutil.copy(f, data / letter / f.name)
    recipe = isyarat.load_recipe("mlp-baseline")
    run = isyarat.train(recipe, data, tmp_path / "run", epochs=2, split="holdout:0.25",
                        overrides={"train.batch_size": 8}, quiet=True)
    info = json.loads((run / "run.json").read_text())
    assert info["recipe"]["split"] == "holdout:0.25" and info["epochs_run"] <= 2 and info["labels"] == ["A", "B", "L"]
    bundle = isyarat.export(run, tmp_path / "bundle.zip", name="asl3")
    report = isyarat.evaluate(bundle, data, tmp_path / "eval", threshold=0.0, quiet=True)
    assert report["n_samples"] == 36 and report["threshold"] == 0.0 and (tmp_path / "eval" / "report.json").is_file()
    assert report == {**isyarat.evaluate(run, data, threshold=0.0, quiet=True), "model": str(bundle)}

    recognizer = isyarat.Recognizer.load(bundle)
    try:
        folder = recognizer.predict(photos(datasets, tmp_path / "photos"))
        assert len(folder) == 4 and all(isinstance(p, Prediction) for p in folder.values())
        one = next(iter(folder))
        assert recognizer.predict(one) == folder[one]
    finally:
        recognizer.close()


def test_extract_writes_the_table_and_its_summary(datasets, tmp_path):
    data = photos(datasets, tmp_path / "photos", letters=("A", "V"))
    out = tmp_path / "out" / "sibi.parquet"
    assert main(["extract", "--data", str(data), "--out", str(out), "--workers", "1", "--cache", str(tmp_path / "cache"),
                 "--border", "0.25", "--quiet"]) == 0
    table = read_table(out)
    assert sorted(table["label"]) == ["A", "A", "V", "V"] and len(table) == 4
    assert {"left_x0", "right_z20", "sample_id", "frame"} <= set(table.columns)
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["total"]["samples"] == 4 and summary["settings"]["border"] == 0.25
    right = table[[f"right_x{i}" for i in range(21)]].to_numpy()
    left = table[[f"left_x{i}" for i in range(21)]].to_numpy()
    with_hand = int(np.sum(~np.isnan(right).all(1) | ~np.isnan(left).all(1)))
    assert summary["total"]["with_hand"] == with_hand >= 2, "the summary counts the hands the table holds"
