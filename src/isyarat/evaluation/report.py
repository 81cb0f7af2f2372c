"""Write a report dict to a folder: report.json, confusion_matrix.png and report.md."""

import json
from pathlib import Path

from isyarat.errors import IsyaratError
from isyarat.evaluation.markdown import render_report
from isyarat.evaluation.plots import plot_confusion


def write_report(report: dict, out_dir: Path, title: str) -> dict[str, Path]:
    """The three files, by kind: ``json``, ``confusion``, ``markdown``.

    ``report`` comes from ``evaluate_predictions``; for cross-validation set
    ``report["folds"] = summarize_folds(fold_reports)`` to add the fold table.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise IsyaratError(f"{out_dir} is a file, not a folder: pass a folder path for the report")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "confusion": out_dir / "confusion_matrix.png",
        "markdown": out_dir / "report.md",
    }
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot_confusion(report["confusion_matrix"], report["labels"], report["confusion_columns"], paths["confusion"], title)
    markdown = render_report(report, title, paths["confusion"].name)
    paths["markdown"].write_text(markdown, encoding="utf-8")
    return paths
