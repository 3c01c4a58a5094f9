"""describe's rows and the Markdown table: types, defaults as YAML, examples, secret/advanced."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from pump.config import ComponentConfig, mask_secret
from pump.describe import config_fields, render_markdown_table


class Config(ComponentConfig):
    url: SecretStr = Field(
        SecretStr("amqp://guest:guest@localhost/"),
        description="Where to connect",
        examples=["amqps://me:hunter2@broker.example/"],
    )
    token: SecretStr = Field(SecretStr(""), description="API token")
    api_key: str = Field("k-123", description="Key", json_schema_extra={"secret": True})
    mode: Literal["a", "b"] = Field("a", description="Mode", examples=["b"])
    tuning: int = Field(5, gt=0, description="Rarely needed", json_schema_extra={"advanced": True})
    names: list[str] = Field(default_factory=list, description="Names")
    needed: str = Field(..., description="A | pipe")


def test_rows_mask_secrets_but_keep_empty_ones_and_url_hosts():
    rows = {r["name"]: r for r in config_fields(Config)}
    assert rows["url"]["default"] == "amqp://guest:*****@localhost/"
    assert rows["url"]["examples"] == ["amqps://me:*****@broker.example/"]
    assert rows["token"]["default"] == "" and rows["token"]["secret"]
    assert rows["api_key"]["default"] == "*****" and rows["api_key"]["type"] == "str"
    assert rows["names"]["default"] == [] and rows["needed"]["required"]
    assert rows["tuning"]["advanced"] and not rows["mode"]["advanced"]


def test_the_markdown_table():
    lines = render_markdown_table(config_fields(Config)).splitlines()
    assert lines[:2] == ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    by_key = {line.split(" | ")[0].removeprefix("| "): line for line in lines[2:]}
    assert by_key["`url`"] == (
        '| `url` | `str` | `"amqp://guest:*****@localhost/"` | Where to connect (secret). '
        'Examples: `"amqps://me:*****@broker.example/"` |'
    )
    assert by_key["`mode`"] == "| `mode` | `'a' \\| 'b'` | `\"a\"` | Mode. Examples: `\"b\"` |"
    assert by_key["`tuning`"] == "| `tuning` | `int` | `5` | Rarely needed (> 0; advanced) |"
    assert by_key["`names`"] == "| `names` | `list[str]` | `[]` | Names |"
    assert by_key["`needed`"] == "| `needed` | `str` | required | A \\| pipe |"
    assert "hunter2" not in "\n".join(lines) and "k-123" not in "\n".join(lines)


def test_mask_secret():
    assert mask_secret("amqp://u:p@h:5672/v") == "amqp://u:*****@h:5672/v"
    assert mask_secret("https://h/path?token=abc") == "https://h/path?*****"
    assert mask_secret("https://h/path") == "https://h/path"
    assert mask_secret("plain") == "*****" and mask_secret("") == "" and mask_secret(None) == ""


def test_masked_config_keeps_a_urls_host_and_hides_its_password():
    masked = Config(needed="x", url="amqp://me:hunter2@broker.example:5672/vh").masked()
    assert masked["url"] == "amqp://me:*****@broker.example:5672/vh"
    assert masked["api_key"] == "*****" and masked["token"] == SecretStr("")
    assert "hunter2" not in repr(Config(needed="x", url="amqp://me:hunter2@b/"))
