"""``nephos deploy`` on boto3, in the manner of ``sam deploy``.

Deploy: package the code, upload it to the artifact bucket, create a uniquely named change set
(used by its ARN), wait for it, show the plan, ask, execute, follow the stack events, enable
TTL where the stack did not, save the outputs. What the user sees goes through a
:class:`Progress` (the CLI draws it with Rich); nothing here prints. ``aws_destroy.py`` removes
what this creates.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from nephos.deploy.aws_layer import (
    LayerSpec,
    build_layer_zip,
    fetch_layer_wheels,
    layer_spec,
    wants_layer,
)
from nephos.deploy.aws_outputs import SavedDeploy, save_deploy
from nephos.deploy.aws_package import (
    LAMBDA_WHEELS,
    artifact_bucket_name,
    build_code_zip,
    ensure_bucket,
    fetch_wheels,
    upload_code,
    wheel_cache_dir,
)
from nephos.deploy.aws_stack import (
    DeployError,
    EventReader,
    Failure,
    Plan,
    StackEvent,
    aws_message,
    change_set_name,
    describe_stack,
    failures,
    is_failed,
    is_terminal,
    plan_of,
    session_for,
    wait_for_change_set,
)
from nephos.deploy.aws_template import (
    check_parameters,
    find_infra_dir,
    load_template,
    template_body,
)
from nephos.errors import BackendError, UsageError

__all__ = [
    "DeployRequest",
    "DeployResult",
    "Progress",
    "deploy",
]

_TTL_ATTRIBUTE = "expires_at"
TEMPLATE_BODY_LIMIT = 51_200
"""CloudFormation's limit on ``TemplateBody`` in bytes; larger templates go through S3."""


def _retries() -> Any:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 3})


class Progress(Protocol):
    """Where a deploy reports what it does, and asks before it changes anything."""

    def step(self, message: str) -> None:
        """One line about what is happening now."""

    def plan(self, plan: Plan) -> None:
        """Show the change set's plan."""

    def confirm(self, plan: Plan) -> bool:
        """Whether to execute ``plan``."""

    def event(self, event: StackEvent) -> None:
        """Show one new stack event."""

    def failed(self, status: str, failed: list[Failure]) -> None:
        """Show the failed resources with their reasons, and where the stack ended up."""


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """What to deploy, and where."""

    stack_name: str = "nephos"
    region: str | None = None
    profile: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False
    template: Mapping[str, Any] | None = None  # the rendered template; infra/ when None
    infra_dir: Path | None = None
    wheels: tuple[str, ...] = LAMBDA_WHEELS  # fetched for the Lambda runtime and bundled
    wheel_cache: Path | None = None  # where fetched wheels are kept; the user cache when None
    layer: bool = True  # build the dependencies layer when the ETL or sentinel is on
    layer_spec: LayerSpec | None = None  # what the layer holds; worked out from infra/ when None


@dataclass(frozen=True, slots=True)
class DeployResult:
    """How a deploy ended: ``deployed``, ``no-changes``, ``dry-run`` or ``declined``."""

    outcome: str
    stack_name: str
    region: str
    plan: Plan | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    saved_to: Path | None = None


def deploy(
    request: DeployRequest,
    progress: Progress,
    *,
    session: Any | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval: float = 2.0,
) -> DeployResult:
    """Deploy (create or update) the nephos stack; see the module docstring for the steps.

    Raises:
        UsageError: a parameter is wrong, or the stack is in a state that needs a destroy.
        DeployError: the change set could not be built or the stack operation failed (the
            failures were shown through ``progress`` first).
        BackendError: AWS could not be reached or refused a call.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    infra = find_infra_dir(request.infra_dir)
    template = request.template or load_template(infra / "template.yaml")
    check_parameters(template, request.parameters)
    session = session or session_for(request.region, request.profile)
    region = str(session.region_name)
    name = request.stack_name
    try:
        # Standard retries: three attempts, with backoff, on throttling and 5xx answers.
        cfn = session.client("cloudformation", config=_retries())
        account = session.client("sts").get_caller_identity()["Account"]
        s3 = session.client("s3")
        bucket = artifact_bucket_name(account, region)
        wheels = []
        if request.wheels:
            cache = request.wheel_cache or wheel_cache_dir()
            wheels = fetch_wheels(request.wheels, cache, report=progress.step)
        progress.step(f"packaging the handlers from {infra}")
        artifact = build_code_zip(infra, prefix=name, wheels=wheels)
        ensure_bucket(s3, bucket, region, report=progress.step)
        upload_code(s3, bucket, artifact, report=progress.step)
        layer_key = ""
        if request.layer and wants_layer(template, request.parameters):
            layer_key = _upload_layer(request, infra, template, s3, bucket, progress)
        token_parameter = f"/nephos/{name}/hub-token"
        if not request.dry_run:
            _ensure_token(session.client("ssm"), token_parameter, progress)
        parameters = {
            **dict(request.parameters),
            "CodeBucket": bucket,
            "CodeKey": artifact.key,
            "HubTokenParameter": token_parameter,
            **({"LayerKey": layer_key} if "LayerKey" in template.get("Parameters", {}) else {}),
        }
        source = _template_source(s3, bucket, region, name, template, progress)
        plan = _create_change_set(cfn, name, source, parameters, progress, sleep)
        if plan is None:
            outputs = _finish(session, cfn, name, progress)
            saved = _save(session, name, region, outputs, token_parameter)
            return DeployResult("no-changes", name, region, None, outputs, saved)
        progress.plan(plan)
        try:
            go = not request.dry_run and progress.confirm(plan)
        except BaseException:
            _discard(cfn, plan)  # refused to ask, or interrupted: leave nothing behind
            raise
        if not go:
            _discard(cfn, plan)
            progress.step("change set deleted; nothing was changed")
            return DeployResult("dry-run" if request.dry_run else "declined", name, region, plan)
        _execute(cfn, plan, progress, sleep, poll_interval)
        outputs = _finish(session, cfn, name, progress)
        saved = _save(session, name, region, outputs, token_parameter)
        return DeployResult("deployed", name, region, plan, outputs, saved)
    except (BotoCoreError, ClientError, ResponseParserError) as exc:
        raise BackendError(f"deploy of stack {name}: {aws_message(exc)}") from exc


def _upload_layer(
    request: DeployRequest,
    infra: Path,
    template: Mapping[str, Any],
    s3: Any,
    bucket: str,
    progress: Progress,
) -> str:
    """Build the dependencies layer of the ETL and sentinel, upload it; its key."""
    spec = request.layer_spec or layer_spec(infra, template)
    wheels = fetch_layer_wheels(
        spec, request.wheel_cache or wheel_cache_dir(), report=progress.step
    )
    layer = build_layer_zip(wheels, prefix=request.stack_name)
    progress.step(
        f"dependencies layer: {len(layer.distributions)} packages for {spec.architecture}, "
        f"{layer.unzipped_size / 2**20:.1f} MiB unzipped"
    )
    upload_code(s3, bucket, layer, report=progress.step, what="dependencies layer")
    return layer.key


def _ensure_token(ssm: Any, parameter: str, progress: Progress) -> None:
    """Create the stream token (a SecureString) unless it exists; the value is never shown."""
    from botocore.exceptions import ClientError

    try:
        ssm.get_parameter(Name=parameter)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
    progress.step(f"creating the stream token in SSM {parameter}")
    ssm.put_parameter(
        Name=parameter,
        Value=secrets.token_urlsafe(32),
        Type="SecureString",
        Description="nephos: the token WebSocket clients and ingest posters present",
    )


def _template_source(
    s3: Any, bucket: str, region: str, name: str, template: Mapping[str, Any], progress: Progress
) -> dict[str, str]:
    """``TemplateBody``, or ``TemplateURL`` for a template over CloudFormation's body limit."""
    import hashlib

    body = template_body(template)
    if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    key = f"{name}/template-{hashlib.sha256(body.encode()).hexdigest()[:20]}.json"
    progress.step(f"uploading the template to s3://{bucket}/{key}")
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    return {"TemplateURL": f"https://{bucket}.s3.{region}.amazonaws.com/{key}"}


def _create_change_set(
    cfn: Any,
    name: str,
    source: Mapping[str, str],
    parameters: Mapping[str, str],
    progress: Progress,
    sleep: Callable[[float], None],
) -> Plan | None:
    """A built change set's plan, or None when there is nothing to change."""
    stack = describe_stack(cfn, name)
    status = str(stack["StackStatus"]) if stack else None
    if status == "ROLLBACK_COMPLETE":
        raise UsageError(
            f"stack {name} failed to create and rolled back; run `nephos destroy --stack-name "
            f"{name}` and deploy again"
        )
    if status and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise UsageError(f"stack {name} is busy ({status}); wait for it to finish")
    kind = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    progress.step(f"creating a change set ({kind}) for stack {name}")
    created = cfn.create_change_set(
        StackName=name,
        ChangeSetName=change_set_name(datetime.now(UTC)),
        ChangeSetType=kind,
        **source,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        Description="nephos deploy",
        Tags=[{"Key": "nephos:stack", "Value": name}],
    )
    arn = str(created["Id"])
    built = wait_for_change_set(cfn, arn, sleep=sleep)
    if built.empty:
        cfn.delete_change_set(ChangeSetName=arn)
        progress.step(f"no changes to deploy: stack {name} is up to date")
        return None
    if built.status != "CREATE_COMPLETE":
        cfn.delete_change_set(ChangeSetName=arn)
        raise DeployError(f"the change set for {name} failed: {built.reason}", status=built.status)
    return plan_of(cfn, name, arn, kind)


def _discard(cfn: Any, plan: Plan) -> None:
    cfn.delete_change_set(ChangeSetName=plan.change_set_arn)
    if plan.change_set_type == "CREATE":
        stack = describe_stack(cfn, plan.stack_name)
        if stack and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
            cfn.delete_stack(StackName=plan.stack_name)  # the empty shell the CREATE made


def _execute(
    cfn: Any, plan: Plan, progress: Progress, sleep: Callable[[float], None], interval: float
) -> None:
    """Execute the change set and show its events until the stack stops moving.

    Raises:
        DeployError: the operation failed or rolled back.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    reader = EventReader(cfn, plan.stack_name)
    reader.prime()
    progress.step(f"executing change set {plan.change_set_arn}")
    try:
        cfn.execute_change_set(ChangeSetName=plan.change_set_arn)
    except (BotoCoreError, ClientError, ResponseParserError) as exc:
        # Stand-ins raise here what AWS reports as a failed resource: show it the same way.
        for event in reader.read():
            progress.event(event)
        stack = describe_stack(cfn, plan.stack_name)
        status = str(stack["StackStatus"]) if stack else "NOT_CREATED"
        failed = failures(reader.events) or [Failure("?", "?", "EXECUTE_FAILED", aws_message(exc))]
        progress.failed(status, failed)
        raise DeployError(
            f"stack {plan.stack_name}: the change set could not be executed ({status})",
            status=status,
            failures=failed,
        ) from exc
    while True:
        for event in reader.read():
            progress.event(event)
        stack = describe_stack(cfn, plan.stack_name)
        status = str(stack["StackStatus"]) if stack else "DELETE_COMPLETE"
        if is_terminal(status):
            break
        sleep(interval)
    for event in reader.read():
        progress.event(event)
    if is_failed(status):
        failed = failures(reader.events)
        progress.failed(status, failed)
        raise DeployError(
            f"stack {plan.stack_name}: {status} ({len(failed)} failed resources)",
            status=status,
            failures=failed,
        )


def _finish(session: Any, cfn: Any, name: str, progress: Progress) -> dict[str, str]:
    """The stack's outputs, after enabling TTL on tables where the stack did not."""
    stack = describe_stack(cfn, name) or {}
    outputs = {str(o["OutputKey"]): str(o["OutputValue"]) for o in stack.get("Outputs", [])}
    # Rows without a type or id are resources a stand-in skipped: nothing to fix or show.
    resources = [
        r
        for r in cfn.describe_stack_resources(StackName=name)["StackResources"]
        if r.get("ResourceType") and r.get("PhysicalResourceId")
    ]
    dynamodb = session.client("dynamodb")
    for resource in resources:
        if resource["ResourceType"] != "AWS::DynamoDB::Table":
            continue
        table = resource["PhysicalResourceId"]
        ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        # AWS refuses to enable TTL twice; some stand-ins ignore the template's TTL setting.
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": _TTL_ATTRIBUTE},
            )
            progress.step(f"enabled TTL ({_TTL_ATTRIBUTE}) on {table}")
    if not outputs:
        # Stand-ins that do not rebuild outputs: the physical ids still name the tables.
        outputs = {
            f"{r['LogicalResourceId']}Name"
            if r["ResourceType"].endswith("Table")
            else f"{r['LogicalResourceId']}Arn": str(r["PhysicalResourceId"])
            for r in resources
            if r["ResourceType"] in ("AWS::DynamoDB::Table", "AWS::SNS::Topic")
        }
    return outputs


def _save(
    session: Any, name: str, region: str, outputs: Mapping[str, str], token_parameter: str
) -> Path:
    from botocore.exceptions import ClientError

    token: str | None = None
    try:
        found = session.client("ssm").get_parameter(Name=token_parameter, WithDecryption=True)
        token = str(found["Parameter"]["Value"])
    except ClientError:
        token = None
    saved = SavedDeploy(
        stack_name=name,
        region=region,
        outputs=dict(outputs),
        token=token,
        deployed_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    )
    return save_deploy(saved)
