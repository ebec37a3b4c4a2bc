"""Kafka data source settings -> librdkafka client settings; the SASL password comes
from the environment (or is encrypted), never from the workspace file or a log."""

from __future__ import annotations

import pytest

from lakeworks.connectors.credentials import redact, set_decryptor
from lakeworks.connectors.kafka import Config, KafkaSource, client_settings
from lakeworks.connectors.registry import open_source, parse_config
from lakeworks.errors import UserError

BASE = {"type": "kafka", "bootstrap_servers": "k1:9093,k2:9093"}
SASL = {
    **BASE,
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "lakeworks",
    "sasl_password_env": "LW_TEST_KAFKA_PASSWORD",
}


def _source(raw: dict[str, object]) -> KafkaSource:
    source = open_source("clicks", dict(raw))
    assert isinstance(source, KafkaSource)
    return source


def test_without_sasl_the_settings_are_the_plain_ones_plus_options() -> None:
    source = _source({**BASE, "group_id": "g", "options": {"client.id": "lw"}})
    assert client_settings(source.config, source._password) == {
        "bootstrap.servers": "k1:9093,k2:9093",
        "group.id": "g",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "client.id": "lw",
    }


def test_sasl_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LW_TEST_KAFKA_PASSWORD", "kafka-s3cret-value")
    source = _source({**SASL, "options": {"ssl.ca.location": "/etc/ca.pem"}})
    settings = client_settings(source.config, source._password)
    assert {k: v for k, v in settings.items() if k.startswith(("sasl.", "security.", "ssl."))} == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "lakeworks",
        "sasl.password": "kafka-s3cret-value",
        "ssl.ca.location": "/etc/ca.pem",
    }
    # the config and the source never show it; errors that quote it are masked
    assert "kafka-s3cret-value" not in repr(source.config) + repr(vars(source))
    assert "kafka-s3cret-value" not in redact("SASL authentication failed: kafka-s3cret-value")


def test_sasl_password_encrypted() -> None:
    set_decryptor(lambda token: token[::-1])
    try:
        source = _source(
            {**SASL, "sasl_password_env": None, "sasl_password_encrypted": "detpyrcne-akfak"}
        )
    finally:
        set_decryptor(None)
    assert client_settings(source.config, source._password)["sasl.password"] == "kafka-encrypted"


def test_an_unset_password_variable_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LW_TEST_KAFKA_PASSWORD", raising=False)
    with pytest.raises(UserError, match="LW_TEST_KAFKA_PASSWORD is not set"):
        _source(SASL)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {**BASE, "options": {"sasl.password": "inline-secret"}},
            "'sasl.password' is not allowed: passwords are never written in workspace files; "
            "use sasl_password_env or sasl_password_encrypted",
        ),
        (
            {**BASE, "options": {"ssl.key.password": "inline-secret"}},
            "'ssl.key.password' is not allowed: passwords are never written in workspace files",
        ),
        (
            {**BASE, "options": {"sasl.mechanisms": "PLAIN"}},
            "'sasl.mechanisms' has its own key: write sasl_mechanism",
        ),
        ({**BASE, "sasl_password": "inline-secret"}, "'sasl_password' is not allowed"),
        (
            {**SASL, "security_protocol": None},
            "SASL settings need security_protocol SASL_SSL or SASL_PLAINTEXT",
        ),
        ({**SASL, "sasl_mechanism": None}, "SASL settings need sasl_mechanism"),
        ({**SASL, "sasl_username": None}, "a SASL password needs sasl_username"),
        ({**SASL, "sasl_mechanism": "MD5"}, "'sasl_mechanism'"),
    ],
)
def test_bad_settings_are_refused_without_showing_secrets(
    raw: dict[str, object], message: str
) -> None:
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(UserError) as info:
        parse_config("clicks", raw)
    assert message in info.value.message
    assert "inline-secret" not in info.value.render()


def test_config_model_defaults() -> None:
    config = Config(bootstrap_servers="k:9092")
    assert client_settings(config, None)["group.id"] == "lakeworks-sync"
    assert "sasl.password" not in client_settings(config, None)
