"""``type: spark`` options: master URLs are checked before Spark starts."""

from __future__ import annotations

import pytest

from lakeworks.engines.spark.config import parse_options
from lakeworks.engines.spark.session import connect_address
from lakeworks.errors import UserError


@pytest.mark.parametrize(
    "master", ["local[*]", "local[2]", "local", "spark://h:7077", "sc://h:15002", "yarn"]
)
def test_spark_master_urls_are_accepted(master: str) -> None:
    assert parse_options({"master": master}, engine="big").master == master


@pytest.mark.parametrize("master", ["spark:/h:7077", "h:7077", "sc:h", ""])
def test_a_mistyped_master_names_the_forms_expected(master: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_options({"master": master}, engine="big")
    assert "engine 'big' (spark) has invalid options: master" in str(raised.value)
    assert "spark://host:7077 or sc://host:15002" in str(raised.value)


def test_connect_urls_give_host_and_port() -> None:
    assert connect_address("sc://spark.example:15010") == ("spark.example", 15010)
    assert connect_address("sc://10.0.0.5/;token=abc;use_ssl=true") == ("10.0.0.5", 15002)
    with pytest.raises(UserError, match="names no host"):
        connect_address("sc://:15002")
    with pytest.raises(UserError, match="invalid port"):
        connect_address("sc://h:port")
