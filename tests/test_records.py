"""run.json and bundle.json are typed records (RunInfo, BundleInfo): read and written in one place,
older files (the shipped bundles, runs saved with `kind`) still load, bad values are one line,
and `build_model_for` rebuilds a record's model with its z-score layer."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from isyarat.errors import IsyaratError
from isyarat.export.bundle_info import BundleInfo
from isyarat.models.spec import ModelSpec, build_model_for
from isyarat.models.standardize import Standardize
from isyarat.shipped_models import SHIPPED_DIR
from isyarat.training.recipe import load_recipe
from isyarat.training.run_info import RunInfo, planned_run

SHIPPED = sorted(SHIPPED_DIR.glob("*/bundle.json"))
LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_shipped_bundle_records_load_and_round_trip(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    old = "kind" in raw["model"]  # written before the records had their own names for it
    info = BundleInfo.from_dict(raw)
    assert info.track == raw["model"]["kind" if old else "track"] == "landmarks"
    assert info.features.shape == raw["features"]["kind" if old else "shape"]
    assert info.labels == raw["labels"] and info.input_shape == tuple(raw["input_shape"])
    assert BundleInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def _bundle_dict() -> dict:
    return BundleInfo.from_dict(json.loads(SHIPPED[0].read_text(encoding="utf-8"))).to_dict()


@pytest.mark.parametrize("change, message", [
    ({"labels": []}, "'labels' must be a non-empty list"),
    ({"input_shape": [0]}, "'input_shape' must be a list of positive integers"),
    ({"input_shape": [10 ** 9]}, "claims more than"),
    ({"extract": {"border": 9.0}}, "border=9.0 is out of range"),
    ({"extract": {"zoom": 2}}, "bad 'extract' settings"),
    ({"features": {"kind": "video"}}, "features.shape is 'video'"),
    ({"model": {"name": "mlp", "track": "audio"}}, "model track 'audio'"),
    ({"metrics": "good"}, "bundle.json.metrics is 'good'"),
    ({"colour": "red"}, "unknown setting(s) colour"),
])
def test_bad_bundle_records_are_one_line(change, message):
    with pytest.raises(IsyaratError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BundleInfo.from_dict({**_bundle_dict(), **change})


def test_bundle_record_without_created_or_name_is_refused():
    data = _bundle_dict()
    del data["created"]
    with pytest.raises(IsyaratError, match="lacks created"):
        BundleInfo.from_dict(data)


def test_run_record_round_trips_and_reads_the_old_keys():
    recipe = load_recipe("isyarat-letters")
    info = planned_run(recipe, LETTERS[:5], data=["somewhere"], n_train=10, metrics={"accuracy": 0.5})
    assert info.track == "landmarks" and info.input_shape == recipe.features.output_shape
    saved = json.loads(json.dumps(info.to_dict()))
    assert RunInfo.from_dict(saved) == info
    old = {**saved, "kind": saved["model"]["track"], "model": {"name": recipe.model, "params": recipe.model_params},
           "features": {("kind" if k == "shape" else k): v for k, v in saved["features"].items()}}
    assert RunInfo.from_dict(old) == info
    with pytest.raises(IsyaratError, match="unknown setting"):
        RunInfo.from_dict({**saved, "extra": 1})
    with pytest.raises(IsyaratError, match="feature settings give inputs"):
        RunInfo.from_dict({**saved, "input_shape": [5]})
    with pytest.raises(IsyaratError, match="isyarat-run/1"):
        RunInfo.from_dict({**saved, "format": "other/2"})


def test_build_model_for_adds_the_zscore_layer_only_when_the_features_use_it():
    zscored = load_recipe("isyarat-letters")
    assert zscored.features.zscore
    model = build_model_for(planned_run(zscored, LETTERS))
    assert isinstance(model[0], Standardize)
    plain = load_recipe("mlp-baseline")
    assert not plain.features.zscore
    assert not any(isinstance(m, Standardize) for m in build_model_for(planned_run(plain, LETTERS)).modules())


def test_realtime_bench_times_the_model_with_its_zscore_layer(realtime_bench):
    recipe, model = realtime_bench.build_untrained("isyarat-letters")
    assert recipe.features.zscore and isinstance(model[0], Standardize)


def test_model_spec_reads_kind_as_track():
    assert ModelSpec.from_dict({"name": "sibi_cnn", "kind": "image"}).track == "image"
    with pytest.raises(IsyaratError, match="model: needs name"):
        ModelSpec.from_dict({"params": {}})


def test_the_page_draws_the_python_hand_skeleton():
    """camera.js CONNECTIONS are the bones of landmarks.arrays.HAND_BONES (order aside)."""
    import re

    from isyarat.landmarks.arrays import HAND_BONES

    js = (Path(__file__).resolve().parents[1] / "src/isyarat/server/static/camera.js").read_text()
    block = re.search(r"const CONNECTIONS = \[(.*?)\];", js, re.S).group(1)
    drawn = {frozenset(map(int, pair)) for pair in re.findall(r"\[(\d+),\s*(\d+)\]", block)}
    assert drawn == {frozenset(bone) for bone in HAND_BONES} and len(HAND_BONES) == 21


def test_recognize_and_train_read_the_same_files(datasets, tmp_path):
    """One set of extensions: every photo and video `recognize dir/` reads, `train --data dir/`
    reads too (.webp and .bmp photos included), and both leave other files alone."""
    from PIL import Image

    from isyarat.data.layouts import load_dataset
    from isyarat.runtime.inputs import list_inputs

    photos = sorted((datasets / "sibi-alphabet-ajustiago" / "images" / "A").glob("*.jpg"))[:3]
    (tmp_path / "A").mkdir()
    for photo, suffix in zip(photos, (".jpg", ".webp", ".BMP")):
        Image.open(photo).convert("RGB").save(tmp_path / "A" / f"{photo.stem}{suffix}")
    (tmp_path / "A" / "notes.txt").write_text("not a photo")
    read_by_train = {s.path.resolve() for s in load_dataset(tmp_path).samples}
    read_by_recognize = {p.resolve() for p in list_inputs(tmp_path)}
    assert read_by_train == read_by_recognize and len(read_by_train) == 3


def test_every_package_the_code_imports_is_declared():
    """pyproject.toml names each third-party package that src/ imports (ray as the `ray` extra)."""
    import ast
    import importlib.metadata
    import re
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    names = [*project["dependencies"], *project["optional-dependencies"]["ray"]]
    declared = {re.sub(r"[-_.]+", "-", re.split(r"[<>=\[ ;]", n)[0]).lower() for n in names}
    distributions = importlib.metadata.packages_distributions()
    missing = set()
    for path in (root / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for top in {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names) - {"isyarat"}:
                dists = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(top, [top])}
                if not dists & declared:
                    missing.add(f"{top} ({path.relative_to(root)})")
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"


def test_the_detector_follows_the_features_at_training_and_at_run_time():
    """One rule: Holistic when the features read the pose (kolok-lstm), Hands otherwise; a recipe
    whose extract.mode disagrees is refused."""
    from isyarat.training.prepare import extract_settings
    from isyarat.training.recipe import recipe_from_dict

    assert extract_settings(load_recipe("kolok-lstm")).mode == "holistic"
    assert extract_settings(load_recipe("isyarat-words")).mode == "hands"
    with pytest.raises(IsyaratError, match="extract.mode hands does not fit features.pose True"):
        recipe_from_dict({"model": "kolok_lstm", "features": {"shape": "sequence", "frames": 30, "hands": "two",
                                                             "pose": True}, "extract": {"mode": "hands"}})
    bundle = BundleInfo.from_dict(_bundle_dict())
    assert bundle.extract.for_model(pose=True).mode == "holistic"
    assert bundle.extract.for_model(pose=False) == bundle.extract
