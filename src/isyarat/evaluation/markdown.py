"""Markdown for a report dict: headline, per-class table, breakdowns, worst confusions, folds."""

N_WORST = 10


def comparison_table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (e.g. one per split strategy) with one column per key."""
    return _table(columns, [[row.get(column, "") for column in columns] for row in rows])


def render_report(report: dict, title: str, confusion_png: str | None = None) -> str:
    """The whole report as Markdown; ``confusion_png`` is linked when given."""
    sections = [f"# {title}", _headline(report)]
    if confusion_png:
        sections.append(f"![Confusion matrix]({confusion_png})")
    sections += [_protocols(report.get("protocols")), _folds(report.get("folds")), _per_class(report), _breakdowns(report.get("by", {})), _worst(report)]
    return "\n\n".join(section for section in sections if section) + "\n"


def _headline(report: dict) -> str:
    rows = [
        ["accuracy (no sign counts as wrong)", report["accuracy"]],
        ["accuracy where a hand was found", report["accuracy_detected"]],
        ["macro F1", report["macro_f1"]],
        ["macro precision / recall", _pair(report.get("macro_precision"), report.get("macro_recall"))],
        ["weighted precision / recall", _pair(report.get("weighted_precision"), report.get("weighted_recall"))],
        ["samples", report["n_samples"]],
        ["samples without a hand", report["n_without_hand"]],
    ]
    if "open_set" in report:  # isyarat tidak dikenal: "unknown sign"
        inside, outside = report["open_set"]["in_vocabulary"], report["open_set"]["out_of_vocabulary"]
        rows.append(["own signs called 'unknown sign'", inside["rejected"]])
        if outside["n"]:
            rows.append([f"other signs ({outside['n']}) still given a sign", outside["given_a_sign"]])
    return _table(["metric", "value"], rows)


def _per_class(report: dict) -> str:
    rows = [
        [label, scores["precision"], scores["recall"], scores["f1"], scores["support"]]
        for label, scores in report["per_class"].items()
    ]
    return "## Per class\n\n" + _table(["label", "precision", "recall", "F1", "support"], rows)


def _breakdowns(by: dict[str, dict[str, dict]]) -> str:
    parts = [f"### By {column}\n\n" + _groups(groups) for column, groups in by.items()]
    return "## Breakdown by metadata\n\n" + "\n\n".join(parts) if parts else ""


def _groups(groups: dict[str, dict]) -> str:
    rows = [
        [value, s["n_samples"], s.get("n_without_hand", ""), s["accuracy"], s["macro_f1"],
         s.get("macro_precision", ""), s.get("macro_recall", ""), _weakest(s.get("per_class", {}))]
        for value, s in groups.items()
    ]
    return _table(["value", "samples", "without hand", "accuracy", "macro F1", "macro precision",
                   "macro recall", "lowest F1 (class)"], rows)


def _pair(a: float | None, b: float | None) -> str:
    return "" if a is None or b is None else f"{a:.3f} / {b:.3f}"


def _weakest(per_class: dict[str, dict]) -> str:
    """The class with the lowest F1 among those present in the group (its per-class scores are in report.json)."""
    present = {label: s for label, s in per_class.items() if s["support"]}
    if not present:
        return ""
    label = min(present, key=lambda k: (present[k]["f1"], k))
    return f"{label} {present[label]['f1']:.3f}"


def _worst(report: dict) -> str:
    pairs = worst_confusions(report["confusion_matrix"], report["labels"], report["confusion_columns"])
    if not pairs:
        return "## Worst confusions\n\nNone: every sample was recognized correctly."
    rows = [[true, predicted, count, share] for true, predicted, count, share in pairs]
    return "## Worst confusions\n\n" + _table(["true", "predicted", "count", "share of true class"], rows)


def worst_confusions(
    matrix: list[list[int]], labels: list[str], columns: list[str], n: int = N_WORST
) -> list[tuple[str, str, int, float]]:
    """The ``n`` largest off-diagonal cells as (true, predicted, count, share of the true class)."""
    cells = [
        (labels[i], columns[j], count, count / sum(row))
        for i, row in enumerate(matrix)
        for j, count in enumerate(row)
        if count and columns[j] != labels[i]
    ]
    return sorted(cells, key=lambda cell: (-cell[2], -cell[3]))[:n]


def _folds(folds: dict | None) -> str:
    if not folds:
        return ""
    metrics = ["accuracy", "accuracy_detected", "macro_f1"]
    rows = [[i + 1, fold["n_samples"], *(fold[m] for m in metrics)] for i, fold in enumerate(folds["per_fold"])]
    rows.append(["mean ± std", "", *(_mean_std(folds["mean"][m], folds["std"][m]) for m in metrics)])
    note = f"{folds['n_folds']} folds; std is the population standard deviation (ddof={folds['std_ddof']})."
    return "## Folds\n\n" + note + "\n\n" + _table(["fold", "samples", *metrics], rows)


def _protocols(protocols: dict | None) -> str:
    """Cross-validation under several splits side by side: random splits of one capture session
    put near-duplicate frames on both sides, so the group-wise rows are what a new user will see."""
    if not protocols:
        return ""
    rows = [[split, summary["n_folds"], _mean_std(summary["mean"]["accuracy"], summary["std"]["accuracy"]),
             _mean_std(summary["mean"]["macro_f1"], summary["std"]["macro_f1"])]
            for split, summary in protocols.items()]
    note = ("Random splits (holdout, kfold) keep near-duplicate frames of one session on both sides; "
            "group splits (group:<column>) test on signers, sessions or capture groups never seen in training.")
    return "## Splits compared\n\n" + note + "\n\n" + _table(["split", "folds", "accuracy", "macro F1"], rows)


def _mean_std(mean: float | None, std: float | None) -> str:
    return "" if mean is None else f"{mean:.3f} ± {std:.3f}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = [_line(header), _line(["---"] * len(header))]
    return "\n".join(lines + [_line([_cell(value) for value in row]) for row in rows])


def _line(cells: list) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def _cell(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
