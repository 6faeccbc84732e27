"""`monitor bench vision`: frames/s and latency of the camera pipeline, as the daemon runs it.

Each frame goes through the daemon's own code: `CameraWorker` decodes the JPEG, upscales it (x4
scenario), scores it with the image anomaly model, segments it with the U-Net, runs the threshold and
alert rule and hands an `inspections` row to the `StoreWriter`, which commits it to SQL. The MQTT
transport is left out (measured by `monitor bench sensor`); frames are filed into the worker's
backlog as the receiver would. Two runs per scenario: a throughput run (all frames queued, timed
until the last row is committed) and a paced run at `rate` frames/s whose latency is
enqueue -> row committed. Models have the default architectures; weights do not change the cost, so
unless model directories are given they are trained for one short epoch on generated frames.
On CPU torch gets one intra-op thread (the daemon's setting); with `--device cuda` (or `auto` where
a GPU is present) the models run there with autocast (AMP), and the report goes to its own section.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from models.image_ae_model import ImageAnomalyModel
from models.image_ae_training import ImageTrainConfig, train_image_ae
from models.sr_model import SuperResolutionModel
from models.sr_training import SRTrainConfig, train_sr_model
from models.training import resolve_device
from models.unet_model import SegmentationModel
from models.unet_training import UNetTrainConfig, train_segmentation_model
from monitor.metrics import Metrics
from monitor.pipeline.camera_worker import CameraWorker
from monitor.settings import Settings
from monitor.simulate_frames import encode_jpeg, low_resolution, make_frame, random_defects
from monitor.store.db import create_engine_for
from monitor.store.migrate import upgrade
from monitor.store.records import InspectionRecord
from monitor.store.writer import Record, StoreWriter

TARGET_FPS = 25.0
CAMERA = "bench-cam"
SIZE = 256


@dataclass(frozen=True)
class VisionBenchConfig:
    frames: int = 200
    rate: float = 20.0  # frames per second of the paced latency run
    batch_max: int = 8
    db_url: str | None = None  # default: a fresh SQLite file
    ae_dir: Path | None = None
    unet_dir: Path | None = None
    sr_dir: Path | None = None
    device: str = "cpu"  # auto, cpu or cuda, as models.device

    def __post_init__(self) -> None:
        if self.frames < 10 or self.rate <= 0 or self.batch_max < 1:
            raise ValueError("need --frames >= 10, --rate > 0 and --batch >= 1")


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    frames: int
    fps: float
    p50_ms: float
    p99_ms: float
    paced_rate: float


def _models(config: VisionBenchConfig) -> tuple[ImageAnomalyModel, SegmentationModel, SuperResolutionModel]:
    """The given model directories, or default architectures trained for one short epoch."""
    normal = [make_frame(i, SIZE).image for i in range(12)]
    device = config.device
    if config.ae_dir:
        ae = ImageAnomalyModel.load(config.ae_dir, device)
    else:
        ae = train_image_ae(normal, ImageTrainConfig(epochs=1, patches_per_image=2, device=device))
    if config.unet_dir:
        unet = SegmentationModel.load(config.unet_dir, device)
    else:
        frames = [make_frame(100 + i, SIZE, ("blob",)) for i in range(4)]
        unet = train_segmentation_model(
            [f.image for f in frames],
            [f.mask for f in frames],
            UNetTrainConfig(epochs=1, crops_per_epoch=16, device=device),
        )
    if config.sr_dir:
        sr = SuperResolutionModel.load(config.sr_dir, device)
    else:
        sr = train_sr_model(
            normal, SRTrainConfig(scale=4, epochs=1, gan_epochs=0, crops_per_epoch=16, device=device)
        )
    return ae, unet, sr


def _payloads(count: int, factor: int) -> list[bytes]:
    """JPEG frames, a fifth with defects, at full size or 1/factor (a low-resolution camera)."""
    rng = np.random.default_rng(0)
    distinct = []
    for i in range(min(count, 20)):
        image = make_frame(1000 + i, SIZE, random_defects(rng, 0.2)).image
        distinct.append(encode_jpeg(low_resolution(image, factor) if factor > 1 else image))
    return [distinct[i % len(distinct)] for i in range(count)]


class _Committed:
    """Writer callback: when each frame's inspection row was committed, by frame id."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def __call__(self, records: Sequence[Record]) -> None:
        now = time.perf_counter()
        for record in records:
            if isinstance(record, InspectionRecord):
                # The bench's frames carry an id and no time: their key is `<frame id>#<image digest>`.
                self.at[record.frame_key.partition("#")[0]] = now


def _run(
    name: str,
    config: VisionBenchConfig,
    models: tuple[ImageAnomalyModel, SegmentationModel, SuperResolutionModel],
    upscale: int | None,
    db_url: str,
) -> ScenarioResult:
    ae, unet, sr = models
    settings = Settings(
        database={"url": db_url},
        cameras={
            CAMERA: {
                "models": ["ae", "unet"],
                "upscale": upscale,
                "backlog": config.frames,
                "batch_max": config.batch_max,
                "artifacts": {"anomalous": False, "every_n": 0},
            }
        },
    )
    payloads = _payloads(config.frames, upscale or 1)
    topic = f"{settings.mqtt.topic_prefix}/bench/{CAMERA}/frames"
    engine = create_engine_for(db_url)
    committed = _Committed()
    writer = StoreWriter(engine, interval_s=0.02, on_committed=committed)
    worker = CameraWorker(settings, writer, Metrics())
    for kind, model in (("image-ae", ae), ("unet", unet), ("sr", sr)):
        if kind != "sr" or upscale:
            worker.assign_model(CAMERA, kind, model)
    try:
        # throughput: everything queued, then drained and committed
        run = f"{name}-{time.time_ns()}"
        for i, payload in enumerate(payloads):
            worker.put(topic, payload, time.time(), {"frame_id": f"{run}-t{i}"})
        started = time.perf_counter()
        worker.start()
        _wait(lambda: len(committed.at) >= config.frames, 600)
        fps = config.frames / (max(committed.at.values()) - started)
        # latency: paced at `rate`
        sent: dict[str, float] = {}
        paced_start = time.perf_counter()
        for i, payload in enumerate(payloads):
            time.sleep(max(paced_start + i / config.rate - time.perf_counter(), 0))
            key = f"{run}-p{i}"
            sent[key] = time.perf_counter()
            worker.put(topic, payload, time.time(), {"frame_id": key})
        _wait(lambda: all(key in committed.at for key in sent), 600)
        latencies = np.array([committed.at[key] - at for key, at in sent.items()]) * 1000
    finally:
        worker.stop(30)
        writer.close(30)
        engine.dispose()
    return ScenarioResult(
        name,
        config.frames,
        fps,
        float(np.percentile(latencies, 50)),
        float(np.percentile(latencies, 99)),
        config.rate,
    )


def _wait(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.005)
    if not done():
        raise RuntimeError("the camera worker did not store every frame in time")


def run_vision_bench(config: VisionBenchConfig) -> list[ScenarioResult]:
    """Both scenarios on the daemon's thread settings (one torch intra-op thread, as the daemon on CPU)."""
    if not on_gpu(config):
        torch.set_num_threads(1)
    models = _models(config)
    with tempfile.TemporaryDirectory(prefix="bench-vision-") as tmp:
        db_url = config.db_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(db_url)
        return [
            _run("256x256, AE + U-Net", config, models, None, db_url),
            _run("64x64 -> 256x256 (x4 SR), AE + U-Net", config, models, 4, db_url),
        ]


SECTION = "## Vision"
GPU_SECTION = "## Vision on a GPU"
GPU_TARGET_FPS = 1000.0


def on_gpu(config: VisionBenchConfig) -> bool:
    return resolve_device(config.device).type == "cuda"


def section_title(config: VisionBenchConfig) -> str:
    """CPU and GPU runs keep their own sections of docs/benchmarks.md."""
    return GPU_SECTION if on_gpu(config) else SECTION


def markdown(results: list[ScenarioResult], config: VisionBenchConfig, command: str) -> str:
    """The `## Vision` (or GPU) section of docs/benchmarks.md."""
    gpu = on_gpu(config)
    target = GPU_TARGET_FPS if gpu else TARGET_FPS
    device = (
        f"GPU {torch.cuda.get_device_name()}, autocast (AMP)"
        if gpu
        else "one torch intra-op thread per model call (as the daemon on CPU)"
    )
    rows = [
        f"| {r.name} | {r.frames} | {r.fps:.1f} | {r.paced_rate:g} | {r.p50_ms:.0f} ms | {r.p99_ms:.0f} ms |"
        for r in results
    ]
    met = results[0].fps >= target
    return "\n".join(
        [
            section_title(config),
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}` "
            f"(batch {config.batch_max}, {'database ' + config.db_url if config.db_url else 'SQLite'}).",
            "",
            "Each frame: JPEG decode -> (x4 super-resolution) -> image anomaly model "
            "(autoencoder + head: score + heatmap), with the U-Net (mask, area, count, boxes) beside it "
            "on a second thread -> threshold + alert rule -> `inspections` row committed, "
            "through the daemon's `CameraWorker` and `StoreWriter` (MQTT transport excluded: see the "
            "sensor benchmark). Frames/s: all frames queued, timed until the last row is committed. "
            "Latency: a second run paced at the given rate, enqueue -> row committed. Default model "
            f"architectures; {device}.",
            "",
            "| scenario | frames | frames/s | paced rate (frames/s) | p50 latency | p99 latency |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"Target >= {target:g} frames/s for 256x256 AE + U-Net{' (batched, AMP)' if gpu else ''}: "
            f"{'met' if met else 'not met'} ({results[0].fps:.1f}).",
            "",
            f"Hardware: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (nproc), "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"torch {torch.__version__}.",
            "",
        ]
    )
