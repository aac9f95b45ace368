"""The HTTP front: awssim's control endpoints, fault injection, the call log, then moto.

Every AWS request goes through here: the scenario decides latency and errors first (outside
the lock, so injected latency overlaps across concurrent callers as it would in AWS), then
the request runs against moto under the simulator's lock, after the simulated clock's due
events, and a mutating call is written to the ledger with its outcome.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from awssim.faults import CallError
from awssim.identity import account_for_key
from awssim.ledger import is_mutating
from awssim.simulator import Simulator

StartResponse = Callable[..., Any]
CONTROL_PREFIX = "/_awssim/"
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/")
# Request parameters worth keeping in the call log: what was acted on, not the payload.
_S3_SUBRESOURCES = {
    "policy": "BucketPolicy",
    "tagging": "BucketTagging",
    "versioning": "BucketVersioning",
    "acl": "BucketAcl",
    "publicAccessBlock": "PublicAccessBlock",
    "ownershipControls": "BucketOwnershipControls",
    "encryption": "BucketEncryption",
}
"""Bucket subresources (query string) and the names of their Put/Delete operations."""
_LOGGED_PARAMS = (
    "StackSetName",
    "OperationId",
    "CallAs",
    "TemplateURL",
    "Accounts",
    "Regions",
    "DeploymentTargets",
    "ParameterOverrides",
    "AssociationId",
    "AssociationName",
    "AssociationIds",
    "Name",
    "Names",
    "VersionName",
    "DocumentVersion",
    "RoleArn",
    "InstanceId",
)
_QUERY_NAMESPACES = {
    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
}


@dataclass
class CallInfo:
    """What an AWS request is: service, operation, Region, credentials and key parameters."""

    service: str
    operation: str
    region: str
    access_key: str
    protocol: str
    params: dict[str, object] = field(default_factory=dict)


def identify(environ: dict[str, Any]) -> CallInfo:
    """Read service, operation and parameters off a request (buffering its body if needed)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = _CREDENTIAL.search(auth)
    service = match["service"] if match else "unknown"
    region = match["region"] if match else "us-east-1"
    access_key = match["key"] if match else ""
    target = environ.get("HTTP_X_AMZ_TARGET")
    content_type = environ.get("CONTENT_TYPE", "")
    if target:
        body = _buffer_body(environ)
        return CallInfo(
            service, target.rsplit(".", 1)[-1], region, access_key, "json", _json_params(body)
        )
    if content_type.startswith("application/x-www-form-urlencoded"):
        body = _buffer_body(environ)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        operation = form.pop("Action", "") or environ.get("QUERY_STRING", "")
        return CallInfo(service, operation, region, access_key, "query", _form_params(form))
    if service == "s3":
        return _s3_call(environ, region, access_key)
    return CallInfo(service, environ.get("REQUEST_METHOD", ""), region, access_key, "rest")


def _buffer_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _json_params(body: bytes) -> dict[str, object]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    return {k: data[k] for k in _LOGGED_PARAMS if isinstance(data, dict) and k in data}


def _form_params(form: dict[str, str]) -> dict[str, object]:
    params: dict[str, object] = {
        k: v for k, v in form.items() if k.split(".", 1)[0] in _LOGGED_PARAMS
    }
    if "TemplateBody" in form:
        # The text itself is too large to log: its digest says which template it was.
        params["TemplateBodySha256"] = hashlib.sha256(form["TemplateBody"].encode()).hexdigest()
    return params


def _s3_call(environ: dict[str, Any], region: str, access_key: str) -> CallInfo:
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/").lstrip("/")
    bucket, _, key = path.partition("/")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    sub = next((name for name in _S3_SUBRESOURCES if name in query), "")
    if method in {"GET", "HEAD"}:
        operation = "GetObject" if key else ("ListObjects" if bucket else "ListBuckets")
    elif method == "PUT":
        if key:
            operation = "PutObject"
        elif sub:
            operation = f"Put{_S3_SUBRESOURCES[sub]}"
        else:
            operation = "CreateBucket"
    elif method == "DELETE":
        operation = "DeleteObject" if key else f"Delete{_S3_SUBRESOURCES.get(sub, 'Bucket')}"
    else:
        operation = "DeleteObjects" if "delete" in query else "PostObject"
    params: dict[str, object] = {"Bucket": bucket} if bucket else {}
    if key:
        params["Key"] = key
    return CallInfo("s3", operation, region, access_key, "rest-xml", params)


def error_response(call: CallInfo, error: CallError) -> tuple[str, list[tuple[str, str]], bytes]:
    """An AWS error in the protocol the caller speaks."""
    status = f"{error.status} {_REASONS.get(error.status, 'Error')}"
    request_id = "awssim-fault"
    if call.protocol == "json":
        body = json.dumps({"__type": error.code, "message": error.message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1")]
    elif call.protocol == "query":
        namespace = _QUERY_NAMESPACES.get(call.service, "")
        body = (
            f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type>'
            f"<Code>{error.code}</Code><Message>{error.message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    else:
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{error.code}</Code>"
            f"<Message>{error.message}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml")]
    headers += [("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))]
    return status, headers, body


_REASONS = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error", 503: "Unavailable"}


class SimApp:
    """The WSGI application awssim serves."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self._control(environ, start_response)
        call = identify(environ)
        with self.sim.lock:
            decision = self.sim.faults.for_call(call.service, call.operation)
        if decision.latency:
            time.sleep(decision.latency)
        if decision.error is not None:
            status, headers, body = error_response(call, decision.error)
            with self.sim.lock:
                self._log(call, int(status.split()[0]), decision.error.code)
            start_response(status, headers)
            return [body]
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        with self.sim.lock:
            self.sim.tick()
            chunks = self.moto(environ, capture)
            try:
                body = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            code = int(captured["status"].split()[0])
            self._log(call, code, _error_code(body) if code >= 300 else None)
        start_response(captured["status"], captured["headers"])
        return [body]

    def _log(self, call: CallInfo, status: int, error: str | None) -> None:
        if not is_mutating(call.operation) or call.service == "unknown":
            return
        account = account_for_key(call.access_key) if call.access_key else "anonymous"
        self.sim.ledger.record(
            time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            sim_time=self.sim.clock.now().isoformat(),
            account=account,
            principal=call.access_key,
            region=call.region,
            service=call.service,
            operation=call.operation,
            status=status,
            error=error,
            params=call.params,
        )

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        from awssim.control import handle  # noqa: PLC0415 - keeps the hot path lean

        status, payload = handle(self.sim, environ)
        body = json.dumps(payload, default=str).encode()
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]


def _error_code(body: bytes) -> str | None:
    text = body[:4096].decode("utf-8", "replace")
    match = re.search(r"<Code>([^<]+)</Code>", text) or re.search(r'"__type"\s*:\s*"([^"]+)"', text)
    return match.group(1).rsplit("#", 1)[-1] if match else None
