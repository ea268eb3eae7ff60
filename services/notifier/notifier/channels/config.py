"""Channels as policy data (`notifier/policy/people.toml`, `[[channels]]`): who a channel reaches (dealers,
positions, triggers) and how to reach it. Secrets are read from the environment variables the entry names, so the
policy file can be reviewed and versioned without holding a key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadnet_shared.policy import PolicyError
from notifier.channels.aliyun_sms import AliyunSms
from notifier.channels.base import Channel
from notifier.channels.dingtalk import DingTalkRobot
from notifier.channels.email import SmtpMail
from notifier.channels.wecom import WeComRobot

KINDS = ("wecom", "dingtalk", "aliyun_sms", "email")


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    channel_id: str
    kind: str
    dealers: frozenset[str]
    positions: frozenset[str]
    triggers: frozenset[str] | None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def reaches(self, *, dealer: str, position: str, trigger: str) -> bool:
        return (
            ("*" in self.dealers or dealer in self.dealers)
            and ("*" in self.positions or position in self.positions)
            and (self.triggers is None or trigger in self.triggers)
        )


def parse_channels(entries: Any, origin: str) -> tuple[ChannelSpec, ...]:
    if not isinstance(entries, list):
        raise PolicyError(f"{origin}: channels must be a list of tables")
    specs: list[ChannelSpec] = []
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise PolicyError(f"{origin}: a channel must be a table")
        channel_id, kind = entry.get("id"), entry.get("kind")
        if not isinstance(channel_id, str) or not channel_id or channel_id in seen:
            raise PolicyError(f"{origin}: each channel needs a unique string id (got {channel_id!r})")
        if kind not in KINDS:
            raise PolicyError(f"{origin}: channel {channel_id} has unknown kind {kind!r} (one of {KINDS})")
        seen.add(channel_id)
        triggers = entry.get("triggers")
        specs.append(
            ChannelSpec(
                channel_id=channel_id,
                kind=kind,
                dealers=frozenset(_strings(entry.get("dealers", ["*"]), origin, channel_id)),
                positions=frozenset(_strings(entry.get("positions", ["*"]), origin, channel_id)),
                triggers=None if triggers is None else frozenset(_strings(triggers, origin, channel_id)),
                settings={
                    k: v for k, v in entry.items() if k not in ("id", "kind", "dealers", "positions", "triggers")
                },
            )
        )
    return tuple(specs)


def _strings(value: Any, origin: str, channel_id: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{origin}: channel {channel_id}: dealers, positions and triggers are lists of strings")
    return value


def _secret(spec: ChannelSpec, name: str, env: Mapping[str, str], *, required: bool = True) -> str | None:
    variable = spec.settings.get(f"{name}_env")
    value = env.get(variable) if isinstance(variable, str) else None
    if required and not value:
        raise PolicyError(f"channel {spec.channel_id}: set {name}_env to an environment variable holding its {name}")
    return value


REQUIRED_SECRETS = {
    "wecom": ("key",),
    "dingtalk": ("access_token",),
    "aliyun_sms": ("access_key_id", "access_key_secret", "phone_numbers"),
    "email": ("recipients",),
}
REQUIRED_SETTINGS = {"aliyun_sms": ("sign_name", "template_code"), "email": ("host", "sender")}


def check_channels(specs: tuple[ChannelSpec, ...], env: Mapping[str, str]) -> None:
    """`PolicyError` naming every channel whose secret variables are unset or whose settings are missing: checked
    when the service starts, not at the first message hours later."""
    problems = [
        f"{spec.channel_id}: {name}_env names no set variable"
        for spec in specs
        for name in REQUIRED_SECRETS[spec.kind]
        if not _secret(spec, name, env, required=False)
    ] + [
        f"{spec.channel_id}: {name} is missing"
        for spec in specs
        for name in REQUIRED_SETTINGS.get(spec.kind, ())
        if not spec.settings.get(name)
    ]
    if problems:
        raise PolicyError("people channels: " + "; ".join(problems))


def build_channel(spec: ChannelSpec, env: Mapping[str, str]) -> Channel:
    """The adapter for one configured channel; `PolicyError` when a secret it names is not set."""
    s = spec.settings
    if spec.kind == "wecom":
        return WeComRobot(
            spec.channel_id,
            key=str(_secret(spec, "key", env)),
            base_url=str(s.get("base_url", "https://qyapi.weixin.qq.com")),
        )
    if spec.kind == "dingtalk":
        return DingTalkRobot(
            spec.channel_id,
            access_token=str(_secret(spec, "access_token", env)),
            secret=_secret(spec, "secret", env, required=False),
            base_url=str(s.get("base_url", "https://oapi.dingtalk.com")),
        )
    if spec.kind == "aliyun_sms":
        numbers = str(_secret(spec, "phone_numbers", env))
        return AliyunSms(
            spec.channel_id,
            access_key_id=str(_secret(spec, "access_key_id", env)),
            access_key_secret=str(_secret(spec, "access_key_secret", env)),
            sign_name=str(s["sign_name"]),
            template_code=str(s["template_code"]),
            phone_numbers=[n.strip() for n in numbers.split(",") if n.strip()],
            endpoint=str(s.get("endpoint", "https://dysmsapi.aliyuncs.com")),
        )
    recipients = str(_secret(spec, "recipients", env))
    return SmtpMail(
        spec.channel_id,
        host=str(s["host"]),
        port=int(s.get("port", 587)),
        sender=str(s["sender"]),
        recipients=[r.strip() for r in recipients.split(",") if r.strip()],
        username=_secret(spec, "username", env, required=False),
        password=_secret(spec, "password", env, required=False),
        security=str(s.get("security", "starttls")),
    )
