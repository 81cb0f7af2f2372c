import importlib
import sys
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.fail(f"shared datasets not found at {DATASETS}: clone the project beside ../shared")
    return DATASETS


def bench_module(name: str):
    """bench/<name>.py as a module (the tests that keep a bench in step with the code)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


@pytest.fixture(scope="session")
def realtime_bench():
    return bench_module("realtime")


@pytest.fixture(scope="session")
def motion_bench():
    return bench_module("motion")
