"""The HTTP node: call a URL with parameters and secrets; its JSON can be the output.

A status outside the expected ones fails the attempt: 5xx, 429 and connection errors
as transient (retried, at least three attempts), others per the node's retry policy.
Secrets are masked in every log line and error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import replace

from lakeworks.connectors.credentials import redact, resolve_password
from lakeworks.errors import TransientError, UserCodeError, UserError
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.spec.models import HttpConfig
from lakeworks.spec.outputs import json_path_output
from lakeworks.sql.params import ParamContext, render

MAX_SHOWN = 300
"""Characters of a response body shown in the log or an error."""


def _render(text: str, params: ParamContext, ctx: NodeRunContext) -> str:
    return render(text, params, path=ctx.node.path)


def _secret_params(ctx: NodeRunContext, config: HttpConfig) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, ref in config.secrets.items():
        secret = resolve_password(f"{ctx.node.key} secret {name}", ref.env, ref.encrypted)
        if secret is None:
            raise UserError(
                f"{ctx.node.path.name}: secret '{name}' names no env or encrypted value",
                hint="write secrets: {NAME: {env: VARIABLE}}",
            )
        values[f"secret.{name}"] = secret.get_secret_value()
    return values


def _expected(config: HttpConfig, status: int) -> bool:
    if config.expected_status:
        return status in config.expected_status
    return 200 <= status < 300


def run_http_node(ctx: NodeRunContext) -> NodeResult:
    """Send the request once (the runtime retries the attempt)."""
    config = ctx.node.config
    assert isinstance(config, HttpConfig)
    params = replace(
        ctx.params, parameters={**ctx.params.parameters, **_secret_params(ctx, config)}
    )
    url = _render(config.url, params, ctx)
    headers = {k: _render(v, params, ctx) for k, v in config.headers.items()}
    body = _render(config.body, params, ctx).encode("utf-8") if config.body is not None else None
    request = urllib.request.Request(url, data=body, headers=headers, method=config.method)
    ctx.log(f"{config.method} {url}")
    try:
        with urllib.request.urlopen(request, timeout=config.request_timeout_seconds) as response:
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransientError(redact(f"{config.method} {url}: {reason}")) from None
    ctx.log(f"status {status}: {text[:MAX_SHOWN]}")
    if not _expected(config, status):
        message = redact(f"{config.method} {url} answered {status}: {text[:MAX_SHOWN]}")
        if status >= 500 or status == 429:
            raise TransientError(message)
        raise UserCodeError(message)
    output = None
    if config.output_path is not None:
        try:
            output = json_path_output(json.loads(text), config.output_path)
        except json.JSONDecodeError:
            raise UserCodeError(f"the response is not JSON: {text[:MAX_SHOWN]}") from None
        except ValueError as exc:
            raise UserCodeError(str(exc)) from None
    rendered = f"{config.method} {url}\n" + (body.decode("utf-8") if body else "")
    return NodeResult(rendered_code=redact(rendered), output=output, detail={"status": status})
