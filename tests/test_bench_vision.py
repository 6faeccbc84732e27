"""`monitor bench vision`: both scenarios run through the camera worker and the report is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cli_helpers import one_error_line

from monitor.bench import vision
from monitor.bench.report import write_doc_section
from monitor.bench.vision import ScenarioResult, VisionBenchConfig, markdown, run_vision_bench
from monitor.cli.main import main


def test_config_refuses_too_few_frames() -> None:
    """A run too short to give a p99 is a usage error."""
    with pytest.raises(ValueError, match="--frames >= 10"):
        VisionBenchConfig(frames=5)


def test_report_section_replaces_only_the_vision_heading(tmp_path: Path) -> None:
    """The `## Vision` table goes into docs/benchmarks.md; other sections stay as they were."""
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Sensor ingestion\n\nkept\n\n## Vision\n\nstale table\n")
    results = [
        ScenarioResult("256x256, AE + U-Net", 100, 30.0, 40.0, 80.0, 20.0),
        ScenarioResult("64x64 -> 256x256 (x4 SR), AE + U-Net", 100, 12.0, 90.0, 150.0, 20.0),
    ]
    section = markdown(results, VisionBenchConfig(frames=100), "monitor bench vision")
    write_doc_section(doc, vision.SECTION, section, title="# Benchmarks")
    text = doc.read_text()
    assert "kept" in text and "stale table" not in text
    assert "| 256x256, AE + U-Net | 100 | 30.0 | 20 | 40 ms | 80 ms |" in text
    assert "met (30.0)" in text and "cores (nproc)" in text


def test_the_bench_stores_every_frame_of_both_scenarios_and_times_them() -> None:
    """A short run of the real bench: each scenario's frames are all committed, with rates and latencies."""
    threads = torch.get_num_threads()
    try:
        results = run_vision_bench(VisionBenchConfig(frames=10, rate=50))
    finally:
        torch.set_num_threads(threads)  # the bench sets the daemon's one thread
    assert [r.name for r in results] == ["256x256, AE + U-Net", "64x64 -> 256x256 (x4 SR), AE + U-Net"]
    for result in results:
        assert result.frames == 10 and result.fps > 0
        assert 0 < result.p50_ms <= result.p99_ms


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the bench would run there")
def test_asking_for_a_gpu_where_there_is_none_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`--device cuda` on a machine without CUDA says so before any model is trained."""
    assert main(["bench", "vision", "--device", "cuda"]) == 2
    assert "CUDA is not available" in one_error_line(capsys, "bench vision")


def test_a_gpu_run_reports_into_its_own_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU table (target 1,000 frames/s, AMP) does not overwrite the CPU one."""
    monkeypatch.setattr(vision, "on_gpu", lambda config: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "NVIDIA H100")
    results = [ScenarioResult("256x256, AE + U-Net", 100, 1200.0, 4.0, 9.0, 500.0)] * 2
    config = VisionBenchConfig(frames=100, device="cuda")
    section = markdown(results, config, "monitor bench vision --device cuda")
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Vision\n\nthe CPU table\n")
    write_doc_section(doc, vision.section_title(config), section, title="# Benchmarks")
    text = doc.read_text()
    assert "the CPU table" in text and "## Vision on a GPU" in text
    assert "GPU NVIDIA H100, autocast (AMP)" in text and "met (1200.0)" in text
