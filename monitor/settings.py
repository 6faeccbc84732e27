"""The one configuration tree, validated at start-up.

Sources, strongest first: environment variables ``MONITOR_<SECTION>__<KEY>``, then the YAML file
(``--config``, default ``config/monitor.yaml`` when present), then the defaults here, which run with
no file at all. Every field carries a title, a description and bounds; the same strings document
``config/monitor.example.yaml``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("config/monitor.yaml")
ASSET_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_FRAME_PIXELS = 4096 * 2048  # 8.4 MP: 5 MP sensors (2448x2048) and 4K UHD (3840x2160) fit


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, not silently ignored. Keys an earlier
    release had (`retired`: key -> the warning saying what replaced it) are dropped with that
    warning, so a config that was valid when it was written still starts the daemon."""

    model_config = ConfigDict(extra="forbid")
    retired: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, values: Any) -> Any:
        if not (isinstance(values, dict) and cls.retired.keys() & values.keys()):
            return values
        values = dict(values)
        for key in cls.retired.keys() & values.keys():
            del values[key]
            log.warning("config: %s", cls.retired[key])
        return values


class MqttSettings(Section):
    url: str = Field(
        "mqtt://127.0.0.1:1883",
        title="Broker URL",
        description="mqtt://host:port, or mqtts://host:port for TLS.",
    )
    username: str | None = Field(None, title="User name", description="Broker login, if required.")
    password: SecretStr | None = Field(None, title="Password", description="Broker password; never logged.")
    ca_certs: Path | None = Field(
        None, title="CA file", description="CA bundle for mqtts:// (system CAs if unset)."
    )
    client_id: str = Field(
        "plant-monitor",
        title="Client id",
        description="Stable MQTT client id; the persistent session is keyed by it.",
        min_length=1,
        max_length=128,
    )
    receiver: Literal["process", "thread"] = Field(
        "process",
        title="Receiver",
        description="Run the MQTT receive loop in a child process (uses a second core) or a thread.",
    )
    protocol: Literal["5", "3.1.1"] = Field(
        "5", title="MQTT protocol", description="MQTT version; 3.1.1 for brokers without v5."
    )
    topic_prefix: str = Field(
        "plant", title="Topic prefix", description="First topic level of every topic.", min_length=1
    )
    keepalive_s: int = Field(30, title="Keep-alive", description="Seconds between pings.", ge=5, le=3600)
    session_expiry_s: int = Field(
        7 * 24 * 3600,
        title="Session expiry",
        description="How long the broker keeps our queued QoS 1 messages while we are away (v5).",
        ge=0,
        le=2**32 - 1,
    )
    reconnect_min_s: float = Field(
        1.0, title="Reconnect min", description="First reconnect delay.", gt=0, le=60
    )
    reconnect_max_s: float = Field(
        60.0,
        title="Reconnect max",
        description="Longest reconnect delay (exponential backoff).",
        gt=0,
        le=3600,
    )
    max_payload_bytes: int = Field(
        65536,
        title="Max sensor payload",
        description="Larger sensor messages go to dead letters.",
        ge=64,
        le=64 * 1024 * 1024,
    )
    max_ts_ahead_s: float | None = Field(
        600,
        title="Max time ahead",
        description="Messages whose `ts` lies further ahead of the receive time go to dead letters "
        "(ts_in_future): a publisher clock running fast, or local time sent as UTC east of Greenwich. "
        "null: not checked.",
        ge=0,
    )
    max_ts_age_s: float | None = Field(
        7 * 24 * 3600,
        title="Max time age",
        description="Messages whose `ts` lies further behind the receive time go to dead letters "
        "(ts_too_old): a publisher clock reset to 1970 would otherwise file readings where no chart "
        "looks and have its camera images removed by the next retention run. Keep it above the "
        "longest outage a gateway buffers and replays (the default matches session_expiry_s). "
        "null: not checked.",
        gt=0,
    )
    strict_assets: bool = Field(
        False,
        title="Strict assets",
        description="Dead-letter messages from assets not listed in `assets` instead of commissioning them.",
    )
    assets: list[str] = Field(
        default_factory=list,
        title="Known assets",
        description="Asset names accepted in strict mode.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ValueError("must look like mqtt://host:port or mqtts://host:port")
        return value

    @property
    def host(self) -> str:
        return urlparse(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parsed = urlparse(self.url)
        return parsed.port or (8883 if parsed.scheme == "mqtts" else 1883)

    @property
    def tls(self) -> bool:
        return urlparse(self.url).scheme == "mqtts"


class DatabaseSettings(Section):
    url: str = Field(
        "sqlite:///var/monitor.db",
        title="Database URL",
        description="SQLAlchemy URL: SQLite (WAL) by default, postgresql+psycopg://… in production.",
    )
    auto_upgrade: bool = Field(
        False,
        title="Upgrade on start",
        description="Apply pending migrations at start-up instead of refusing to start.",
    )
    write_batch_rows: int = Field(
        2000, title="Write batch", description="Rows per batched SQL write.", ge=1, le=100_000
    )
    write_interval_s: float = Field(
        0.05,
        title="Write interval",
        description="Longest wait before a partial batch is written (bounds publish-to-stored latency).",
        gt=0,
        le=10,
    )


class ModelSettings(Section):
    store: Path = Field(Path("var/models"), title="Model store", description="Directory of model versions.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", title="Device", description="auto uses CUDA (with autocast) when present, else the CPU."
    )


class SensorPipelineSettings(Section):
    window: int = Field(32, title="Window", description="Readings per scored window.", ge=4, le=4096)
    gap_factor: float = Field(
        10,
        title="Gap",
        description="A reading more than this many median reading intervals after the asset's previous "
        "one starts a new window (after a line stop, a gateway outage or a long daemon restart): a "
        "window across the gap would splice two unrelated stretches, which the model finds abnormal. "
        "The first window-1 readings after a gap get no score.",
        ge=2,
        le=1_000_000,
    )
    batch_max: int = Field(
        1024, title="Batch size", description="Most windows scored in one model call.", ge=1, le=65536
    )
    batch_wait_s: float = Field(
        0.02, title="Batch wait", description="Longest wait to fill a batch.", ge=0, le=5
    )
    queue_max: int = Field(
        200_000,
        title="Queue bound",
        description="Readings waiting to be scored; beyond it the receiver blocks (back-pressure).",
        ge=100,
        le=10_000_000,
    )
    baseline_readings: int = Field(
        3600,
        title="Baseline size",
        description="Readings collected from a new asset before its model is trained (commissioning); "
        "an hour at 1 Hz, since a shorter baseline misses slow drifts and flags them later.",
        ge=64,
        le=10_000_000,
    )
    baseline_epochs: int = Field(
        30, title="Baseline epochs", description="Most epochs for commissioning training.", ge=1, le=10_000
    )
    max_abs_value: float = Field(
        1e12,
        title="Largest reading",
        description="Readings of a larger magnitude go to dead letters (out_of_range): PLCs and gateways "
        "report a failed sensor as 3.4e38 or 1e20, which no sensor measures, and such a value would "
        "overflow the model's float32 arithmetic.",
        gt=0,
    )
    max_commissioning: int = Field(
        256,
        title="Assets commissioning at once",
        description="Most new assets collecting a baseline at the same time; messages of further new "
        "assets go to dead letters (commissioning_full) until one has its model or has had no reading "
        "for a day (its baseline is then dropped). Bounds memory "
        "(each baseline holds baseline_readings x channels values) when a gateway publishes under "
        "ever-new asset names; mqtt.strict_assets refuses unknown names outright.",
        ge=1,
        le=100_000,
    )


class QuantileSettings(Section):
    q: float = Field(
        0.99, title="Quantile", description="Quantile of normal scores used as threshold.", gt=0.5, lt=1
    )
    margin: float = Field(1.5, title="Margin", description="Factor applied to the quantile.", ge=1.0, le=10)


class EwmaSettings(Section):
    alpha: float = Field(0.01, title="Forgetting", description="Weight of each new normal score.", gt=0, le=1)
    k: float = Field(4.0, title="k", description="Threshold = mean + k·std.", gt=0, le=50)


class PotSettings(Section):
    risk: float = Field(
        1e-4,
        title="Risk",
        description="Probability of a normal score exceeding the threshold (SPOT q).",
        gt=0,
        le=0.1,
    )
    init_quantile: float = Field(
        0.98, title="Initial quantile", description="Level above which peaks are modelled.", gt=0.5, lt=1
    )


class ThresholdSettings(Section):
    method: Literal["quantile", "ewma", "pot"] = Field(
        "quantile", title="Method", description="Threshold strategy: quantile, ewma or pot (SPOT)."
    )
    quantile: QuantileSettings = Field(default_factory=QuantileSettings)
    ewma: EwmaSettings = Field(default_factory=EwmaSettings)
    pot: PotSettings = Field(default_factory=PotSettings)
    recalibrate_every_s: float = Field(
        3600, title="Recalibration period", description="Seconds between threshold recalibrations.", ge=1
    )
    recalibrate_lookback: int = Field(
        5000,
        title="Recalibration sample",
        description="Most recent non-alert scores used to recalibrate.",
        ge=50,
        le=10_000_000,
    )


class AlertSettings(Section):
    retired: ClassVar[dict[str, str]] = {
        "warning_ratio": "alerts.warning_ratio is no longer used and is ignored: an alert is a warning from "
        "the threshold up, major_ratio and critical_ratio set the rest"
    }
    k: int = Field(3, title="K", description="Alert opens when K of the last N scores exceed.", ge=1, le=1000)
    n: int = Field(5, title="N", description="Length of the K-of-N debounce window.", ge=1, le=1000)
    resolve_after: int = Field(
        10,
        title="M",
        description="Consecutive scores below threshold that resolve an alert.",
        ge=1,
        le=100_000,
    )
    major_ratio: float = Field(
        2.0,
        title="Major",
        description="score/threshold ratio for severity major (cameras: the ratio of the odds p/(1-p), "
        "their scores being probabilities).",
        ge=0.1,
        le=1000,
    )
    critical_ratio: float = Field(
        4.0,
        title="Critical",
        description="score/threshold ratio for severity critical (cameras: the ratio of the odds p/(1-p), "
        "their scores being probabilities).",
        ge=0.1,
        le=10_000,
    )

    @field_validator("n")
    @classmethod
    def _n_at_least_k(cls, n: int, info: Any) -> int:
        k = info.data.get("k")
        if k is not None and n < k:
            raise ValueError(f"must be at least k ({k})")
        return n


class RetentionSettings(Section):
    raw_scores_days: float = Field(
        30,
        title="Raw scores kept",
        description="Days of per-reading scores; older rows roll up per minute.",
        gt=0,
    )
    dead_letters_days: float = Field(30, title="Dead letters kept", description="Days of dead letters.", gt=0)
    artifacts_days: float = Field(30, title="Artifacts kept", description="Days of image artifacts.", gt=0)
    alerts_days: float | None = Field(
        None,
        title="Resolved alerts kept",
        description="Days a resolved alert is kept (from its resolution) with its audit trail, raw readings "
        "and notifications; null (the default) keeps them: an audit trail is deleted only by choice.",
        gt=0,
    )
    inspections_days: float | None = Field(
        None,
        title="Inspections kept",
        description="Days of inspection rows (one per camera frame: about 2 million a day at 25 frames/s); "
        "null (the default) keeps them: they are quality records, deleted only by choice.",
        gt=0,
    )


class SchedulerSettings(Section):
    heartbeat_s: float = Field(
        30, title="Heartbeat", description="Seconds between heartbeats.", ge=1, le=3600
    )
    retention_every_s: float = Field(
        3600, title="Retention period", description="Seconds between retention runs.", ge=10
    )
    registry_poll_s: float = Field(
        5,
        title="Registry poll",
        description="Seconds between checks for a newly activated model version (hot reload) and for "
        "alerts an operator resolved while the condition lasts (a new alert then opens).",
        ge=0.5,
        le=3600,
    )


class MetricsSettings(Section):
    enabled: bool = Field(True, title="Metrics", description="Serve Prometheus metrics.")
    host: str = Field("127.0.0.1", title="Metrics host", description="Address the metrics endpoint binds.")
    port: int = Field(
        9108, title="Metrics port", description="Port of /metrics (0 picks a free one).", ge=0, le=65535
    )


class WorkerSettings(Section):
    index: int = Field(0, title="Worker index", description="This worker's index among `count`.", ge=0)
    count: int = Field(
        1, title="Workers", description="Workers sharing the sensor assets by hash.", ge=1, le=1024
    )
    state_dir: Path = Field(
        Path("var/state"),
        title="State directory",
        description="Window buffers saved on a clean stop, so a restart scores from its first reading.",
    )

    @model_validator(mode="after")
    def _index_below_count(self) -> WorkerSettings:
        if self.index >= self.count:
            raise ValueError(f"index must be below count ({self.count})")
        return self


class ArtifactPolicy(Section):
    anomalous: bool = Field(
        True, title="Anomalous frames", description="Write artifacts for every frame judged anomalous."
    )
    every_n: int = Field(
        0,
        title="Every Nth frame",
        description="Also write artifacts for every Nth frame of the camera (0: never), for spot checks.",
        ge=0,
        le=1_000_000,
    )
    directory: Path = Field(
        Path("var/artifacts"),
        title="Artifact directory",
        description="Root of the images, heatmaps and mask overlays (<camera>/<date>/ below it).",
    )
    max_per_minute: int = Field(
        20,
        title="Most per minute",
        description="Frames of the camera that get artifacts in one minute, at most (0: no limit); later "
        "frames keep their inspection row without files. A dirty lens makes every frame anomalous, and "
        "without a limit its artifacts would fill the disk at the frame rate.",
        ge=0,
        le=100_000,
    )
    min_free_mb: int = Field(
        2048,
        title="Keep free",
        description="No artifacts are written while the disk of the artifact directory has less free space "
        "than this many MB (0: no check): the database usually shares that disk.",
        ge=0,
    )


class CameraSettings(Section):
    models: list[Literal["ae", "unet"]] = Field(
        default_factory=lambda: ["ae", "unet"],  # type: ignore[arg-type]
        title="Models",
        description="Which models score the frames: ae (anomaly score, heatmap; required: it drives "
        "the threshold and alerts) and unet (defect mask, area, count).",
        min_length=1,
    )
    upscale: Literal[2, 4] | None = Field(
        None,
        title="Upscale",
        description="Super-resolution factor applied before scoring (a low-resolution camera), or null.",
    )
    max_frame_bytes: int = Field(
        4 * 1024 * 1024,
        title="Max frame size",
        description="Larger frame messages go to dead letters.",
        ge=1024,
        le=256 * 1024 * 1024,
    )
    max_frame_pixels: int = Field(
        MAX_FRAME_PIXELS,
        title="Max frame pixels",
        description="Frames with more pixels (width x height, read from the header before decoding) "
        "go to dead letters as oversized. Bounds memory and time where max_frame_bytes cannot: a 22 KB "
        "PNG can hold 4096x4096 pixels, each frame is held as float32 through the pipeline and the "
        "U-Net takes about 0.7 s per megapixel on one CPU thread (its own memory is bounded by tiling). "
        "The default (4096x2048) admits 5 MP and 4K sensors. With upscale the limit counts the "
        "upscaled frame: a frame may hold max_frame_pixels / upscale² pixels.",
        ge=64,
        le=1 << 26,
    )
    backlog: int = Field(
        16,
        title="Frame backlog",
        description="Frames waiting to be scored; beyond it the oldest is dropped (and counted).",
        ge=1,
        le=10_000,
    )
    batch_max: int = Field(
        8, title="Frame batch", description="Most frames scored in one model call.", ge=1, le=1024
    )
    artifacts: ArtifactPolicy = Field(default_factory=ArtifactPolicy)

    @field_validator("models")
    @classmethod
    def _ae_required(cls, models: list[str]) -> list[str]:
        if "ae" not in models:
            raise ValueError("must include ae (its score drives the threshold and the alerts)")
        return list(dict.fromkeys(models))


SEVERITIES = ("warning", "major", "critical")
Severity = Literal["warning", "major", "critical"]
ROLES = ("viewer", "operator", "admin")


class WebhookSettings(Section):
    url: str = Field(title="URL", description="http(s) endpoint that receives each alert as a JSON POST.")
    secret: SecretStr | None = Field(
        None,
        title="Signing secret",
        description="HMAC-SHA256 key; the signature of the body goes in the X-Monitor-Signature header "
        "as sha256=<hex>. Never logged.",
    )
    timeout_s: float = Field(
        5.0, title="Timeout", description="Seconds to wait for the response.", gt=0, le=120
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return url


class SmtpSettings(Section):
    host: str = Field("127.0.0.1", title="SMTP host", description="Mail server for the e-mail channel.")
    port: int = Field(587, title="SMTP port", description="587 for STARTTLS submission.", ge=1, le=65535)
    starttls: bool = Field(
        True, title="STARTTLS", description="Upgrade the connection with STARTTLS before login."
    )
    username: str | None = Field(None, title="SMTP user", description="Login, if the server requires one.")
    password: SecretStr | None = Field(None, title="SMTP password", description="Never logged.")
    sender: str = Field(
        "plant-monitor@localhost", title="From", description="Sender address of alert e-mails."
    )
    timeout_s: float = Field(
        10.0, title="SMTP timeout", description="Seconds per SMTP operation.", gt=0, le=300
    )


class RouteSettings(Section):
    name: str = Field(
        title="Route name",
        description="Shown with each delivery in the dashboard.",
        pattern=ASSET_NAME_PATTERN,
    )
    groups: list[str] = Field(
        default_factory=list,
        title="Asset groups",
        description="Groups (notify.groups) whose alerts take this route; empty: every asset and camera.",
    )
    severities: list[Severity] = Field(
        default_factory=lambda: list(SEVERITIES),  # type: ignore[arg-type]
        title="Severities",
        description="Alert severities that take this route.",
        min_length=1,
    )
    webhooks: list[str] = Field(
        default_factory=list, title="Webhooks", description="Names of notify.webhooks to POST to."
    )
    emails: list[str] = Field(
        default_factory=list, title="E-mail recipients", description="Addresses to mail (needs notify.smtp)."
    )


class EscalationSettings(Section):
    after_s: float = Field(
        900,
        title="Escalate after",
        description="Seconds an alert may stay unacknowledged before it is re-sent to the escalation route.",
        gt=0,
    )
    severities: list[Severity] = Field(
        default_factory=lambda: ["critical"],  # type: ignore[arg-type]
        title="Escalated severities",
        description="Severities that escalate.",
    )
    route: RouteSettings | None = Field(
        None,
        title="Escalation route",
        description="Where escalations go (its groups and severities are ignored); null: no escalation.",
    )


class NotifySettings(Section):
    retired: ClassVar[dict[str, str]] = {
        "max_attempts": "notify.max_attempts is no longer used and is ignored: notifications are retried "
        "for notify.give_up_after_s instead"
    }
    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        title="Asset groups",
        description="Group name -> asset or camera names (shell patterns allowed, e.g. pump-*).",
    )
    webhooks: dict[str, WebhookSettings] = Field(
        default_factory=dict, title="Webhooks", description="Named webhook endpoints used by routes."
    )
    smtp: SmtpSettings | None = Field(
        None, title="SMTP", description="Mail server; required by e-mail routes."
    )
    routes: list[RouteSettings] = Field(
        default_factory=list,
        title="Routes",
        description="Who hears about which alerts. The MQTT alerts topic always carries every alert "
        "change (fixed contract); routes add webhooks and e-mail.",
    )
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    min_interval_s: float = Field(
        300,
        title="Repeat limit",
        description="Least seconds between two alerts of the same asset told to the same target: an "
        "asset whose alerts come and go tells each target once per interval (an alert's own severity "
        "rises, acknowledgement and resolution always reach those told of it).",
        ge=0,
    )
    give_up_after_s: float = Field(
        3 * 24 * 3600,
        title="Give up after",
        description="Seconds a notification is retried (exponential backoff) before it is marked failed: "
        "long enough to outlast a mail server or webhook down over a weekend.",
        gt=0,
    )
    retry_min_s: float = Field(1.0, title="First retry", description="Seconds before the first retry.", gt=0)
    retry_max_s: float = Field(
        300.0, title="Longest retry", description="Cap on the backoff in seconds.", gt=0
    )

    @model_validator(mode="after")
    def _routes_refer_to_known_names(self) -> NotifySettings:
        routes = list(self.routes) + ([self.escalation.route] if self.escalation.route else [])
        for route in routes:
            for name in route.webhooks:
                if name not in self.webhooks:
                    raise ValueError(
                        f"route {route.name}: unknown webhook {name!r} (known: {sorted(self.webhooks)})"
                    )
            for group in route.groups:
                if group not in self.groups:
                    raise ValueError(
                        f"route {route.name}: unknown group {group!r} (known: {sorted(self.groups)})"
                    )
            if route.emails and self.smtp is None:
                raise ValueError(f"route {route.name}: e-mail recipients need notify.smtp")
        return self


class UserSettings(Section):
    password_hash: str = Field(
        title="Password hash",
        description="bcrypt hash of the password (`monitor dashboard hash-password`); never the password.",
        pattern=r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$",
    )
    role: Literal["viewer", "operator", "admin"] = Field(
        "viewer",
        title="Role",
        description="viewer: read only; operator: acknowledge, resolve, maintenance, model activation; "
        "admin: everything.",
    )


class DashboardSettings(Section):
    host: str = Field("127.0.0.1", title="Dashboard host", description="Address the dashboard binds.")
    port: int = Field(8501, title="Dashboard port", description="HTTP port of the dashboard.", ge=1, le=65535)
    public_url: str = Field(
        "http://localhost:8501",
        title="Public URL",
        description="How people reach the dashboard; used for links in notifications.",
    )
    users: dict[Annotated[str, Field(pattern=ASSET_NAME_PATTERN)], UserSettings] = Field(
        default_factory=dict,
        title="Users",
        description="Login name -> password hash and role. With no users the dashboard is read-only "
        "for everyone.",
    )
    refresh_s: float = Field(
        15,
        title="Auto-refresh",
        description="Seconds between refreshes of live pages (0: off).",
        ge=0,
        le=3600,
    )
    page_rows: int = Field(
        200,
        title="Rows per page",
        description="Most rows a table loads at once (name selectors list every asset, up to 5,000).",
        ge=10,
        le=10_000,
    )


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", title="Log level", description="Least severe level written."
    )
    json_format: bool = Field(
        True,
        title="JSON logs",
        description="One JSON object per line (for log shippers); false for plain text.",
    )


class Settings(BaseSettings):
    """The whole configuration of one `monitor` instance."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", env_nested_delimiter="__", extra="forbid")

    instance: str = Field(
        "monitor-1",
        title="Instance name",
        description="Names this daemon in the status topic and logs.",
        pattern=ASSET_NAME_PATTERN,
    )
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    sensors: SensorPipelineSettings = Field(default_factory=SensorPipelineSettings)
    thresholds: ThresholdSettings = Field(default_factory=ThresholdSettings)
    image_thresholds: ThresholdSettings = Field(
        default_factory=lambda: ThresholdSettings(quantile=QuantileSettings(margin=1.0)),
        title="Image thresholds",
        description="Threshold strategy of the cameras' anomaly scores (and the calibration written by "
        "`monitor train image-ae`). Apart from `thresholds` because an image score is an anomaly "
        "probability, at most 1: the sensors' multiplying margin would put the threshold out of reach.",
    )
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    cameras: dict[Annotated[str, Field(pattern=ASSET_NAME_PATTERN)], CameraSettings] = Field(
        default_factory=dict,
        title="Cameras",
        description="Inspection cameras by name (the <camera> topic level), e.g. "
        "{line1-cam: {models: [ae, unet], upscale: 4, artifacts: {every_n: 100}}}; "
        "their models are the active image-ae, unet and sr versions of that name in the registry.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment overrides the file; the file arrives as init kwargs (see load_settings).
        return env_settings, init_settings


class ConfigError(Exception):
    """A configuration problem, already phrased for the operator (one line per error)."""


def format_validation_error(error: ValidationError) -> str:
    """Render pydantic errors as `section.key: problem` lines, the way operators read configs."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(root)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{path}: {_plain(message)}")
    return "\n".join(lines)


def _plain(message: str) -> str:
    """Turn pydantic's 'Input should be less than or equal to 0.1' into 'must be at most 0.1'."""
    replacements = {
        "Input should be less than or equal to": "must be at most",
        "Input should be greater than or equal to": "must be at least",
        "Input should be less than": "must be less than",
        "Input should be greater than": "must be greater than",
        "Input should be": "must be",
        "Value error, ": "",
    }
    for old, new in replacements.items():
        if message.startswith(old):
            return new + message[len(old) :]
    return message


def load_settings(path: Path | None = None) -> Settings:
    """Read the YAML file (if any) and the environment; raise ConfigError naming every bad key."""
    file_values: dict[str, Any] = {}
    config_path = (
        path if path is not None else (DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None)
    )
    if config_path is not None:
        if not config_path.exists():
            raise ConfigError(f"{config_path}: no such config file")
        try:
            loaded = yaml.safe_load(config_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{config_path}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_path}: the top level must be a mapping of sections")
        file_values = loaded
    try:
        return Settings(**file_values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from exc
