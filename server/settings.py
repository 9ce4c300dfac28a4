"""Settings: the only module that reads the environment.

A malformed value stops start-up with a message naming the variable, rather than failing
later in a request.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(SystemExit):
    """Raised (as a clean exit) when the environment holds a malformed setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)
    _secret: bytes | None = PrivateAttr(default=None)

    # services; unset means "start the embedded ones" (opdq dev) or "refuse" (plain server)
    database_url: str | None = None
    redis_url: str | None = None
    # a Redis Cluster (docs/scale.md): REDIS_URL then names any one of its nodes (database 0).
    # ARQ's job queue cannot live in a cluster, so the jobs then need JOBS_REDIS_URL, a small
    # plain Redis; unset otherwise, the jobs share REDIS_URL.
    redis_cluster: bool = False
    jobs_redis_url: str | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: AnyHttpUrl | None = None
    secret_key: SecretStr | None = None
    data_dir: Path = Path(".opdq")
    environment: str = Field(default="development", pattern="^(development|test|production)$")

    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    log_json: bool | None = None  # unset: JSON lines in production, readable lines elsewhere

    # sessions and limits
    session_ttl_hours: int = Field(default=12, ge=1, le=168)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    allowed_origins: list[str] = Field(default_factory=list)
    public_rate_per_minute: int = Field(default=60, ge=1)

    # login throttling (server/auth/ratelimit.py): only failures count. Per username and
    # client address, the first LOGIN_FREE_FAILURES are free, then each failure doubles a
    # lock-out from LOGIN_DELAY_BASE_S up to LOGIN_DELAY_MAX_S; per address (a hospital's
    # staff share one NAT) at most LOGIN_ADDRESS_MAX_FAILURES, and per username across
    # addresses LOGIN_USER_MAX_FAILURES (past it only addresses that have not failed for that
    # user are heard), each within LOGIN_FAILURE_WINDOW_S.
    login_free_failures: int = Field(default=5, ge=0, le=100)
    login_delay_base_s: float = Field(default=1.0, ge=0.001, le=3600)
    login_delay_max_s: int = Field(default=900, ge=1, le=86400)
    login_failure_window_s: int = Field(default=900, ge=1, le=86400)
    login_address_max_failures: int = Field(default=200, ge=1)
    login_user_max_failures: int = Field(default=50, ge=1)

    # a Next without current_token_id this soon after a call is taken for a double tap
    next_guard_ms: int = Field(default=2000, ge=0, le=60000)

    # Postgres pool
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    # the worker (workers/run.py) keeps this file while it is ready: a health check's `test -f`
    worker_ready_file: Path | None = None
    # shown in pg_stat_activity; web and worker processes may set their own
    db_application_name: str = Field(default="opdq", pattern=r"^[a-z0-9_.-]{1,63}$")

    # /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it answers 404.
    # The worker serves its own figures on WORKER_METRICS_PORT (no token: bind it privately).
    # See docs/operations.md "Metrics".
    metrics_token: SecretStr | None = None
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # realtime
    ws_send_queue: int = Field(default=256, ge=8)  # messages held for a socket not yet live
    # bytes a client may leave unread in its transport before it is dropped (close 4408)
    ws_send_buffer_bytes: int = Field(default=262144, ge=4096)
    ws_heartbeat_s: float = Field(default=20.0, gt=0)
    # the garbage collector's thresholds once started (gc.set_threshold; CPython's default is
    # 700,10,10): a full collection walks every open socket's objects and held a process's
    # event loop 25-135 ms every few seconds under load (server.app, docs/benchmarks.md run D)
    # (the first must be at least 1: 0 would turn automatic collection off altogether)
    gc_thresholds: str = Field(default="50000,20,10", pattern=r"^[1-9]\d*,\d+,\d+$")
    event_stream_maxlen: int = Field(default=5000, ge=100)
    # how long a web process may reuse a doctor's rendered queue while nothing changed
    # (server/view_cache.py); 0: render every read
    view_cache_s: float = Field(default=2.0, ge=0, le=60)

    # Twilio (no credentials: messages are logged, not sent)
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_whatsapp_template_sid: str | None = None
    twilio_base_url: AnyHttpUrl | None = None  # tests point this at a local fake
    twilio_status_callback_url: AnyHttpUrl | None = None

    # optional OpenAI-compatible explainer
    openai_api_key: SecretStr | None = None
    openai_base_url: AnyHttpUrl | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = Field(default=5.0, gt=0, le=30)

    # integrations (docs/integrations.md): requests a minute per API key; outgoing webhooks:
    # the HTTP timeout, the retry backoff (doubling from base to max), how long a
    # subscription may fail before it is paused, and whether private or loopback addresses
    # may receive deliveries (off: a webhook URL cannot reach into the hospital's network)
    api_key_rate_per_minute: int = Field(default=600, ge=1)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_base_s: float = Field(default=10.0, gt=0, le=3600)
    webhook_retry_max_s: float = Field(default=3600.0, gt=0, le=86400)
    webhook_pause_after_s: float = Field(default=86400.0, gt=0)
    webhook_allow_private: bool = False

    # web push to the patient page (server/notifications/push.py): the VAPID key (base64url,
    # raw or DER; unset: one kept in the data folder), the contact push services see (mailto:
    # or https:; unset: PUBLIC_BASE_URL when https), whether push endpoints may be private
    # addresses (tests' local fake push service)
    vapid_private_key: SecretStr | None = None
    vapid_subject: str | None = Field(default=None, pattern=r"^(mailto:|https://)\S+$")
    push_allow_private: bool = False

    # ABDM Scan & Share (server/integrations/abdm.py; off unless all three are set): the
    # gateway's base URL (the on-share callback goes there), the bearer the gateway presents
    # on its calls to us, the bearer we present to it; counters map "<hip id>/<counter id>"
    # (or "<hip id>") to "<hospital code>/<department code>" (JSON in the environment)
    abdm_gateway_url: AnyHttpUrl | None = None
    abdm_gateway_token: SecretStr | None = None
    abdm_hip_token: SecretStr | None = None
    abdm_cm_id: str = Field(default="sbx", pattern=r"^[a-z0-9]{2,10}$")
    abdm_counters: dict[str, str] = Field(default_factory=dict)

    @field_validator("database_url")
    @classmethod
    def _postgres_scheme(cls, v: str | None) -> str | None:
        if v and not v.startswith(("postgres://", "postgresql://")):
            raise ValueError("must start with postgresql://")
        return v or None

    @field_validator("redis_url", "jobs_redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v or None

    @model_validator(mode="after")
    def _cluster_needs_a_jobs_redis(self) -> Settings:
        if not self.redis_cluster:
            return self
        if not self.jobs_redis_url:
            raise ValueError("JOBS_REDIS_URL must be set when REDIS_CLUSTER is true: ARQ's "
                             "job queue needs a plain Redis (docs/scale.md)")
        if self.redis_url and urlsplit(self.redis_url).path not in ("", "/", "/0"):
            raise ValueError("with REDIS_CLUSTER, REDIS_URL must name database 0 (a cluster "
                             "has no other)")
        return self

    @property
    def jobs_url(self) -> str | None:
        """Where ARQ keeps its jobs: JOBS_REDIS_URL, else REDIS_URL."""
        return self.jobs_redis_url or self.redis_url

    @model_validator(mode="after")
    def _json_logs_in_production(self) -> Settings:
        if self.log_json is None:
            self.log_json = self.environment == "production"
        return self

    @property
    def base_url(self) -> str:
        if self.public_base_url:
            return str(self.public_base_url).rstrip("/")
        return f"http://{self.host}:{self.port}"

    def secret(self) -> bytes:
        """The signing key: SECRET_KEY, else one kept in the data folder (single-host dev).
        Read once: every patient link of a list is signed with it."""
        if self._secret is None:
            if self.secret_key:
                self._secret = self.secret_key.get_secret_value().encode()
            else:
                path = self.data_dir / "secret_key"
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(secrets.token_urlsafe(48))
                    path.chmod(0o600)
                self._secret = path.read_text().strip().encode()
        return self._secret


def load_settings(**overrides: object) -> Settings:
    """Read the environment; on a bad value exit naming the variable and the problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [
            f"invalid setting {'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        ]
        raise SettingsError("\n".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
