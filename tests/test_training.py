"""Training, checkpoints, evaluation and export end to end on the real ASL landmark frames.

Runs are kept small (a few samples per letter, a few epochs): these tests check the plumbing and
the files a user gets, not accuracy (bench/accuracy.py measures that)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import pytest

from isyarat.cli.main import main
from isyarat.data.combine import balanced_subset, load_datasets, source_relative
from isyarat.data.layouts import load_dataset
from isyarat.errors import IsyaratError
from isyarat.evaluation.evaluate import evaluate_model
from isyarat.export.bundle import load_bundle
from isyarat.export.from_run import export_run
from isyarat.features.augment import AugmentConfig
from isyarat.landmarks.settings import ExtractSettings
from isyarat.models.registry import build_model, model_track
from isyarat.training.checkpoint import load_run
from isyarat.training.landmark_data import LandmarkFeatureDataset
from isyarat.training.prepare import input_shape, make_splits, prepare
from isyarat.training.recipe import list_recipes, load_recipe, recipe_from_dict

ASL = "asl-alphabet-landmarks-graudt"
REPORT_KEYS = {"accuracy", "accuracy_detected", "macro_f1", "n_samples", "n_without_hand", "labels",
               "per_class", "confusion_matrix", "by"}


@pytest.fixture(scope="module")
def asl_subset(datasets, tmp_path_factory) -> Path:
    """Five letters, 40 frames each, copied as a small .npy folder dataset with a metadata.csv
    that splits each letter's frames into two capture 'sessions' (first and second half)."""
    root = tmp_path_factory.mktemp("data") / "asl5"
    rows = ["path,label,session"]
    for letter in ("A", "B", "L", "V", "Y"):
        files = sorted((datasets / ASL / "raw_gestures" / letter).glob("*.npy"), key=lambda p: int(p.stem[6:]))
        (root / letter).mkdir(parents=True)
        for i, f in enumerate(files[::len(files) // 40][:40]):
            shutil.copy(f, root / letter / f.name)
            rows.append(f"{letter}/{f.name},{letter},{'s1' if i < 20 else 's2'}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def trained_run(asl_subset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "letters"
    code = main(["train", "isyarat-letters", "--data", str(asl_subset), "--out", str(out), "--epochs", "8",
                 "--set", "augment.copies=2", "--compare", "group:session", "--quiet"])
    assert code == 0
    return out


def test_every_shipped_recipe_loads_and_builds_its_model():
    names = list_recipes()
    assert {"mlp-baseline", "sibi-lstm", "bisindo-gnn", "kolok-lstm", "kolok-lstm3", "isyarat-letters",
            "isyarat-words"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.description and recipe.train.lr > 0, name
        if model_track(recipe.model) == "landmarks":
            model = build_model(recipe.model, input_shape(recipe), 26, **recipe.model_params)
            assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("raw, message", [
    ({"name": "x"}, "needs 'model'"),
    ({"name": "x", "model": "mlp", "colour": "red"}, "unknown setting\\(s\\) colour"),
    ({"name": "x", "model": "mlp", "split": "random"}, "split .random. is not usable"),
    ({"name": "x", "model": "mlp", "train": {"optimizer": "adagrad"}}, "optimizer"),
    ({"name": "x", "model": "mlp", "features": {"kind": "video"}}, "features.shape"),
    ({"name": "x", "model": "mlp", "augment": {"rotate_deg": -5}}, "augment"),
])
def test_bad_recipes_are_refused_with_the_reason(raw, message):
    with pytest.raises(IsyaratError, match=message):
        recipe_from_dict(raw)


def test_paper_recipes_follow_the_papers():
    sibi, kolok, gnn = load_recipe("sibi-lstm"), load_recipe("kolok-lstm"), load_recipe("bisindo-gnn")
    # the study's 63 wrist-relative values, the wrist's path (4: without it J and Z lose their
    # motion, issue 13) and the frame mask
    assert (sibi.features.frames, sibi.features.output_shape) == (50, (50, 63 + 4 + 1))
    assert sibi.features.zscore and sibi.split == "holdout:0.3"
    # the study's 258 values per frame, plus two hand-present flags and the frame mask
    assert kolok.features.output_shape == (30, 258 + 2 + 1) and kolok.features.pose
    assert load_recipe("kolok-lstm3").model_params["layers"] == 3
    assert gnn.features.shape == "graph" and gnn.model_params == {} and gnn.features.hands == "two"
    for recipe in (sibi, kolok, gnn):
        assert recipe.train.lr == 0.001 and recipe.train.batch_size == 32 and recipe.train.patience == 15


def test_train_writes_a_complete_run(trained_run):
    info = json.loads((trained_run / "run.json").read_text())
    report = json.loads((trained_run / "report.json").read_text())
    assert REPORT_KEYS <= set(report)
    assert info["labels"] == ["A", "B", "L", "V", "Y"] and info["epochs_run"] <= 8
    assert info["train_seconds"] > 0 and len(info["history"]) == info["epochs_run"]
    assert info["n_train"] + len(info["held_out"]) == 200
    assert all(h["path"].startswith("asl5") for h in info["held_out"])
    # the group split was cross-validated beside the random test split, one fold per session
    assert info["protocols"]["group:session"]["n_folds"] == 2
    assert set(report["by"]["session"]) == {"s1", "s2"}
    markdown = (trained_run / "report.md").read_text()
    assert "## Splits compared" in markdown and "group:session" in markdown
    for png in ("curves.png", "confusion_matrix.png"):
        assert (trained_run / png).read_bytes()[:4] == b"\x89PNG"


def test_checkpoint_reloads_and_refuses_edited_settings(trained_run, tmp_path):
    model, info = load_run(trained_run)
    assert info.labels == ["A", "B", "L", "V", "Y"]
    edited = tmp_path / "edited"
    shutil.copytree(trained_run, edited)
    data = json.loads((edited / "run.json").read_text())
    data["features"]["angles"] = False
    (edited / "run.json").write_text(json.dumps(data))
    with pytest.raises(IsyaratError, match="feature settings"):
        load_run(edited)
    (edited / "run.json").write_text(json.dumps({**data, "features": info.features.to_dict(),
                                                 "model": {"name": "resmlp", "params": {"dim": 64}}}))
    with pytest.raises(IsyaratError, match="weights do not match"):
        load_run(edited)


def test_weights_are_safetensors_not_pickles(trained_run):
    head = (trained_run / "model.safetensors").read_bytes()[:8]
    header_length = int.from_bytes(head, "little")
    header = json.loads((trained_run / "model.safetensors").read_bytes()[8:8 + header_length])
    assert all("dtype" in v for k, v in header.items() if k != "__metadata__")


def test_evaluate_any_dataset_and_export(trained_run, asl_subset, tmp_path):
    report = evaluate_model(trained_run, asl_subset, tmp_path / "eval", progress=False)
    assert REPORT_KEYS <= set(report) and report["n_samples"] == 200
    assert report["accuracy"] > 0.5  # mostly the frames it trained on: a plumbing check, not a score
    assert (tmp_path / "eval" / "report.md").is_file()
    bundle = load_bundle(export_run(trained_run, tmp_path / "bundle"))
    assert bundle.labels == ["A", "B", "L", "V", "Y"]
    assert bundle.extract == ExtractSettings(**load_recipe("isyarat-letters").extract)
    assert bundle.details["protocols"]["group:session"]["n_folds"] == 2
    assert len(bundle.details["held_out"]) == 200 - json.loads((trained_run / "run.json").read_text())["n_train"]
    assert "group:session" in bundle.card and "## Training data" in bundle.card
    again = evaluate_model(tmp_path / "bundle", asl_subset, progress=False)
    assert again["accuracy"] == pytest.approx(report["accuracy"])


def test_evaluate_refuses_a_corrupt_model_and_unknown_labels(trained_run, datasets, tmp_path):
    unknown = tmp_path / "unknown-letters"  # three real frames, two of letters the model never saw
    for letter in ("A", "C", "D"):
        (unknown / letter).mkdir(parents=True)
        shutil.copy(datasets / ASL / "raw_gestures" / letter / "frame_0.npy", unknown / letter / "frame_0.npy")
    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    result = subprocess.run([sys.executable, "-m", "isyarat.cli.main", "evaluate", "--model", str(broken),
                             "--data", str(unknown), "--out", str(tmp_path / "e")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unreadable weights" in result.stderr and result.stderr.strip().count("\n") == 0
    with pytest.raises(IsyaratError, match="labels the model does not know: C, D"):
        evaluate_model(trained_run, unknown, progress=False)


def test_combined_sources_are_tagged_and_balanced(asl_subset, datasets):
    both = load_datasets([asl_subset, datasets / "bisindo-alphabet-binus"])
    assert {s.metadata["source"] for s in both} == {"asl5", "bisindo-alphabet-binus"}
    assert both.media == "mixed"
    assert len(balanced_subset(both, 3)) == 5 * 3 + 26 * 3
    assert source_relative(datasets / ASL / "raw_gestures/A/frame_0.npy", [asl_subset, datasets / ASL]) == \
        f"{ASL}/raw_gestures/A/frame_0.npy"


def test_group_split_keeps_samples_without_a_group_in_training(asl_subset):
    """An added source without the group column trains in every fold and is never tested."""
    prep = prepare(load_dataset(asl_subset), load_recipe("mlp-baseline"), progress=False)
    prep.dataset.samples[0].metadata.pop("session")
    folds = make_splits(prep, "group:session")
    assert len(folds) == 2
    for train, test in folds:
        assert 0 in train and 0 not in test
        assert len(train) + len(test) == 200


def test_augmented_copies_change_every_epoch(asl_subset):
    lms = [s.landmarks for s in load_dataset(asl_subset).samples[:10]]
    recipe = load_recipe("isyarat-letters")
    ds = LandmarkFeatureDataset(lms, list(range(10)), recipe.features, AugmentConfig(copies=3), seed=0)
    passes = [ds.next_pass().clone() for _ in range(4)]
    assert passes[0].shape == (10, *recipe.features.output_shape)
    assert not np.allclose(passes[0], passes[1]) and not np.allclose(passes[1], passes[2])
    assert np.allclose(passes[3], passes[0])  # the fourth epoch reuses the first version


def test_training_is_reproducible(asl_subset):
    """Same recipe, same data, same seed: the same weights (initial weights included)."""
    recipe = load_recipe("isyarat-letters", {"train.epochs": 3, "augment.copies": 2})
    prep = prepare(load_dataset(asl_subset), recipe, progress=False)
    from isyarat.training.run import train_fold

    some = np.arange(0, len(prep.dataset), 4)  # 50 frames, 10 of each letter: enough to compare weights
    first, _, _ = train_fold(prep, some, recipe, progress=False)
    second, _, _ = train_fold(prep, some, recipe, progress=False)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name


def test_zscore_recipe_standardizes_inside_the_model(asl_subset, tmp_path):
    """sibi-lstm z-scores its inputs: the statistics are fitted on training data and saved in the run."""
    out = tmp_path / "sibi-lstm"
    assert main(["train", "sibi-lstm", "--data", str(asl_subset), "--out", str(out), "--epochs", "2",
                 "--set", "augment.copies=1", "--quiet"]) == 0
    model, info = load_run(out)
    standardize = model[0]
    assert standardize.mean.abs().sum() > 0 and not torch.allclose(standardize.std, torch.ones_like(standardize.std))
    assert info.features.zscore


def test_init_from_starts_from_a_run_and_gives_a_new_head(trained_run, asl_subset, tmp_path):
    """init_from loads every matching tensor of a run; with another class count the head starts
    fresh (reported), and weights of another shape are refused with the reason."""
    from isyarat.training.checkpoint import init_weights

    source, info = load_run(trained_run)
    source_state = {k[2:] if info.features.zscore else k: v for k, v in source.state_dict().items()
                    if not info.features.zscore or k.startswith("1.")}
    recipe = load_recipe("isyarat-letters", {"exclude_labels": ["Y"]})
    model = build_model(recipe.model, input_shape(recipe), 4, **recipe.model_params)
    report = init_weights(model, trained_run)
    head = sorted(k for k, v in source_state.items() if v.shape[0] == 5 and model.state_dict()[k].shape[0] == 4)
    assert head and report["skipped"] == head and report["loaded"] == len(source_state) - len(head)
    for name, tensor in model.state_dict().items():
        if name not in head:
            assert torch.equal(tensor, source_state[name]), name

    other = load_recipe("isyarat-letters", {"features.angles": not recipe.features.angles})
    with pytest.raises(IsyaratError, match="do not fit this model"):
        init_weights(build_model(other.model, input_shape(other), 5, **other.model_params), trained_run)

    out = tmp_path / "from-run"
    assert main(["train", "isyarat-letters", "--data", str(asl_subset), "--out", str(out), "--epochs", "1",
                 "--set", f"init_from={trained_run}", "--set", "exclude_labels=[Y]", "--quiet"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["init_from"]["skipped"] == head and run["labels"] == ["A", "B", "L", "V"]


def test_recipe_extends_merges_sections_and_detects_loops(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("name: base\nmodel: mlp\ntrain: {lr: 0.01, epochs: 7}\nsplit: kfold:3\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {base}\nname: child\ntrain: {{epochs: 2}}\n")
    recipe = load_recipe(child)
    assert (recipe.name, recipe.model, recipe.split) == ("child", "mlp", "kfold:3")
    assert (recipe.train.lr, recipe.train.epochs) == (0.01, 2), "a section is merged key by key"
    shipped = tmp_path / "shipped-child.yaml"
    shipped.write_text("extends: isyarat-letters\nname: mine\ntrain: {epochs: 1}\n")
    assert load_recipe(shipped).model == load_recipe("isyarat-letters").model
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(f"extends: {b}\nname: a\n")
    b.write_text(f"extends: {a}\nname: b\nmodel: mlp\n")
    with pytest.raises(IsyaratError, match="loops back"):
        load_recipe(a)
    with pytest.raises(IsyaratError, match="no recipe 'missing-base'"):
        (tmp_path / "c.yaml").write_text("extends: missing-base\nname: c\n")
        load_recipe(tmp_path / "c.yaml")


def test_group_split_early_stops_on_held_out_groups(asl_subset):
    """Under group:COLUMN the validation part is whole groups the fit part does not hold (samples
    without a group stay in the fit part); other splits carve a random part."""
    from isyarat.training.run import early_stopping_split

    recipe = load_recipe("mlp-baseline")
    prep = prepare(load_dataset(asl_subset), recipe, progress=False)
    for i, sample in enumerate(prep.dataset.samples):
        sample.metadata["session"] = f"s{(i % 40) // 10}"  # four sessions of every letter
    del prep.dataset.samples[0].metadata["session"]
    train = np.arange(len(prep.dataset))
    fit, val = early_stopping_split(prep, train, recipe, "group:session")
    session = [s.metadata.get("session") for s in prep.dataset.samples]
    assert {session[i] for i in val} and not {session[i] for i in val} & {session[i] for i in fit}
    assert 0 in fit and len(fit) + len(val) == len(train)
    fit, val = early_stopping_split(prep, train, recipe, "kfold:5")
    assert {session[i] for i in val} & {session[i] for i in fit}, "a random part mixes sessions"


@pytest.mark.parametrize("bad", ["kfold:1", "holdout:2", "group:", "random", "kfold:x"])
def test_recipe_compare_and_sweep_parse_splits_alike(bad):
    from isyarat.training.recipe import with_compare
    from isyarat.training.sweep import check_protocol

    messages = []
    for attempt in (lambda: recipe_from_dict({"model": "mlp", "split": bad}),
                    lambda: with_compare(load_recipe("mlp-baseline"), [bad]),
                    lambda: check_protocol(bad)):
        with pytest.raises(IsyaratError) as err:
            attempt()
        messages.append(str(err.value).split(f"'{bad}'", 1)[1])
    assert len(set(messages)) == 1 and "kfold:5" in messages[0]


def test_a_group_split_on_a_missing_column_stops_before_extraction(asl_subset, tmp_path, monkeypatch):
    import isyarat.training.run as run_module

    def no_extraction(*args, **kwargs):
        raise AssertionError("extraction started")

    monkeypatch.setattr(run_module, "prepare", no_extraction)
    recipe = load_recipe("mlp-baseline", {"compare": ["group:signer"]})
    with pytest.raises(IsyaratError, match="no 'signer' metadata"):
        run_module.train_recipe(recipe, asl_subset, tmp_path / "run", progress=False)
