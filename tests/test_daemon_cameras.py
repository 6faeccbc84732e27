"""The daemon with cameras, over the real broker and databases: frames in -> inspections rows."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
from camera_helpers import DEFECTS, SIZE, camera_settings, install_camera_models, tiny_camera_models
from daemon_helpers import count, daemon_settings, query, running, wait_for
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from models.images import encode_png
from monitor.ingest.topics import frames_topic
from monitor.pipeline.worker import owns_asset
from monitor.simulate_frames import make_frame


class FramePublisher:
    """A paho client publishing frames with v5 user properties, or JSON envelopes over 3.1.1."""

    def __init__(self, broker: tuple[str, int], v5: bool = True) -> None:
        protocol = paho.MQTTv5 if v5 else paho.MQTTv311
        self.v5 = v5
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"cam-{uuid.uuid4().hex[:8]}", protocol=protocol
        )
        self.client.max_inflight_messages_set(500)
        self.client.connect(*broker)
        self.client.loop_start()

    def frame(self, topic: str, image_png: bytes, frame_id: str) -> paho.MQTTMessageInfo:
        if not self.v5:
            envelope = {"frame_id": frame_id, "image_b64": base64.b64encode(image_png).decode()}
            return self.client.publish(topic, json.dumps(envelope), qos=1)
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = [("frame_id", frame_id), ("ts", datetime.now(UTC).isoformat())]
        return self.client.publish(topic, image_png, qos=1, properties=properties)

    def raw(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _settings(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    database_url: str,
    broker: tuple[str, int],
    prefix: str,
    receiver: str = "thread",
    **camera: object,
):
    return daemon_settings(
        tmp_path,
        database_url,
        broker,
        prefix,
        mqtt={"receiver": receiver},
        thresholds={"method": "quantile", "quantile": {"q": 0.99, "margin": 1.0}},
        alerts={"k": 2, "n": 3, "resolve_after": 2},
        cameras={"cam1": camera_settings(artifacts={"directory": tmp_path / "artifacts"}, **camera)},
    )


def test_frames_with_user_properties_become_inspections_and_defects_alert(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """Binary PNG frames with v5 ts/frame_id: one row per frame, keyed by frame id; defects alert."""
    settings = _settings(tmp_path, database_url, mqtt_broker, topic_prefix)
    install_camera_models(settings, "cam1", tiny_camera_models())
    topic = frames_topic(topic_prefix, "site1", "cam1")
    publisher = FramePublisher(mqtt_broker)
    try:
        with running(settings):
            for i in range(5):
                publisher.frame(
                    topic, encode_png(make_frame(1000 + i, SIZE).image), f"n{i}"
                ).wait_for_publish(10)
            for i in range(4):
                publisher.frame(
                    topic, encode_png(make_frame(2000 + i, SIZE, DEFECTS).image), f"d{i}"
                ).wait_for_publish(10)
            assert wait_for(lambda: count(database_url, "inspections") == 9)
            assert wait_for(lambda: count(database_url, "alerts", "asset = 'cam1'") == 1)
    finally:
        publisher.close()
    keys = sorted(
        row.frame_key.split("@")[0] for row in query(database_url, "SELECT frame_key FROM inspections")
    )
    assert keys == ["d0", "d1", "d2", "d3", "n0", "n1", "n2", "n3", "n4"]
    paths = query(database_url, "SELECT image_path FROM inspections WHERE anomaly AND image_path IS NOT NULL")
    assert paths and all(Path(row.image_path).exists() for row in paths)


def test_json_envelope_over_mqtt_311_and_bad_images_go_to_dead_letters(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """A 3.1.1 client's envelopes are scored; garbage and truncated images are dead letters in between."""
    settings = _settings(tmp_path, database_url, mqtt_broker, topic_prefix)
    install_camera_models(settings, "cam1", tiny_camera_models())
    topic = frames_topic(topic_prefix, "site1", "cam1")
    publisher = FramePublisher(mqtt_broker, v5=False)
    try:
        with running(settings):
            good = encode_png(make_frame(7, SIZE).image)
            publisher.frame(topic, good, "e1").wait_for_publish(10)
            publisher.raw(topic, b"\xff\xd8\xff garbage")
            publisher.raw(topic, good[:100])
            publisher.frame(topic, good, "e2").wait_for_publish(10)
            assert wait_for(lambda: count(database_url, "inspections") == 2)
            assert wait_for(lambda: count(database_url, "dead_letters") == 2)
    finally:
        publisher.close()
    reasons = [row.reason for row in query(database_url, "SELECT reason FROM dead_letters")]
    assert all(reason.startswith("undecodable_image") for reason in reasons)


def test_frame_flood_keeps_the_backlog_bounded_and_counts_drops(
    tmp_path: Path, sqlite_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """Frames published much faster than scored (receiver process): the backlog stays within its bound."""
    settings = _settings(tmp_path, sqlite_url, mqtt_broker, topic_prefix, "process", backlog=4, batch_max=1)
    install_camera_models(settings, "cam1", tiny_camera_models())
    topic = frames_topic(topic_prefix, "site1", "cam1")
    payload = encode_png(make_frame(9, 256).image)  # 256x256: slower to score than to publish
    publisher = FramePublisher(mqtt_broker)
    highest = 0
    try:
        with running(settings) as daemon:
            cameras = daemon.cameras
            assert cameras is not None
            infos = [publisher.frame(topic, payload, f"f{i}") for i in range(150)]
            deadline = time.monotonic() + 20
            while not all(info.is_published() for info in infos) and time.monotonic() < deadline:
                highest = max(highest, cameras.backlog("cam1"))
                time.sleep(0.001)
            settle = time.monotonic() + 2
            while time.monotonic() < settle:
                highest = max(highest, cameras.backlog("cam1"))
                time.sleep(0.001)
    finally:
        publisher.close()
    dropped = cameras.dropped
    assert highest <= 4
    assert dropped > 0
    assert count(sqlite_url, "inspections") == 150 - dropped


def test_a_camera_configured_without_unet_gets_no_defect_figures(
    tmp_path: Path, database_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """`models: [ae]`: the registered U-Net stays unloaded, rows carry a score and no defect area."""
    settings = _settings(tmp_path, database_url, mqtt_broker, topic_prefix, models=["ae"])
    install_camera_models(settings, "cam1", tiny_camera_models())
    publisher = FramePublisher(mqtt_broker)
    try:
        with running(settings):
            topic = frames_topic(topic_prefix, "site1", "cam1")
            publisher.frame(topic, encode_png(make_frame(5, SIZE, DEFECTS).image), "x1").wait_for_publish(10)
            assert wait_for(lambda: count(database_url, "inspections") == 1)
    finally:
        publisher.close()
    (row,) = query(database_url, "SELECT score, defect_area, unet_model_version FROM inspections")
    assert row.score is not None and row.defect_area is None and row.unet_model_version is None


def test_two_workers_score_each_camera_on_one_of_them(
    tmp_path: Path, postgres_url: str, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    """worker.count 2: every frame is scored once, by the worker that owns its camera."""
    cameras = ["cam1", "cam2", "cam3", "cam4"]
    workers = [
        daemon_settings(
            tmp_path / f"w{index}",
            postgres_url,
            mqtt_broker,
            topic_prefix,
            worker={"index": index, "count": 2, "state_dir": tmp_path / f"w{index}" / "state"},
            cameras={
                name: camera_settings(artifacts={"directory": tmp_path / "artifacts"}) for name in cameras
            },
        )
        for index in range(2)
    ]
    for name in cameras:
        install_camera_models(workers[0], name, tiny_camera_models())
    publisher = FramePublisher(mqtt_broker)
    try:
        with running(workers[0]) as first, running(workers[1]) as second:
            for name in cameras:
                for i in range(3):
                    image = encode_png(make_frame(100 + i, SIZE).image)
                    publisher.frame(
                        frames_topic(topic_prefix, "site1", name), image, f"{name}-{i}"
                    ).wait_for_publish(10)
            assert wait_for(lambda: count(postgres_url, "inspections") == 12)
            time.sleep(0.5)  # a duplicate scoring would show in the counters by now
            scored = [d.cameras.camera_metrics.scored._value.get() for d in (first, second) if d.cameras]
    finally:
        publisher.close()
    owned = [sum(owns_asset(name, index, 2) for name in cameras) for index in range(2)]
    assert scored == [3 * n for n in owned] and 0 not in owned
