"""The CLI's flags line up: --data and --model are spelled alike on every verb, `serve --processes`
(once --workers) and `serve --threshold` reach the server, the older spellings still work with a note."""
from __future__ import annotations

import argparse

import pytest

import isyarat.server.app as server_app
from isyarat.cli.main import build_parser, main
from isyarat.server.app import load_models

READS_DATA = ("extract", "train", "evaluate", "sweep", "adapt", "synth")
TAKES_MODEL = ("evaluate", "recognize", "webcam", "serve", "adapt")


def _verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _option(verb: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in verb._actions if flag in a.option_strings), None)


def test_data_and_model_are_flags_of_the_same_name_everywhere():
    verbs = _verbs()
    for name in READS_DATA:
        data = _option(verbs[name], "--data")
        assert data is not None and data.metavar == "DATA", name
    for name in TAKES_MODEL:
        model = _option(verbs[name], "--model")
        assert model is not None and model.metavar == "MODEL", name
    for name, verb in verbs.items():  # no visible positional DATA / MODEL / BUNDLE left
        shown = [a.dest for a in verb._actions if not a.option_strings and a.help != argparse.SUPPRESS]
        assert not {"data", "bundle", "model"} & set(shown), name


@pytest.fixture
def served(monkeypatch):
    calls = []
    monkeypatch.setattr(server_app, "serve", lambda **kwargs: calls.append(kwargs))
    return calls


def test_serve_processes_and_threshold_reach_the_server(served, tmp_path, capsys):
    assert main(["serve", "--processes", "2", "--threshold", "0.7", "--data-dir", str(tmp_path)]) == 0
    assert served[-1]["processes"] == 2 and served[-1]["threshold"] == 0.7
    assert main(["serve", "--data-dir", str(tmp_path)]) == 0
    assert served[-1]["processes"] == 1 and served[-1]["threshold"] == 0.5
    assert capsys.readouterr().err == ""


def test_serve_workers_is_a_hidden_alias_with_a_note(served, tmp_path, capsys):
    assert main(["serve", "--workers", "2", "--data-dir", str(tmp_path)]) == 0
    assert served[-1]["processes"] == 2
    err = capsys.readouterr().err
    assert "--processes" in err and len(err.strip().splitlines()) == 1
    assert "--workers" not in _verbs()["serve"].format_help()


@pytest.mark.parametrize("args, message", [
    (["--processes", "0"], "--processes must be 1 or more"),
    (["--threshold", "1.5"], "--threshold 1.5"),
])
def test_bad_serve_values_are_one_line(served, tmp_path, capsys, args, message):
    assert main(["serve", *args, "--data-dir", str(tmp_path)]) != 0
    assert message in capsys.readouterr().err and not served


def test_the_served_models_answer_at_the_threshold_given():
    [recognizer] = load_models(["sibi-letters"], threshold=0.8).values()
    assert recognizer.threshold == 0.8


def test_older_positional_spellings_still_parse():
    parser = build_parser()
    assert parser.parse_args(["extract", "photos", "--out", "t.parquet"]).data_arg == "photos"
    args = parser.parse_args(["adapt", "sibi-letters", "--data", "me", "--out", "b"])
    assert args.bundle == "sibi-letters" and args.model is None
    assert parser.parse_args(["adapt", "--model", "sibi-letters", "--data", "me", "--out", "b"]).model == "sibi-letters"


def test_a_verb_without_its_model_says_so(capsys, tmp_path):
    assert main(["adapt", "--data", str(tmp_path), "--out", str(tmp_path / "b")]) != 0
    assert "--model is required" in capsys.readouterr().err


def test_old_and_new_spelling_together_are_refused(capsys, tmp_path):
    assert main(["adapt", "sibi-letters", "--model", "bisindo-letters", "--data", str(tmp_path),
                 "--out", str(tmp_path / "b")]) != 0
    assert "give --model once" in capsys.readouterr().err
