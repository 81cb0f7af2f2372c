import sys
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.fail(f"shared datasets not found at {DATASETS}: clone the project beside ../shared")
    return DATASETS


@pytest.fixture(scope="session")
def realtime_bench():
    """bench/realtime.py as a module (the tests that keep the bench in step with the code)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        import realtime
    finally:
        sys.path.pop(0)
    return realtime
