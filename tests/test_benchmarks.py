"""The benchmark scripts: ratios, the generated performance table, and the step profile (a smoke run)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_grade  # noqa: E402
import report  # noqa: E402


def _run(pipeline, wall, ips, acc):
    return {"pipeline": pipeline, "wall_seconds": wall, "images_per_second": ips, "seconds_per_epoch": wall / 2,
            "peak_memory_mb": 100.0, "final_acc": acc, "best_acc": acc}


def test_summary_ratios_are_grader_over_reference_from_the_same_run():
    runs = [_run("reference", 80.0, 1500, 99.10), _run("grader", 40.0, 3000, 99.16),
            _run("reference", 100.0, 1500, 99.20), _run("grader", 50.0, 3000, 99.20)]
    s = bench_grade.summarise(runs)
    assert s["ratio_wall"] == pytest.approx(90 / 45) and s["ratio_images_per_second"] == pytest.approx(2.0)
    assert s["final_acc_difference"] == pytest.approx(99.18 - 99.15)
    assert bench_grade.loop_label(None, False) == "eager"
    assert bench_grade.loop_label("default", True) == "compile+channels_last"
    assert bench_grade.loop_label("reduce-overhead", False) == "compile:reduce-overhead"


def test_the_performance_row_shows_the_measured_figures_and_the_loop():
    runs = [_run("reference", 80.0, 1500, 99.10), _run("grader", 40.0, 3000, 99.16)]
    data = {"environment": {"device_name": "NVIDIA H100", "date": "2026-11-23T10:00:00Z", "torch": "2.11"},
            "args": {"epochs": 2, "seeds": 1, "loop": "compile"}, "summary": bench_grade.summarise(runs)}
    cells = [c.strip() for c in report._row(data).strip("|").split("|")]
    assert len(cells) == len(report.COLUMNS)
    row = dict(zip(report.COLUMNS, cells))
    assert row["speed-up b/a"] == "2.00x" and row["grader loop"] == "compile" and row["wall s (b)"] == "40.0"


def test_the_step_profile_names_the_phases():
    from profile_step import profile

    text = profile("cpu", steps=2, warmup=1, compile=None, rows=5)
    assert "phase shares: augment" in text and "forward" in text and "aten::" in text


def test_docs_performance_md_is_what_the_results_files_generate():
    assert report.OUT.read_text() == report.render(), "stale: run python benchmarks/report.py"
