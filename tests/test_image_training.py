"""Image track end to end on real SIBI photos: recipe -> run dir -> evaluate, hand crops, reloading."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from isyarat.cli.main import main
from isyarat.data.layouts import load_dataset
from isyarat.data.samples import IMAGE, Sample
from isyarat.errors import IsyaratError
from isyarat.evaluation.evaluate import evaluate_model
from isyarat.evaluation.metrics import evaluate_predictions
from isyarat.export.from_run import export_run
from isyarat.export.model_input import ModelInput
from isyarat.images import build_transform, crop_image
from isyarat.landmarks.media import read_pil_image, upright_size
from isyarat.landmarks.arrays import Landmarks
from isyarat.models.registry import build_model, model_track
from isyarat.training.checkpoint import load_run, read_info
from isyarat.training.image_data import hand_box, image_dataset, image_transform_config
from isyarat.training.prepare import input_shape, prepare, torch_dataset
from isyarat.runtime.recognizer import Recognizer
from isyarat.training.recipe import load_recipe
from isyarat.training.run import train_recipe

SIBI = "sibi-alphabet-ajustiago"
LETTERS = ["A", "B", "L", "V"]
PER_GROUP = 3  # images per letter from each of two capture groups: 24 images in all
GROUPS = ["crop-2022", "phone-2022"]
WORD_VIDEO = "bisindo-words-wlbisindo/videos/Belajar/signer0_label1_sample1.mp4"
IMAGE_RECIPES = ["sibi-cnn", "efficientnet-lite0", "efficientnet-lite0-stn", "efficientnet-lite0-crop",
                 "efficientnet-b4-stn"]
# 12 training photos: a third of them for early stopping, so every letter is in the validation part
SMALL = {"train.epochs": 1, "train.val_fraction": 0.34, "image.size": 64, "split": "holdout:0.5"}
REPORT_KEYS = {"accuracy", "accuracy_detected", "macro_f1", "n_samples", "n_without_hand", "labels",
               "per_class", "confusion_matrix", "by"}


def metadata_rows(datasets: Path) -> list[dict]:
    """SIBI's metadata.csv lists 21 files twice (in both of its original splits): one row per file."""
    with open(datasets / SIBI / "metadata.csv", newline="") as f:
        return list({row["path"]: row for row in csv.DictReader(f)}.values())


def small_sibi(datasets: Path, out: Path, rows_wanted=None) -> Path:
    """A dataset folder of links to real SIBI photos (a few per letter and group) with their metadata."""
    rows = metadata_rows(datasets)
    if rows_wanted is None:
        rows_wanted = [r for letter in LETTERS for group in GROUPS
                       for r in [r for r in rows if r["label"] == letter and r["group"] == group][:PER_GROUP]]
    for row in rows_wanted:
        link = out / row["path"]
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(datasets / SIBI / row["path"])
    with open(out / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows_wanted)
    return out


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny batches gain nothing from a second thread, and on a busy 2-core machine OpenMP's
    spinning threads make each convolution many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small(datasets, tmp_path_factory) -> Path:
    return small_sibi(datasets, tmp_path_factory.mktemp("small-sibi"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("landmark-cache")


@pytest.fixture(scope="module")
def cnn_run(small, cache, tmp_path_factory) -> Path:
    recipe = load_recipe("sibi-cnn", {**SMALL, "train.epochs": 2, "image.size": 48})
    return train_recipe(recipe, small, tmp_path_factory.mktemp("runs") / "cnn", cache_dir=cache, progress=False)


@pytest.fixture(scope="module")
def lite_run(small, cache, tmp_path_factory) -> Path:
    torch.manual_seed(0)  # the new head is built before training seeds itself
    recipe = load_recipe("efficientnet-lite0", SMALL)
    return train_recipe(recipe, small, tmp_path_factory.mktemp("runs") / "lite", cache_dir=cache, progress=False)


@pytest.mark.parametrize("name", IMAGE_RECIPES)
def test_image_recipes_describe_themselves_and_build(name):
    recipe = load_recipe(name)
    assert recipe.description and recipe.reference and recipe.split
    assert model_track(recipe.model) == "image"
    size = recipe.image["size"]
    assert input_shape(recipe) == (3, size, size) == image_transform_config(recipe).input_shape
    params = dict(recipe.model_params)
    if "pretrained" in params:
        params["pretrained"] = False  # building is what is tested here, not reading ImageNet weights
    model = build_model(recipe.model, input_shape(recipe), 3, **params).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, *input_shape(recipe))).shape == (1, 3)


def test_transform_takes_the_models_normalization_unless_the_recipe_gives_one():
    lite = load_recipe("efficientnet-lite0")
    assert image_transform_config(lite).mean == pytest.approx((127 / 255,) * 3)
    assert image_transform_config(load_recipe("sibi-cnn")).mean == pytest.approx((0.485, 0.456, 0.406))
    custom = load_recipe("efficientnet-lite0", {"image.mean": [0.5, 0.5, 0.5], "image.std": [0.2, 0.2, 0.2]})
    assert image_transform_config(custom).std == (0.2, 0.2, 0.2)
    with pytest.raises(IsyaratError, match="unknown image transform option"):
        image_transform_config(load_recipe("sibi-cnn", {"image.zoom": 2}))


def test_train_writes_an_image_run_that_evaluate_reports_on(cnn_run, small, cache, tmp_path):
    info = read_info(cnn_run)
    assert info.track == "image" and info.input_shape == (3, 48, 48)
    assert info.labels == LETTERS and info.epochs_run == 2 and len(info.test_samples) == 12
    assert {"model.safetensors", "report.json", "curves.png"} <= {p.name for p in cnn_run.iterdir()}

    report = evaluate_model(cnn_run, small, tmp_path / "eval", cache_dir=cache, progress=False)
    assert REPORT_KEYS <= set(report)
    assert report["n_samples"] == 24 and report["n_without_hand"] == 0
    assert report["labels"] == LETTERS and set(report["per_class"]) == set(LETTERS)
    assert np.array(report["confusion_matrix"]).shape == (4, 5) and np.sum(report["confusion_matrix"]) == 24
    assert set(report["by"]["group"]) == set(GROUPS) and set(report["by"]["background"]) == {"crop", "varied"}
    assert all(g["n_samples"] == 12 for g in report["by"]["group"].values())
    assert (tmp_path / "eval" / "report.json").is_file()


def test_reloaded_run_predicts_what_the_trained_model_predicted(lite_run, small, datasets, cache, tmp_path):
    """evaluate (reloaded weights, exported to ONNX, run by the Recognizer) on the run's own test
    photos gives its training-time test report when no confidence threshold applies (training
    reports the best class)."""
    trained = json.loads((lite_run / "report.json").read_text())
    test_paths = {Path(p).relative_to(small).as_posix()
                  for p in read_info(lite_run).test_samples}
    rows = [r for r in metadata_rows(datasets) if r["path"] in test_paths]
    test_only = small_sibi(datasets, tmp_path / "test-only", rows)
    again = evaluate_model(lite_run, test_only, cache_dir=cache, progress=False, threshold=0.0)
    assert again["n_samples"] == trained["n_samples"] == 12
    assert again["confusion_matrix"] == trained["confusion_matrix"]
    predicted = np.array(trained["confusion_matrix"]).sum(axis=0)
    assert (predicted > 0).sum() >= 2, "the model tells letters apart, so equal matrices mean equal predictions"
    assert again["accuracy"] == trained["accuracy"]


def test_pretrained_run_reloads_without_reading_imagenet_weights(lite_run, small, cache, monkeypatch):
    def no_weights(variant):
        raise AssertionError("loading a run must not read ImageNet weights")

    monkeypatch.setattr("isyarat.models.image_models.backbones.lite_weights_file", no_weights)
    model, info = load_run(lite_run)
    reloaded, _ = load_run(lite_run)
    recipe = load_recipe("efficientnet-lite0", SMALL)
    prep = prepare(load_dataset(small), recipe, cache_dir=cache, progress=False)
    x = torch.stack([torch_dataset(prep, np.arange(4), recipe, train=False)[i][0] for i in range(4)])
    with torch.no_grad():
        assert torch.equal(model(x), reloaded(x))
        assert model(x).shape == (4, len(LETTERS))
    assert info.track == "image" and info.input_shape == (3, 64, 64)


@pytest.fixture(scope="module")
def crop_run(small, cache, tmp_path_factory) -> Path:
    """The SIBI CNN on photos cut to the hands MediaPipe finds (1 epoch: what is tested is that
    every path prepares photos alike, not how well it learns)."""
    recipe = load_recipe("sibi-cnn", {**SMALL, "image.size": 48, "image.crop_hands": True})
    return train_recipe(recipe, small, tmp_path_factory.mktemp("runs") / "crop", cache_dir=cache, progress=False)


@pytest.fixture(scope="module")
def crop_bundle(crop_run, tmp_path_factory) -> Path:
    return export_run(crop_run, tmp_path_factory.mktemp("bundles") / "crop")


def test_hand_crop_recipe_crops_around_detected_hands(small, cache, crop_run):
    recipe = load_recipe("efficientnet-lite0-crop", SMALL)
    prep = prepare(load_dataset(small), recipe, cache_dir=cache, progress=False)
    assert prep.extraction is not None, "crop_hands runs MediaPipe first"
    ds = torch_dataset(prep, np.arange(len(prep.dataset)), recipe, train=False)
    found = [s.landmarks is not None and not np.isnan(s.landmarks.hands[0]).all() for s in prep.dataset]
    assert sum(found) >= 12, "MediaPipe finds most of these hands"
    assert [box is not None for box in ds.crop_boxes] == found
    transform = build_transform(image_transform_config(recipe), train=False)
    kept = []
    for i in np.flatnonzero(found):
        sample, (x0, y0, x1, y1) = prep.dataset.samples[i], ds.crop_boxes[i]
        width, height = upright_size(sample.path)
        points = sample.landmarks.hands[0].reshape(-1, 3)
        # MediaPipe places fingers cut off by the frame outside it; the box stops at the frame.
        px, py = (np.clip(points[~np.isnan(points).any(axis=1), :2] * (width, height), 0, (width, height)).T)
        assert (px >= x0).all() and (px <= x1).all() and (py >= y0).all() and (py <= y1).all()
        kept.append((x1 - x0) * (y1 - y0) / (width * height))
        image = read_pil_image(sample.path)
        assert torch.equal(ds[i][0], transform(crop_image(image, ds.crop_boxes[i])))
        if kept[-1] < 0.8:
            assert not torch.allclose(ds[i][0], transform(image), atol=0.1), "the model sees the crop"
    assert min(kept) < 0.5, f"some photos are cut down to the hand: kept {sorted(kept)}"

    report = evaluate_model(crop_run, small, cache_dir=cache, progress=False)
    assert REPORT_KEYS <= set(report) and report["n_samples"] == 24
    trained = read_info(crop_run).extraction["settings"]
    assert report["extraction"]["settings"] == trained, "evaluate detects hands as training did"


def test_image_bundle_says_it_reads_pixels(crop_bundle, cnn_run, tmp_path):
    meta = json.loads((crop_bundle / "bundle.json").read_text())
    assert meta["input"] == {"reads": "pixels", "crop_margin": 0.25, "image": meta["input"]["image"]}
    assert meta["input"]["image"]["size"] == 48 and meta["input_shape"] == [3, 48, 48]
    plain = export_run(cnn_run, tmp_path / "plain")
    assert Recognizer.load(plain).input == ModelInput(reads="pixels", crop_margin=None,
                                                      image=ModelInput.from_dict(meta["input"]).image)
    old = json.loads((plain / "bundle.json").read_text())
    old["input"] = {"kind": "pixels", "image": {**old["input"]["image"], "size": 64}}
    (plain / "bundle.json").write_text(json.dumps(old))
    with pytest.raises(IsyaratError, match=r"image settings make \(3, 64, 64\) but the model takes \(3, 48, 48\)"):
        Recognizer.load(plain)
    old["input"] = {"kind": "pixels", "crop_margin": "wide", "image": old["input"]["image"]}
    (plain / "bundle.json").write_text(json.dumps(old))
    with pytest.raises(IsyaratError, match="crop_margin must be a number"):
        Recognizer.load(plain)


def test_image_bundle_in_the_recognizer_predicts_what_training_evaluated(crop_run, crop_bundle, small, cache,
                                                                        datasets):
    """The Recognizer (fresh hand detection, crop, eval transform, ONNX) gives each photo the
    probabilities the trained PyTorch model gave it through training's evaluation dataset."""
    model, info = load_run(crop_run)
    recipe = info.recipe_config()
    prep = prepare(load_dataset(small), recipe, labels=info.labels, cache_dir=cache, progress=False)
    ds = torch_dataset(prep, np.arange(len(prep.dataset)), recipe, train=False)
    assert sum(box is not None for box in ds.crop_boxes) >= 12, "most photos are cropped"
    with torch.no_grad():
        expected = torch.softmax(model(torch.stack([ds[i][0] for i in range(len(ds))])), 1).numpy()
    recognizer = Recognizer.load(crop_bundle, threshold=0.0)
    try:
        for i, sample in enumerate(prep.dataset.samples):
            got = recognizer.predict_image(sample.path)
            assert np.allclose([got.probabilities[k] for k in recognizer.labels], expected[i], atol=1e-4), sample.path
        folder = recognizer.predict(small / "images" / "B")
        assert len(folder) == 2 * PER_GROUP and all(p.label in LETTERS for p in folder.values())
        with pytest.raises(IsyaratError, match="reads photos"):
            recognizer.stream().push_landmarks(np.full((2, 21, 3), 0.5, np.float32))
        clip = recognizer.predict_video(datasets / WORD_VIDEO, max_frames=6)  # frames of a video, as the webcam
        assert len(clip.frames) == 6 and clip.label in LETTERS and len(clip.probabilities) == len(LETTERS)
    finally:
        recognizer.close()


def test_image_bundle_in_isyarat_recognize(crop_bundle, small, capsys):
    photo = sorted((small / "images" / "V").rglob("*.jpg"))[0]
    assert main(["recognize", str(photo), "--model", str(crop_bundle), "--threshold", "0", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["media"] == "image" and line["label"] in LETTERS and len(line["top"]) == 3


def test_image_bundle_served_by_rest_and_refused_by_the_live_socket(crop_bundle, small, tmp_path):
    from fastapi.testclient import TestClient

    from isyarat.server.app import create_app

    client = TestClient(create_app([crop_bundle], data_dir=tmp_path, allowed_hosts=["testserver"]))
    photo = sorted((small / "images" / "L").rglob("*.jpg"))[0]
    reply = client.post("/api/predict/image", files={"file": (photo.name, photo.read_bytes(), "image/jpeg")})
    assert reply.status_code == 200 and reply.json()["model"] == "sibi-cnn"
    assert reply.json()["label"] in LETTERS + [None] and set(reply.json()["probabilities"]) == set(LETTERS)
    assert client.get("/api/models").json()[0]["input"] == "pixels"
    with client.websocket_connect("/ws/sibi-cnn") as ws:
        assert "reads photos" in ws.receive_json()["error"]


def predicted_labels(recognizer: Recognizer, files: list[Path]) -> list[str | None]:
    labels = []
    for path in files:
        labels.append(recognizer.predict_image(path).label)
    return labels


@pytest.mark.parametrize("model", ["crop", "sibi-letters"])
def test_evaluate_and_recognize_agree(model, crop_bundle, small, cache):
    """`isyarat evaluate` scores exactly the answers `recognize` gives, photo by photo: an image
    bundle (pixels, hand crop) and the shipped landmark model, at the same threshold."""
    bundle = crop_bundle if model == "crop" else model
    report = evaluate_model(bundle, small, cache_dir=cache, progress=False, threshold=0.3)
    dataset = load_dataset(small)
    recognizer = Recognizer.load(bundle, threshold=0.3)
    try:
        answers = predicted_labels(recognizer, [s.path for s in dataset.samples])
    finally:
        recognizer.close()
    by_hand = evaluate_predictions([s.label for s in dataset.samples], answers, recognizer.labels)
    assert report["n_samples"] == len(answers) == 24
    assert report["confusion_matrix"] == by_hand["confusion_matrix"] and report["accuracy"] == by_hand["accuracy"]
    assert report["threshold"] == 0.3


def test_hand_box_falls_back_to_the_whole_image_and_needs_landmarks(datasets):
    """Mechanism: a sample whose landmarks say "no hand" (all NaN) and one never extracted."""
    path = sorted((datasets / SIBI / "images" / "B").glob("*.jpg"))[0]
    no_hand = Sample("B", path, IMAGE, landmarks=Landmarks(hands=np.full((1, 2, 21, 3), np.nan, np.float32)))
    assert hand_box(no_hand, 0.25) is None
    recipe = load_recipe("efficientnet-lite0-crop", {"image.size": 64})
    assert image_dataset([no_hand], [0], recipe, train=False).crop_boxes == [None]
    with pytest.raises(IsyaratError, match="crop_hands needs the sample's hand landmarks"):
        image_dataset([Sample("B", path, IMAGE)], [0], recipe, train=False)
    with pytest.raises(IsyaratError, match="crop_margin"):
        image_dataset([no_hand], [0], load_recipe("efficientnet-lite0-crop", {"image.crop_margin": -1}), train=True)
