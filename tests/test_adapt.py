"""`isyarat adapt` on real photos: a small BISINDO letter bundle (resmlp, trained here on five
letters) learns a sixth letter from five photos, keeps the five it knew, and the adapted bundle
loads and runs like any other. Every score is on photos neither the base model nor the
adaptation saw. Bad input is one line and writes nothing."""
from __future__ import annotations

import json
import subprocess
import sys
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from isyarat.adaptation import AdaptationRecord, FitSettings, adapt_bundle, adapt_model
from isyarat.cli.main import main
from isyarat.data.samples import IMAGE, Dataset, Sample
from isyarat.errors import IsyaratError
from isyarat.export.bundle import load_bundle, write_bundle
from isyarat.features import FeatureConfig, make_features
from isyarat.landmarks.extract import extract_dataset
from isyarat.landmarks.settings import ExtractSettings
from isyarat.models.registry import build_model
from isyarat.models.standardize import standardized
from isyarat.runtime.recognizer import Recognizer

PHOTOS = "bisindo-alphabet-binus/images"
OLD, NEW = ["A", "B", "C", "D", "E"], "V"
N_TRAIN, N_TEST, N_ADAPT = 8, 4, 5
FEATURES = FeatureConfig(shape="frame", hands="two", normalize="wrist", angles=True, distances=True, zscore=True)
EXTRACT = {"border": 0.25, "fallback_border": 1.0, "min_detection_confidence": 0.3}


def photos(datasets: Path, letter: str) -> list[Path]:
    return sorted((datasets / PHOTOS / letter).glob("*.jpg"))


def landmarks(paths: list[Path], labels: list[str]) -> list[tuple[str, object]]:
    """(label, landmarks) of the photos where a hand was found, through the landmark cache."""
    dataset = Dataset(Path("."), "images", [Sample(label, p, IMAGE) for p, label in zip(paths, labels)])
    found = extract_dataset(dataset, ExtractSettings(**EXTRACT), progress=False).dataset
    return [(s.label, s.landmarks) for s in found if s.landmarks.has_hand()]


@pytest.fixture(scope="module")
def split(datasets) -> dict[str, list]:
    """Train and test photos of the old letters; adaptation and test photos of the new one."""
    parts = {"train": [], "test": [], "adapt": [], "new_test": []}
    for letter in OLD:
        files = photos(datasets, letter)
        parts["train"] += [(f, letter) for f in files[:N_TRAIN]]
        parts["test"] += [(f, letter) for f in files[N_TRAIN:N_TRAIN + N_TEST]]
    files = photos(datasets, NEW)
    parts["adapt"] = [(f, NEW) for f in files[:N_ADAPT]]
    parts["new_test"] = [(f, NEW) for f in files[N_ADAPT:N_ADAPT + 6]]
    return parts


@pytest.fixture(scope="module")
def base(split, tmp_path_factory) -> Path:
    """A resmlp (the shipped letter architecture, smaller) on the old letters, as a bundle."""
    train = landmarks(*zip(*split["train"]))
    x = torch.tensor(np.stack([make_features(lm, FEATURES) for _, lm in train]))
    y = torch.tensor([OLD.index(label) for label, _ in train])
    torch.manual_seed(0)
    model = standardized(build_model("resmlp", FEATURES.output_shape, len(OLD), dim=64, blocks=1, dropout=0.1),
                         FEATURES.output_shape)
    model[0].fit(x)
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    out = tmp_path_factory.mktemp("base") / "bisindo-five"
    return write_bundle(model.eval(), FEATURES.output_shape, OLD, FEATURES.to_dict(), "bisindo", out, "bisindo-five",
                        {"name": "resmlp", "params": {"dim": 64, "blocks": 1}}, {"accuracy": None},
                        "# bisindo-five\nTrained in tests/test_adapt.py on five letters of bisindo-alphabet-binus (MIT).\n",
                        extract=EXTRACT)


@pytest.fixture(scope="module")
def my_samples(split, tmp_path_factory) -> Path:
    """The new signer's folder: <label>/*.jpg, as a user would make it."""
    root = tmp_path_factory.mktemp("user") / "my_letters"
    for path, label in split["adapt"]:
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / path.name).symlink_to(path)
    return root


@pytest.fixture(scope="module")
def adapted(base, my_samples, tmp_path_factory) -> Path:
    out, record = adapt_bundle(base, my_samples, tmp_path_factory.mktemp("adapted") / "bisindo-me")
    assert record.new_labels == [NEW] and record.samples == {NEW: N_ADAPT}
    return out


def correct(recognizer: Recognizer, samples: list[tuple[str, object]]) -> int:
    return sum(recognizer.predict_landmarks(lm).label == label for label, lm in samples)


def test_a_new_letter_is_learned_and_the_old_ones_kept(base, adapted, split):
    before, after = Recognizer.load(base, threshold=0.0), Recognizer.load(adapted, threshold=0.0)
    assert after.labels == [*OLD, NEW]
    new_test = landmarks(*zip(*split["new_test"]))
    old_test = landmarks(*zip(*split["test"]))
    assert len(new_test) >= 5 and len(old_test) >= 4 * len(OLD)
    assert correct(before, new_test) == 0  # it cannot know V
    assert correct(after, new_test) >= len(new_test) - 1, "the adapted bundle does not recognize the new letter"
    kept, was = correct(after, old_test), correct(before, old_test)
    print(f"old letters: {was} -> {kept} of {len(old_test)}; new letter {correct(after, new_test)} of {len(new_test)}")
    assert was >= len(old_test) - 2 and kept >= was - 1, "adapting forgot letters the user did not record"


def test_the_adapted_bundle_loads_and_runs_everywhere(adapted, split, capsys):
    bundle = load_bundle(adapted)
    record = AdaptationRecord.from_dict(bundle.details["adaptation"])
    assert record.base == "bisindo-five" and record.new_labels == [NEW] and bundle.name == "bisindo-five-adapted"
    assert "## Adapted to one signer" in bundle.card and bundle.card.startswith("# bisindo-five-adapted")
    photo = split["new_test"][0][0]
    assert main(["recognize", str(photo), "--model", str(adapted), "--json"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["label"] == Recognizer.load(adapted).predict_image(photo).label == NEW


def test_a_variant_label_is_a_new_class_and_cli_writes_a_zip(base, split, tmp_path, capsys):
    """Five photos of V labelled as a variant of A (`A~2`): one more class, via the CLI, into a .zip."""
    root = tmp_path / "variant"
    (root / "A~2").mkdir(parents=True)
    for path, _ in split["adapt"]:
        (root / "A~2" / path.name).symlink_to(path)
    code = main(["adapt", str(base), "--data", str(root), "--out", str(tmp_path / "me.zip"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "new classes: A~2" in out
    recognizer = Recognizer.load(tmp_path / "me.zip")
    assert recognizer.labels == [*OLD, "A~2"]
    read = recognizer.predict_image(split["new_test"][1][0])
    assert (read.label, read.variant) == ("A", "A~2")  # a variant is read as its sign, its form kept


def test_adapt_model_in_memory_matches_the_written_bundle(base, split):
    samples = landmarks(*zip(*split["adapt"]))
    bundle = load_bundle(base)
    first = adapt_model(bundle, [lm for _, lm in samples], [label for label, _ in samples])
    again = adapt_model(bundle, [lm for _, lm in samples], [label for label, _ in samples])
    assert first.model == again.model, "adaptation should be deterministic"
    proto = adapt_model(bundle, [lm for _, lm in samples], [label for label, _ in samples], FitSettings(method="prototype"))
    assert proto.labels == first.labels == [*OLD, NEW]


# ---- fine-tuning the last layers (method layers, chosen by auto when every sign is recorded) ---------

def test_the_onnx_graph_run_by_torch_gives_onnxruntime_answers(base, split):
    import onnx
    import onnxruntime as ort

    from isyarat.adaptation.graph import TorchGraph
    from isyarat.export.bundle import read_model_bytes

    model = onnx.load_from_string(read_model_bytes(base))
    x = np.stack([make_features(lm, FEATURES) for _, lm in landmarks(*zip(*split["test"]))]).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    got = TorchGraph(model)(torch.from_numpy(x))[model.graph.output[0].name].detach().numpy()
    assert np.allclose(got, expected, atol=1e-4)


def test_a_graph_with_other_ops_is_refused_in_one_line():
    import onnx
    from onnx import TensorProto, helper

    from isyarat.adaptation.graph import TorchGraph

    graph = helper.make_graph([helper.make_node("Softmax", ["x"], ["logits"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])])
    with pytest.raises(IsyaratError, match="uses Softmax, which adaptation cannot fine-tune"):
        TorchGraph(helper.make_model(graph))


def test_auto_fine_tunes_layers_only_when_every_sign_is_recorded():
    assert FitSettings(method="auto").resolved(OLD, set(OLD) | {NEW}).method == "layers"
    assert FitSettings(method="auto").resolved(OLD, {NEW, "A"}).method == "shared"
    assert FitSettings().resolved(OLD, set(OLD)).method == "shared"  # the default (bench/adaptation.py)
    assert FitSettings(method="prototype").resolved(OLD, set(OLD)).method == "prototype"
    with pytest.raises(IsyaratError, match="layers must be >= 1"):
        FitSettings(layers=0)


def test_recording_every_sign_fine_tunes_the_last_layers(base, split, datasets, tmp_path):
    """Three unseen photos of each old letter plus the five of V: `auto` fine-tunes the last layers
    (and only them); V is learned, the old letters kept, the bundle loads like any other."""
    import onnx
    from onnx import numpy_helper

    from isyarat.export.bundle import read_model_bytes

    root = tmp_path / "everything"
    extra = [(f, letter) for letter in OLD for f in photos(datasets, letter)[N_TRAIN + N_TEST:N_TRAIN + N_TEST + 3]]
    for path, label in extra + split["adapt"]:
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / path.name).symlink_to(path)
    out, record = adapt_bundle(base, root, tmp_path / "bisindo-all", settings=FitSettings(method="auto"))
    assert record.fit.method == "layers" and record.new_labels == [NEW]
    before, after = Recognizer.load(base, threshold=0.0), Recognizer.load(out, threshold=0.0)
    new_test, old_test = landmarks(*zip(*split["new_test"])), landmarks(*zip(*split["test"]))
    assert correct(after, new_test) >= len(new_test) - 1
    assert correct(after, old_test) >= correct(before, old_test) - 1
    weights = [{i.name: numpy_helper.to_array(i) for i in onnx.load_from_string(read_model_bytes(p)).graph.initializer}
               for p in (base, out)]
    changed = sorted(name for name in weights[0] if name in weights[1]
                     and not np.array_equal(weights[0][name], weights[1][name]))
    assert changed and "1.0.weight" not in changed and "0.mean" not in changed, changed  # first layers untouched
    assert "last 4 weighted layers were fine-tuned" in load_bundle(out).card


# ---- bad input: one line, nothing written ------------------------------------------------------

def npy_folder(root: Path, labels: dict[str, np.ndarray]) -> Path:
    for label, array in labels.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        np.save(root / label / "0.npy", array)
    return root


def hand_vector(datasets: Path) -> np.ndarray:
    """A real hand (126 values, left and right slots) from the ASL landmark set."""
    one = np.load(sorted((datasets / "asl-alphabet-landmarks-graudt/raw_gestures/B").glob("*.npy"))[0])
    return np.concatenate([np.zeros(63, np.float32), one.astype(np.float32)])


def bad_inputs(datasets: Path, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    blank = tmp_path / "blank" / "W"
    blank.mkdir(parents=True)
    cv2.imwrite(str(blank / "0.png"), np.full((240, 320, 3), 200, np.uint8))
    table = tmp_path / "table.csv"
    columns = [f"{side}_{a}{i}" for side in ("left", "right") for i in range(21) for a in "xyz"]
    values = ["" if np.isnan(v) else str(v) for v in np.where(hand_vector(datasets) == 0, np.nan, hand_vector(datasets))]
    table.write_text("label," + ",".join(columns) + "\n" + "../evil," + ",".join(values) + "\n")
    return {
        "no hand in any photo": (tmp_path / "blank", "no hand was found in any sample of 'W'"),
        "no hand in the landmarks": (npy_folder(tmp_path / "zeros", {"W": np.zeros(126, np.float32)}),
                                     "no hand was found in any sample of 'W'"),
        "a label with path characters": (table, "label '../evil' cannot be a class"),
        "a label that is not a name": (npy_folder(tmp_path / "odd", {"W!?": hand_vector(datasets)}),
                                       "label 'W!?' cannot be a class"),
        "an empty folder": ((tmp_path / "empty" / "W").mkdir(parents=True) or tmp_path / "empty",
                            "no images, videos or .npy files"),
        "no such folder": (tmp_path / "nowhere", "no such file or folder"),
    }


@pytest.mark.parametrize("case", ["no hand in any photo", "no hand in the landmarks", "a label with path characters",
                                  "a label that is not a name", "an empty folder", "no such folder"])
def test_bad_samples_are_one_line_and_write_nothing(case, base, datasets, tmp_path, capsys):
    data, error = bad_inputs(datasets, tmp_path)[case]
    out = tmp_path / "adapted"
    code = main(["adapt", str(base), "--data", str(data), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and error in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_bad_bundles_and_outputs_are_refused(base, my_samples, tmp_path):
    with pytest.raises(IsyaratError, match="is the bundle being adapted"):
        adapt_bundle(base, my_samples, base)
    with pytest.raises(IsyaratError, match="no bundle at this path"):
        adapt_bundle(tmp_path / "missing", my_samples, tmp_path / "out")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(IsyaratError, match="holding other files"):
        adapt_bundle(base, my_samples, busy)
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]
    assert not (tmp_path / "out").exists()


def test_adapting_is_offered_as_a_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "isyarat.cli.main", "adapt", "--help"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "GLOG_minloglevel": "2"})
    assert done.returncode == 0 and "C~2" in done.stdout and "--data" in done.stdout


# ---- the recorder page's "calibrate to me" -----------------------------------------------------

def test_calibrate_to_me_on_the_server(base, split, tmp_path):
    """Recordings saved as the recorder saves them (<vocabulary>/<label>/<n>.npy, (T, 126)) adapt a
    served model; the adapted model is then served, and bad requests are refused with a reason."""
    from fastapi.testclient import TestClient

    from isyarat.server.app import create_app

    data_dir = tmp_path / "recordings"
    for i, (label, lm) in enumerate(landmarks(*zip(*split["adapt"]))):
        (data_dir / "me" / label).mkdir(parents=True, exist_ok=True)
        np.save(data_dir / "me" / label / f"{i}.npy", lm.hands.reshape(len(lm.hands), 126))
    client = TestClient(create_app([base], data_dir=data_dir, allowed_hosts=["testserver"]))
    response = client.post("/api/adapt", json={"model": "bisindo-five", "vocabulary": "me"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "bisindo-five-me" and body["new_labels"] == [NEW] and body["labels"] == [*OLD, NEW]
    assert (data_dir / body["path"] / "model.onnx").is_file() and body["path"].startswith(".adapted/")
    assert "bisindo-five-me" in [m["name"] for m in client.get("/api/models").json()]
    assert [v["vocabulary"] for v in client.get("/api/recordings").json()["vocabularies"]] == ["me"]
    photo = split["new_test"][2][0]
    predicted = client.post("/api/predict/image?model=bisindo-five-me", files={"file": (photo.name, photo.read_bytes())})
    assert predicted.status_code == 200 and predicted.json()["label"] == NEW
    for request, status, why in [({"model": "bisindo-five", "vocabulary": "nobody"}, 404, "no recordings"),
                                 ({"model": "nope", "vocabulary": "me"}, 404, "unknown model"),
                                 ({"model": "bisindo-five", "vocabulary": "../me"}, 400, "may hold only")]:
        refused = client.post("/api/adapt", json=request)
        assert refused.status_code == status and why in refused.json()["detail"]
    (data_dir / "empty" / "W").mkdir(parents=True)
    np.save(data_dir / "empty" / "W" / "0.npy", np.zeros((3, 126), np.float32))
    refused = client.post("/api/adapt", json={"model": "bisindo-five", "vocabulary": "empty"})
    assert refused.status_code == 400 and "no hand was found" in refused.json()["detail"]
    assert not (data_dir / ".adapted" / "bisindo-five-empty").exists()
