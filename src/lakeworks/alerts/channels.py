"""Sending one alert message over a channel: webhook formats with their signing, SMTP.

Building a request is pure (``webhook_request``); ``send`` does the I/O. Every
message carries its idempotency key (header ``Idempotency-Key`` / ``X-Lakeworks-
Idempotency-Key``, e-mail ``Message-ID``), so a receiver can drop the duplicate that
at-least-once delivery may produce after a crash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from lakeworks.alerts.models import ChannelConfig, EmailChannel, WebhookChannel, WebhookFormat
from lakeworks.errors import TransientError


@dataclass(frozen=True)
class OutgoingMessage:
    idempotency_key: str
    kind: str
    """``alert`` or ``recovered``."""
    title: str
    body: str
    rule: str
    incident_id: int
    created_at: datetime
    mentions: tuple[str, ...] = ()
    """Users the message is for (named in the text; e-mail addresses for SMTP)."""


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _text(message: OutgoingMessage) -> str:
    mentions = " ".join(f"@{m}" for m in message.mentions)
    text = f"{message.title}\n{message.body}"
    return f"{text}\n{mentions}" if mentions else text


def _hmac_b64(key: bytes, data: bytes) -> str:
    return base64.b64encode(hmac.new(key, data, hashlib.sha256).digest()).decode()


def webhook_request(
    channel: WebhookChannel, message: OutgoingMessage, secret: str | None, now: datetime
) -> WebhookRequest:
    """The HTTP request for ``message`` in the channel's format, signed if it has a secret.

    - ``webhook``: JSON of the message; with a secret, ``X-Lakeworks-Signature:
      sha256=<hex HMAC of "<timestamp>.<body>">`` and ``X-Lakeworks-Timestamp``;
    - ``dingtalk``: ``timestamp`` (ms) and ``sign`` (base64 HMAC-SHA256 of
      ``"<timestamp>\\n<secret>"`` keyed by the secret) in the query string;
    - ``feishu``: ``timestamp`` (s) and ``sign`` (base64 HMAC-SHA256 of an empty
      message keyed by ``"<timestamp>\\n<secret>"``) in the body;
    - ``slack`` and ``wecom`` are authenticated by their URL alone.
    """
    url = channel.url
    text = _text(message)
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": message.idempotency_key,
        "X-Lakeworks-Idempotency-Key": message.idempotency_key,
    }
    payload: dict[str, object]
    kind = WebhookFormat(channel.type)
    if kind is WebhookFormat.SLACK:
        payload = {"text": text}
    elif kind is WebhookFormat.DINGTALK:
        payload = {
            "msgtype": "text",
            "text": {"content": text},
            "at": {"atUserIds": list(message.mentions)},
        }
        if secret:
            stamp = str(int(now.timestamp() * 1000))
            sign = _hmac_b64(secret.encode(), f"{stamp}\n{secret}".encode())
            query = urllib.parse.urlencode({"timestamp": stamp, "sign": sign})
            url = f"{url}{'&' if '?' in url else '?'}{query}"
    elif kind is WebhookFormat.FEISHU:
        payload = {"msg_type": "text", "content": {"text": text}}
        if secret:
            stamp = str(int(now.timestamp()))
            payload["timestamp"] = stamp
            payload["sign"] = _hmac_b64(f"{stamp}\n{secret}".encode(), b"")
    elif kind is WebhookFormat.WECOM:
        payload = {
            "msgtype": "text",
            "text": {"content": text, "mentioned_list": list(message.mentions)},
        }
    else:
        payload = {
            "idempotency_key": message.idempotency_key,
            "kind": message.kind,
            "rule": message.rule,
            "incident_id": message.incident_id,
            "title": message.title,
            "text": message.body,
            "recipients": list(message.mentions),
            "created_at": message.created_at.isoformat(),
        }
    body = json.dumps(payload, ensure_ascii=False).encode()
    if kind is WebhookFormat.WEBHOOK and secret:
        stamp = str(int(now.timestamp()))
        digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        headers["X-Lakeworks-Timestamp"] = stamp
        headers["X-Lakeworks-Signature"] = f"sha256={digest.hexdigest()}"
    return WebhookRequest(url, body, headers)


def _safe_url(url: str) -> str:
    """The URL without its query string (webhook URLs often hold their token there)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def send_webhook(request: WebhookRequest, timeout: float) -> str:
    """POST the request; ``TransientError`` on any failure (the sender retries)."""
    http = urllib.request.Request(request.url, data=request.body, headers=request.headers)
    try:
        with urllib.request.urlopen(http, timeout=timeout) as response:
            status = int(response.status)
            answer = response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        raise TransientError(f"{_safe_url(request.url)} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransientError(f"{_safe_url(request.url)}: {reason}") from None
    if _refused_in_body(answer):
        raise TransientError(f"{_safe_url(request.url)} refused the message: {answer[:200]}")
    return f"HTTP {status}"


def _refused_in_body(answer: str) -> bool:
    """DingTalk, Feishu and WeCom answer HTTP 200 with a non-zero error code."""
    try:
        data = json.loads(answer)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    for key in ("errcode", "code", "StatusCode"):
        value = data.get(key)
        if isinstance(value, int) and value != 0:
            return True
    return False


def email_message(channel: EmailChannel, message: OutgoingMessage) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = channel.sender
    people = (channel.contacts.get(m, m) for m in message.mentions)
    mail["To"] = ", ".join(sorted({*channel.to, *(p for p in people if "@" in p)}))
    mail["Date"] = format_datetime(message.created_at)
    mail["Message-ID"] = f"<{message.idempotency_key}@lakeworks>"
    mail["X-Lakeworks-Idempotency-Key"] = message.idempotency_key
    mail.set_content(message.body)
    return mail


def send_email(channel: EmailChannel, message: OutgoingMessage, password: str | None) -> str:
    """Send over SMTP (``ssl``: TLS from the start; ``starttls``: upgraded)."""
    mail = email_message(channel, message)
    if not mail["To"]:
        raise TransientError("the e-mail has no recipient: give the channel 'to' or contacts")
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if channel.tls == "ssl":
            smtp = smtplib.SMTP_SSL(
                channel.host, channel.port, timeout=channel.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds)
        with smtp:
            if channel.tls == "starttls":
                smtp.starttls(context=context)
            if channel.username and password:
                smtp.login(channel.username, password)
            refused = smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientError(f"SMTP {channel.host}:{channel.port}: {exc}") from None
    if refused:
        raise TransientError(f"SMTP refused {', '.join(sorted(refused))}")
    return f"sent to {mail['To']}"


def deliver(
    channel: ChannelConfig, message: OutgoingMessage, secret: str | None, now: datetime
) -> str:
    """Send ``message``; returns a short result, raises ``TransientError`` on failure."""
    if isinstance(channel, EmailChannel):
        return send_email(channel, message, secret)
    request = webhook_request(channel, message, secret, now)
    return send_webhook(request, channel.timeout_seconds)
