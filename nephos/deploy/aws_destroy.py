"""``nephos destroy``: delete the stack with progress, then what the deploy left beside it.

After the stack: the stream token parameter in SSM, the saved outputs on this machine and, when
asked, the artifact bucket (every object version first; the bucket is shared by the stacks of
one account and region).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from nephos.deploy.aws_deploy import Progress
from nephos.deploy.aws_outputs import forget_deploy
from nephos.deploy.aws_package import artifact_bucket_name
from nephos.deploy.aws_stack import (
    DeployError,
    EventReader,
    aws_message,
    describe_stack,
    failures,
    is_terminal,
)
from nephos.errors import BackendError

__all__ = ["destroy"]


def destroy(
    stack_name: str,
    progress: Progress,
    *,
    confirm: Callable[[str], bool],
    delete_bucket: bool = False,
    session: Any,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval: float = 2.0,
) -> bool:
    """Delete the stack (with progress), its token parameter and saved outputs; and the
    artifact bucket when ``delete_bucket``. False when there was no stack (nothing deleted).

    Raises:
        DeployError: the deletion failed (the failed resources were shown first).
        BackendError: AWS could not be reached or refused a call.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cfn = session.client("cloudformation")
        stack = describe_stack(cfn, stack_name)
        if stack is None:
            progress.step(f"no stack named {stack_name} in {session.region_name}")
            forget_deploy(stack_name)
            if delete_bucket:
                _delete_bucket(session, progress)
            return False
        if not confirm(stack_name):
            progress.step("nothing was deleted")
            return False
        stack_id = str(stack["StackId"])
        # By id: once deleted, a stack's events can be read only through its id.
        reader = EventReader(cfn, stack_id)
        reader.prime()
        cfn.delete_stack(StackName=stack_id)
        while True:
            for event in reader.read():
                progress.event(event)
            current = describe_stack(cfn, stack_id)
            status = str(current["StackStatus"]) if current else "DELETE_COMPLETE"
            if is_terminal(status):
                break
            sleep(poll_interval)
        if status != "DELETE_COMPLETE":
            failed = failures(reader.events)
            progress.failed(status, failed)
            raise DeployError(f"stack {stack_name}: {status}", status=status, failures=failed)
        ssm = session.client("ssm")
        with contextlib.suppress(ClientError):  # already gone
            ssm.delete_parameter(Name=f"/nephos/{stack_name}/hub-token")
        forget_deploy(stack_name)
        progress.step(f"stack {stack_name} deleted")
        if delete_bucket:
            _delete_bucket(session, progress)
        return True
    except (BotoCoreError, ClientError) as exc:
        raise BackendError(f"destroy of stack {stack_name}: {aws_message(exc)}") from exc


def _delete_bucket(session: Any, progress: Progress) -> None:
    """Empty (every version) and delete this account's artifact bucket in this region."""
    from botocore.exceptions import ClientError

    account = session.client("sts").get_caller_identity()["Account"]
    bucket = artifact_bucket_name(account, str(session.region_name))
    s3 = session.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        progress.step(f"no artifact bucket {bucket}")
        return
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
    progress.step(f"artifact bucket {bucket} deleted")
