"""The camera worker: frames in -> inspections, artifacts, alerts; bad frames; bounded backlog."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from camera_helpers import DEFECTS, SIZE, camera_settings, tiny_camera_models
from daemon_helpers import count, query

from models.images import encode_png
from monitor.metrics import Metrics
from monitor.pipeline.camera_worker import CameraWorker
from monitor.settings import Settings
from monitor.simulate_frames import encode_jpeg, low_resolution, make_frame
from monitor.store.db import create_engine_for
from monitor.store.migrate import upgrade
from monitor.store.writer import PAYLOAD_HEAD_BYTES, StoreWriter

PREFIX = "plant"
TOPIC = f"{PREFIX}/site1/cam1/frames"


def make_settings(tmp_path: Path, url: str, max_per_minute: int = 20, **camera: object) -> Settings:
    """A camera whose threshold is the highest normal training score and alerts after 2 of 3."""
    artifacts = {
        "directory": tmp_path / "artifacts",
        "anomalous": True,
        "every_n": 0,
        "max_per_minute": max_per_minute,
    }
    return Settings(
        database={"url": url},
        thresholds={"method": "quantile", "quantile": {"q": 0.99, "margin": 1.0}},
        alerts={"k": 2, "n": 3, "resolve_after": 2},
        cameras={"cam1": camera_settings(artifacts=artifacts, **camera)},
    )


@pytest.fixture
def writer(database_url: str) -> Iterator[StoreWriter]:
    upgrade(database_url)
    engine = create_engine_for(database_url)
    writer = StoreWriter(engine, interval_s=0.02)
    yield writer
    writer.close(10)
    engine.dispose()


def worker_for(settings: Settings, writer: StoreWriter, sr: bool = False) -> CameraWorker:
    models = tiny_camera_models()
    worker = CameraWorker(settings, writer, Metrics())
    worker.assign_model("cam1", "image-ae", models.ae)
    worker.assign_model("cam1", "unet", models.unet)
    if sr:
        worker.assign_model("cam1", "sr", models.sr)
    worker._apply_requests()
    return worker


def message(i: int, payload: bytes) -> tuple[str, bytes, float, dict[str, str]]:
    """Frame number i, taken i seconds after a minute ago, as the camera would stamp it."""
    ts = datetime.fromtimestamp(int(time.time()) - 60 + i, UTC).isoformat().replace("+00:00", "Z")
    return (TOPIC, payload, time.time(), {"frame_id": f"f{i:04d}", "ts": ts})


def test_frames_become_inspections_and_an_injected_defect_raises_an_alert(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """Normal frames are not anomalous; a run of defective frames opens an alert with artifacts."""
    worker = worker_for(make_settings(tmp_path, database_url), writer)
    normal = [message(i, encode_png(make_frame(1000 + i, SIZE).image)) for i in range(6)]
    defective = [message(10 + i, encode_png(make_frame(2000 + i, SIZE, DEFECTS).image)) for i in range(4)]
    assert worker.process("cam1", normal) == 6
    assert worker.process("cam1", defective) == 4
    assert writer.flush(10)
    rows = query(
        database_url,
        "SELECT frame_key, anomaly, defect_area, defect_count, image_path, mask_path, ae_model_version "
        "FROM inspections ORDER BY frame_key",
    )
    assert len(rows) == 10
    assert not any(row.anomaly for row in rows[:6])
    assert all(row.image_path is None for row in rows[:6])  # policy: anomalous frames only
    flagged = [row for row in rows[6:] if row.anomaly]
    assert flagged and all(Path(row.image_path).exists() and Path(row.mask_path).exists() for row in flagged)
    assert max(row.defect_area for row in rows[6:]) > max(row.defect_area for row in rows[:6])
    assert rows[0].ae_model_version == tiny_camera_models().ae.version
    alerts = query(database_url, "SELECT asset, state, top_channels FROM alerts")
    assert [(a.asset, a.state) for a in alerts] == [("cam1", "open")]
    assert count(database_url, "assets", "name = 'cam1' AND kind = 'camera'") == 1


def test_redelivered_frame_is_stored_once(tmp_path: Path, database_url: str, writer: StoreWriter) -> None:
    """The same frame id delivered twice leaves one inspections row."""
    worker = worker_for(make_settings(tmp_path, database_url), writer)
    frame = message(1, encode_png(make_frame(5, SIZE).image))
    worker.process("cam1", [frame])
    worker.process("cam1", [frame])
    assert writer.flush(10)
    assert count(database_url, "inspections") == 1


def test_a_camera_sending_ids_without_time_keeps_its_frames_after_a_counter_restart(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """Frame id 1 before and after a power cycle are two rows; a redelivery of either adds none."""
    worker = worker_for(make_settings(tmp_path, database_url), writer)
    before, after = (
        (TOPIC, encode_png(make_frame(seed, SIZE).image), time.time(), {"frame_id": "1"}) for seed in (5, 6)
    )
    worker.process("cam1", [before, after])
    worker.process("cam1", [before])
    assert writer.flush(10)
    assert count(database_url, "inspections") == 2


def test_bad_images_go_to_dead_letters_and_later_frames_are_scored(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """Garbage, truncated JPEG and oversized frames are dead letters; the good frames around them are scored."""
    worker = worker_for(make_settings(tmp_path, database_url, max_frame_bytes=20_000), writer)
    good = encode_png(make_frame(3, SIZE).image)
    batch = [
        message(1, good),
        message(2, b"garbage bytes"),
        message(3, encode_jpeg(make_frame(4, SIZE).image)[:150]),
        message(4, b"\x89PNG" + bytes(30_000)),
        message(5, good),
    ]
    assert worker.process("cam1", batch) == 2
    assert writer.flush(10)
    reasons = sorted(
        row.reason.split(":")[0] for row in query(database_url, "SELECT reason FROM dead_letters")
    )
    assert reasons == ["oversized", "undecodable_image", "undecodable_image"]
    assert count(database_url, "inspections") == 2


def test_a_flood_of_oversized_frames_keeps_only_their_heads_and_each_is_a_dead_letter(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Frames over max_frame_bytes wait in the backlog as a few bytes each (memory is bounded by
    bytes, not only by frames), and still become oversized dead letters with their real size.
    Frames of an unconfigured camera are kept the same way."""
    upgrade(sqlite_url)
    engine = create_engine_for(sqlite_url)
    writer = StoreWriter(engine, interval_s=0.02)
    worker = worker_for(make_settings(tmp_path, sqlite_url, max_frame_bytes=20_000), writer)
    big = b"\x89PNG" + bytes(5_000_000)
    for i in range(10):
        worker.put(TOPIC, big, time.time(), {"frame_id": str(i)})
    worker.put(TOPIC.replace("cam1", "cam9"), big, time.time(), {})
    kept = [m[1] for m in worker._queues["cam1"]] + [m[1] for m in worker._unknown]
    assert len(kept) == 11 and sum(map(len, kept)) <= 11 * PAYLOAD_HEAD_BYTES
    assert worker.process("cam1", list(worker._queues["cam1"])) == 0
    worker._dead_letter_unknown()
    assert writer.flush(10)
    rows = query(sqlite_url, "SELECT reason, payload_size FROM dead_letters ORDER BY id")
    assert [row.reason for row in rows[:10]] == [f"oversized: {len(big)} bytes > 20000"] * 10
    assert rows[10].reason.startswith("unknown_camera") and rows[10].payload_size == len(big)
    writer.close(5)
    engine.dispose()


def test_low_resolution_camera_is_upscaled_before_scoring(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """With upscale 4 a 16x16 frame is scored at 64x64 and the stored image is the upscaled one."""
    settings = make_settings(tmp_path, database_url, upscale=4)
    settings.cameras["cam1"].artifacts.every_n = 1
    worker = worker_for(settings, writer, sr=True)
    low = low_resolution(make_frame(8, SIZE).image, 4)
    assert worker.process("cam1", [message(1, encode_png(low))]) == 1
    assert writer.flush(10)
    (row,) = query(database_url, "SELECT image_path, sr_model_version FROM inspections")
    assert row.sr_model_version == tiny_camera_models().sr.version
    from PIL import Image

    assert Image.open(row.image_path).size == (SIZE, SIZE)


def test_a_stopped_worker_leaves_no_thread_and_scores_again_after_a_restart(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """stop() ends the worker and its U-Net thread; start() again scores frames with a fresh one."""
    worker = worker_for(make_settings(tmp_path, database_url), writer)
    before = set(threading.enumerate())
    for round_ in range(2):
        worker.start()
        worker.put(TOPIC, encode_png(make_frame(round_, SIZE).image), time.time(), {"frame_id": f"r{round_}"})
        assert worker.stop(10)  # scores what is waiting, then ends
        assert set(threading.enumerate()) <= before
        assert writer.flush(10)
        assert count(database_url, "inspections") == round_ + 1


def test_a_stop_short_of_time_drops_the_backlog_it_cannot_score_and_ends_in_time(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """A backlog too long for the stop's time: frames are scored for most of it, the rest are
    dropped and counted, and the worker has ended before the writer is closed."""
    worker = worker_for(make_settings(tmp_path, database_url, backlog=200), writer)
    frame = encode_png(make_frame(1, SIZE).image)
    for i in range(200):
        worker.put(TOPIC, frame, time.time(), {"frame_id": f"f{i}"})
    worker.start()
    started = time.monotonic()
    assert worker.stop(0.5)
    assert time.monotonic() - started < 1.5
    assert writer.flush(10)
    scored = count(database_url, "inspections")
    assert 0 < scored < 200 and scored + worker.dropped == 200


def test_frames_without_models_or_camera_config_are_dead_letters(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """A configured camera without an active model and an unconfigured camera both dead-letter."""
    worker = CameraWorker(make_settings(tmp_path, database_url), writer, Metrics())
    worker.process("cam1", [message(1, encode_png(make_frame(1, SIZE).image))])
    worker.put(f"{PREFIX}/site1/other/frames", b"x", time.time(), {})
    worker._dead_letter_unknown()
    assert writer.flush(10)
    reasons = sorted(row.reason for row in query(database_url, "SELECT reason FROM dead_letters"))
    assert reasons == ["no_model: cam1 has no active image-ae model", "unknown_camera: other"]


def test_backlog_drops_the_oldest_frames_and_counts_them(tmp_path: Path, sqlite_url: str) -> None:
    """A flood into a stopped worker keeps only `backlog` newest frames and counts the rest."""
    upgrade(sqlite_url)
    engine = create_engine_for(sqlite_url)
    writer = StoreWriter(engine)
    worker = CameraWorker(make_settings(tmp_path, sqlite_url, backlog=5), writer, Metrics())
    for i in range(100):
        worker.put(TOPIC, b"frame", time.time(), {"frame_id": str(i)})
        assert worker.backlog("cam1") <= 5
    assert worker.dropped == 95
    assert [m[3]["frame_id"] for m in worker._queues["cam1"]] == ["95", "96", "97", "98", "99"]
    writer.close(5)
    engine.dispose()


def test_a_frame_the_models_fail_on_is_a_dead_letter_and_its_batch_is_scored(
    tmp_path: Path, database_url: str, writer: StoreWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the U-Net raises on one frame, that frame is a `scoring_failed` dead letter, the rest are scored."""
    worker = worker_for(make_settings(tmp_path, database_url), writer)
    unet = tiny_camera_models().unet
    segment = unet.segment

    def fails_on_wide_frames(images: list[np.ndarray]) -> list[np.ndarray]:
        if any(image.shape[1] == 2 * SIZE for image in images):
            raise RuntimeError("CUDA out of memory")  # what a frame too large for the device gives
        return segment(images)

    monkeypatch.setattr(unet, "segment", fails_on_wide_frames)
    wide = np.tile(make_frame(7, SIZE).image, (1, 2))
    batch = [message(i, encode_png(make_frame(i, SIZE).image)) for i in range(3)]
    batch.insert(1, message(9, encode_png(wide)))
    assert worker.process("cam1", batch) == 3
    assert worker.process("cam1", [message(20, encode_png(make_frame(20, SIZE).image))]) == 1
    assert writer.flush(10)
    (dead,) = query(database_url, "SELECT reason FROM dead_letters")
    assert dead.reason == "scoring_failed: RuntimeError: CUDA out of memory"
    keys = [
        row.frame_key.split("@")[0]
        for row in query(database_url, "SELECT frame_key FROM inspections ORDER BY ts")
    ]
    assert keys == ["f0000", "f0001", "f0002", "f0020"]


def test_an_unwritable_artifact_folder_keeps_inspections_and_alerts(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """Artifacts that cannot be written (here: the folder is a file) cost the paths, not the rows."""
    settings = make_settings(tmp_path, database_url)
    blocked = tmp_path / "artifacts"
    blocked.write_text("not a folder")
    worker = worker_for(settings, writer)
    defective = [message(i, encode_png(make_frame(2000 + i, SIZE, DEFECTS).image)) for i in range(4)]
    assert worker.process("cam1", defective) == 4
    assert writer.flush(10)
    rows = query(database_url, "SELECT anomaly, image_path FROM inspections")
    assert len(rows) == 4 and any(row.anomaly for row in rows)
    assert all(row.image_path is None for row in rows)
    assert count(database_url, "alerts", "asset = 'cam1'") == 1
    assert worker.camera_metrics.artifact_errors._value.get() >= 1


def test_artifacts_stop_at_max_per_minute_and_the_rows_are_kept(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """A camera whose every frame is anomalous (a dirty lens) writes artifacts for max_per_minute
    frames only; every frame still has its inspection row."""
    worker = worker_for(make_settings(tmp_path, database_url, max_per_minute=2), writer)
    defective = [message(i, encode_png(make_frame(2000 + i, SIZE, DEFECTS).image)) for i in range(8)]
    assert worker.process("cam1", defective) == 8
    assert writer.flush(10)
    rows = query(database_url, "SELECT anomaly, image_path FROM inspections ORDER BY frame_key")
    anomalous = [row.image_path is not None for row in rows if row.anomaly]
    assert len(rows) == 8 and len(anomalous) >= 4
    assert anomalous == [True, True] + [False] * (len(anomalous) - 2)
    assert len(list((tmp_path / "artifacts").rglob("*_image.png"))) == 2


def test_a_camera_configured_without_unet_runs_only_the_anomaly_model(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """`models: [ae]` scores frames without defect area or count, and refuses a U-Net."""
    worker = CameraWorker(make_settings(tmp_path, database_url, models=["ae"]), writer, Metrics())
    worker.assign_model("cam1", "image-ae", tiny_camera_models().ae)
    with pytest.raises(ValueError, match="configured for image-ae models, not 'unet'"):
        worker.assign_model("cam1", "unet", tiny_camera_models().unet)
    worker._apply_requests()
    assert worker.process("cam1", [message(1, encode_png(make_frame(2, SIZE, DEFECTS).image))]) == 1
    assert writer.flush(10)
    (row,) = query(database_url, "SELECT defect_area, unet_model_version FROM inspections")
    assert row.defect_area is None and row.unet_model_version is None


def test_workers_split_the_cameras_between_them(tmp_path: Path, sqlite_url: str) -> None:
    """With worker.count 2 each camera's frames, and each unknown camera's, are kept by one worker;
    the other counts them as not its own (8 configured + 2 unknown)."""
    cameras = [f"cam{i}" for i in range(8)]
    workers = []
    for index in range(2):
        settings = Settings(
            database={"url": sqlite_url},
            worker={"index": index, "count": 2},
            cameras={name: camera_settings() for name in cameras},
        )
        workers.append(CameraWorker(settings, StoreWriter(create_engine_for(sqlite_url)), Metrics()))
    for name in [*cameras, "stranger1", "stranger2"]:
        for worker in workers:
            worker.put(f"{PREFIX}/site1/{name}/frames", b"frame", time.time(), {})
    kept = [
        {name for name in cameras if worker.owns(name) and worker.backlog(name) == 1} for worker in workers
    ]
    assert kept[0] | kept[1] == set(cameras) and not kept[0] & kept[1] and kept[0] and kept[1]
    assert sum(len(worker._unknown) for worker in workers) == 2
    not_ours = [worker.camera_metrics.not_ours._value.get() for worker in workers]
    assert sum(not_ours) == 10 and all(worker.dropped == 0 for worker in workers)
    for worker in workers:
        worker.writer.close(5)


def test_an_open_camera_alert_is_carried_over_a_model_swap(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """A new anomaly model takes the camera's open alert over; normal frames then resolve that alert."""
    worker = worker_for(make_settings(tmp_path, database_url), writer)
    defective = [message(i, encode_png(make_frame(2000 + i, SIZE, DEFECTS).image)) for i in range(4)]
    assert worker.process("cam1", defective) == 4
    worker.assign_model("cam1", "image-ae", tiny_camera_models().ae)
    worker._apply_requests()
    normal = [message(10 + i, encode_png(make_frame(1000 + i, SIZE).image)) for i in range(4)]
    assert worker.process("cam1", normal) == 4
    assert writer.flush(10)
    assert [row.state for row in query(database_url, "SELECT state FROM alerts")] == ["resolved"]


def test_an_anomaly_model_from_a_handful_of_images_is_served_and_one_without_scores_refused(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """`monitor train image-ae` accepts five images: the daemon starts that model's threshold at the
    highest training score. A model without a finite training score is refused and the camera keeps
    the model it has, rather than the worker failing on every batch."""
    worker = worker_for(make_settings(tmp_path, database_url), writer)
    served = worker._cameras["cam1"].ae
    broken = copy.copy(served)
    broken.training_scores = np.full(5, np.nan)
    worker.assign_model("cam1", "image-ae", broken)
    worker._apply_requests()
    assert worker._cameras["cam1"].ae is served
    few = copy.copy(served)
    few.training_scores = served.training_scores[:5]
    worker.assign_model("cam1", "image-ae", few)
    worker._apply_requests()
    normal = [message(i, encode_png(make_frame(1000 + i, SIZE).image)) for i in range(3)]
    assert worker.process("cam1", normal) == 3
    assert writer.flush(10)
    thresholds = [row.threshold for row in query(database_url, "SELECT threshold FROM inspections")]
    assert thresholds == pytest.approx([few.training_scores.max()] * 3)


def test_a_camera_alert_released_after_an_operator_resolved_it_is_followed_by_a_new_one(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """Defects that persist after an operator resolved the camera's alert open a second alert."""
    worker = worker_for(make_settings(tmp_path, database_url), writer)
    images = [encode_png(make_frame(2000 + i, SIZE, DEFECTS).image) for i in range(4)]
    assert worker.process("cam1", [message(i, image) for i, image in enumerate(images)]) == 4
    (first,) = worker.open_alert_ids()
    worker.release_alerts({first})
    worker._apply_requests()
    assert worker.open_alert_ids() == set()
    # The same defects again, as the part still shows them (the first frame's blob is faint).
    assert worker.process("cam1", [message(4 + i, image) for i, image in enumerate(images)]) == 4
    (second,) = worker.open_alert_ids()
    assert writer.flush(10)
    assert second != first
    rows = query(database_url, "SELECT id, condition FROM alerts")
    assert {(row.id, row.condition) for row in rows} == {(first, "image_score"), (second, "image_score")}


def test_a_frame_stamped_by_a_reset_camera_clock_is_a_dead_letter(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """A 1970 `ts` is refused before anything is stored (retention would delete its images at once)."""
    worker = worker_for(make_settings(tmp_path, database_url), writer)
    frame = encode_png(make_frame(5, SIZE, DEFECTS).image)
    reset = (TOPIC, frame, time.time(), {"frame_id": "f0001", "ts": "1970-01-01T00:00:42Z"})
    assert worker.process("cam1", [reset, message(2, frame)]) == 1
    assert writer.flush(10)
    (dead,) = query(database_url, "SELECT reason FROM dead_letters")
    assert dead.reason.startswith("ts_too_old: 1970-01-01T00:00:42.000+00:00 is ")
    assert "mqtt.max_ts_age_s" in dead.reason
    (row,) = query(database_url, "SELECT frame_key FROM inspections")
    assert row.frame_key.startswith("f0002@")
    assert not list((tmp_path / "artifacts" / "cam1").glob("1970-*"))


def test_the_pixel_limit_counts_the_upscaled_frame(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """With upscale 4, a frame is oversized when 16 times its pixels exceed `max_frame_pixels`."""
    settings = make_settings(tmp_path, database_url, upscale=4, max_frame_pixels=SIZE * SIZE)
    worker = worker_for(settings, writer, sr=True)
    low = low_resolution(make_frame(8, SIZE).image, 4)  # 16x16: 64x64 once upscaled, at the limit
    assert (
        worker.process("cam1", [message(1, encode_png(low)), message(2, encode_png(make_frame(9, 32).image))])
        == 1
    )
    assert writer.flush(10)
    (dead,) = query(database_url, "SELECT reason FROM dead_letters")
    assert dead.reason.startswith("oversized: 32x32")


def test_an_upscaler_of_another_factor_is_refused(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """A camera configured to upscale x2 does not take a x4 generator (its frames would come out x4)."""
    worker = CameraWorker(make_settings(tmp_path, database_url, upscale=2), writer, Metrics())
    with pytest.raises(ValueError, match="upscales x2; sr model .* is x4"):
        worker.assign_model("cam1", "sr", tiny_camera_models().sr)


def test_a_single_bad_part_is_flagged_and_kept_without_an_alert(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """A frame is anomalous by its own score (and gets its images); one bad part alone opens no alert."""
    worker = worker_for(make_settings(tmp_path, database_url), writer)
    normal_seeds = [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1008]  # under the tiny model's threshold
    frames = [message(i, encode_png(make_frame(seed, SIZE).image)) for i, seed in enumerate(normal_seeds)]
    frames[4] = message(4, encode_png(make_frame(2001, SIZE, DEFECTS).image))
    assert worker.process("cam1", frames) == 8
    assert writer.flush(10)
    rows = query(database_url, "SELECT frame_key, anomaly, image_path FROM inspections ORDER BY ts")
    assert [row.anomaly for row in rows] == [i == 4 for i in range(8)]
    assert rows[4].image_path is not None and Path(rows[4].image_path).exists()
    assert count(database_url, "alerts") == 0


def test_a_restart_keeps_a_camera_s_recalibrated_threshold(
    tmp_path: Path, database_url: str, writer: StoreWriter
) -> None:
    """The recent normal scores are saved at a stop: the same anomaly model starts the next run
    at the threshold its last recalibration reached, not at the training scores' one."""
    before = worker_for(make_settings(tmp_path, database_url), writer)
    normal = [message(i, encode_png(make_frame(1000 + i, SIZE).image)) for i in range(12)]
    assert before.process("cam1", normal) == 12
    before.request_recalibration()
    before._apply_requests()
    recalibrated = before._cameras["cam1"].detector.threshold
    fresh = worker_for(make_settings(tmp_path, database_url), writer)
    assert fresh._cameras["cam1"].detector.threshold != pytest.approx(recalibrated)
    before.save_thresholds(tmp_path / "state", "i1")
    after = CameraWorker(make_settings(tmp_path, database_url), writer, Metrics())
    assert after.restore_thresholds(tmp_path / "state", "i1") == 1
    after.assign_model("cam1", "image-ae", tiny_camera_models().ae)
    after._apply_requests()
    assert after._cameras["cam1"].detector.threshold == pytest.approx(recalibrated)
