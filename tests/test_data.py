"""The data layer on the real shared datasets: layouts, metadata, the canonical table, splits."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from isyarat.data.layouts import load_dataset
from isyarat.data.splits import (consecutive_frames_warning, group_kfold, groups_of, holdout, kfold,
                                 leave_one_group_out, validation_split)
from isyarat.data.table import read_table, samples_to_table, write_table
from isyarat.errors import IsyaratError
from isyarat.vocab import list_vocabularies, load_vocabulary


def test_every_shared_dataset_loads_with_labels_and_metadata(datasets):
    binus = load_dataset(datasets / "bisindo-alphabet-binus")
    assert binus.layout == "images" and len(binus) == 519 and len(binus.labels) == 26
    assert {s.metadata["signer"] for s in binus} == {"binus-1"}

    sibi = load_dataset(datasets / "sibi-alphabet-ajustiago")
    assert sibi.layout == "images" and "J" not in sibi.labels and "Z" not in sibi.labels
    assert len(sibi.labels) == 24
    assert {s.metadata["group"] for s in sibi} == {"crop-2020", "crop-2022", "phone-2022"}

    words = load_dataset(datasets / "bisindo-words-wlbisindo")
    assert words.layout == "videos" and len(words) == 36
    # the folder is Terima_Kasih; metadata.csv gives the real label
    assert set(words.labels) == {"Belajar", "maaf", "Terima Kasih", "Tuli"}

    asl = load_dataset(datasets / "asl-alphabet-landmarks-graudt")
    assert asl.layout == "npy" and len(asl) == 10508 and len(asl.labels) == 26
    first = asl.samples[0].landmarks
    assert first.hands.shape == (1, 2, 21, 3)
    assert first.hand_present().tolist() == [[False, True]]  # 63 values go to the right-hand slot


def test_labels_follow_folders(datasets):
    sibi = load_dataset(datasets / "sibi-alphabet-ajustiago")
    for s in sibi:
        assert s.label == s.path.parent.name


def test_sequence_folder_layout_orders_frames_naturally(tmp_path, datasets):
    src = sorted((datasets / "asl-alphabet-landmarks-graudt/raw_gestures/J").glob("frame_*.npy"))[:12]
    for label in ("J", "Z"):
        seq = tmp_path / label / "take1"
        seq.mkdir(parents=True)
        for i, f in enumerate(src):
            shutil.copy(f, seq / f"{i}.npy")
    ds = load_dataset(tmp_path)
    assert ds.layout == "sequences" and len(ds) == 2
    lm = ds.samples[0].landmarks
    assert lm.n_frames == 12
    np.testing.assert_allclose(lm.hands[10, 1].reshape(-1), np.load(src[10]).reshape(-1))


def test_table_round_trips(tmp_path, datasets):
    asl = load_dataset(datasets / "asl-alphabet-landmarks-graudt")
    picked = asl.subset(range(0, len(asl), 500))
    picked.samples[0].metadata = {"signer": "graudt"}
    for suffix in (".csv", ".parquet"):
        path = write_table(samples_to_table(picked.samples), tmp_path / f"t{suffix}")
        back = load_dataset(path)
        assert back.layout == "table" and len(back) == len(picked)
        assert [s.label for s in back] == [s.label for s in picked]
        assert back.samples[0].metadata["signer"] == "graudt"
        np.testing.assert_allclose(back.samples[3].landmarks.hands, picked.samples[3].landmarks.hands,
                                   rtol=1e-5, atol=1e-6)
    assert "right_z20" in read_table(tmp_path / "t.csv").columns


def test_splits_keep_groups_apart_and_are_deterministic(datasets):
    sibi = load_dataset(datasets / "sibi-alphabet-ajustiago")
    labels = [s.label for s in sibi]
    groups = groups_of(sibi, "group")
    folds = group_kfold(labels, groups)
    assert len(folds) == 3
    for train, test in folds:
        assert not {groups[i] for i in train} & {groups[i] for i in test}
    assert len(leave_one_group_out(groups)) == 3
    a, b = holdout(labels, 0.3, seed=1), holdout(labels, 0.3, seed=1)
    assert np.array_equal(a[1], b[1]) and abs(len(a[1]) / len(labels) - 0.3) < 0.02
    for train, test in kfold(labels, 5):
        assert not set(train) & set(test)
        assert set(labels[i] for i in test) == set(labels)  # stratified: every class in every fold


def test_group_split_names_missing_column(datasets):
    binus = load_dataset(datasets / "bisindo-alphabet-binus")
    with pytest.raises(IsyaratError, match="no 'session' metadata"):
        groups_of(binus, "session")


def test_random_split_warning_on_consecutive_frames(datasets):
    asl = load_dataset(datasets / "asl-alphabet-landmarks-graudt")
    assert "consecutive frames" in consecutive_frames_warning(asl)


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "no such file or folder"),
    (lambda p: p, "no label folders"),
    (lambda p: (p / "A").mkdir() or p, "no images, videos or .npy"),
    (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", "unknown dataset file"),
])
def test_bad_dataset_paths_give_clear_errors(tmp_path, make, message):
    with pytest.raises(IsyaratError, match=message):
        load_dataset(make(tmp_path))


def test_corrupt_npy_names_the_file(tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(IsyaratError, match="bad.npy"):
        load_dataset(tmp_path)


def test_vocabularies_are_data():
    assert set(list_vocabularies()) >= {"sibi", "bisindo", "asl", "kolok", "bisindo-words"}
    sibi, bisindo, kolok = load_vocabulary("sibi"), load_vocabulary("bisindo"), load_vocabulary("kolok")
    assert sibi.dynamic == ["J", "Z"] and sibi.two_handed == []
    assert bisindo.dynamic == ["J", "R"] and "A" in bisindo.two_handed and "C" not in bisindo.two_handed
    assert len(kolok.signs) == 10 and "terima kasih" in kolok.labels


def test_cli_user_error_is_one_line_without_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "isyarat.cli.main", "extract", "--data", str(tmp_path / "nope"),
                          "--out", str(tmp_path / "t.parquet")], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "no such file or folder" in out.stderr


def test_validation_split_of_a_tiny_training_set():
    """Fewer training samples than classes x 1/fraction: no stratification, still disjoint."""
    labels = [chr(65 + i % 10) for i in range(24)]
    train, val = validation_split(np.arange(24), labels, fraction=0.15)
    assert len(val) == 4 and not set(train) & set(val) and len(train) + len(val) == 24
    with pytest.raises(IsyaratError, match="too few"):
        validation_split(np.arange(1), labels)


def test_mirrored_landmark_sources_are_flipped_back(datasets, tmp_path):
    """The ASL frames come from a selfie-view webcam: x is flipped back when read. Any dataset
    can say the same in its own dataset.yaml."""
    raw = np.load(datasets / "asl-alphabet-landmarks-graudt/raw_gestures/A/frame_0.npy").reshape(21, 3)
    asl = load_dataset(datasets / "asl-alphabet-landmarks-graudt")
    first = next(s for s in asl if s.path.name == "frame_0.npy" and s.label == "A").landmarks.hands[0, 1]
    np.testing.assert_allclose(first[:, 0], 1 - raw[:, 0], atol=1e-6)
    np.testing.assert_allclose(first[:, 1:], raw[:, 1:], atol=1e-6)
    (tmp_path / "A").mkdir()
    shutil.copy(datasets / "asl-alphabet-landmarks-graudt/raw_gestures/A/frame_0.npy", tmp_path / "A")
    assert np.allclose(load_dataset(tmp_path).samples[0].landmarks.hands[0, 1], raw)
    (tmp_path / "dataset.yaml").write_text("mirrored: true\n")
    assert np.allclose(load_dataset(tmp_path).samples[0].landmarks.hands[0, 1, :, 0], 1 - raw[:, 0])
    photos = tmp_path / "photos"
    shutil.copytree(datasets / "bisindo-alphabet-binus/images/A", photos / "A")
    (photos / "dataset.yaml").write_text("mirrored: true\n")
    with pytest.raises(IsyaratError, match="extraction setting mirrored"):
        load_dataset(photos)
