"""Least privilege from evidence: every AWS call a built function made in the Lambda-shaped run is allowed by
that function's policies in template.yaml (as SAM's translator expands them, evaluated by moto's IAM policy
engine), and the policies grant nothing else that matters."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from tests.lambda_shape.conftest import LambdaRun
from tests.lambda_shape.stack import Stack

pytestmark = pytest.mark.heavy  # a step of its own in `make test` (Makefile)

FUNCTIONS = ["CatalogRefreshFunction", "CompletionsFunction", "InfoFunction", "RoutePreviewFunction"]
FUNCTIONS.append("StreamingFunction")
# The run deploys with BedrockModels given (conftest.py): the completions and streaming functions invoke the fake
# Bedrock through a cross-region profile, the refresh lists its models and profiles. What the parameter's default
# (empty) grants, nothing, is checked in tests/infra/test_template.py.
# The only grants on every resource ("*"): Bedrock's list actions, which IAM scopes to no resource at all.
ON_NO_RESOURCE = {"bedrock:ListFoundationModels", "bedrock:ListInferenceProfiles"}
# Granted though the run does not use it, each with the path that does. Anything else granted and not
# exercised fails the test: a permission nobody can name a use for is removed.
WHERE_A_HOLD_IS = (
    "a sharded key's hold settled by a process that did not take it (a refused reservation reconciling the key's "
    "dead holds: services/reconcile.py -> adapters/aws_shards.ShardedKeys.where_held; "
    "tests/functional/test_dynamo_holds.py)"
)
LARGE_RESPONSE = (
    "a stored Responses turn too large for a DynamoDB item, kept under the bucket's responses/ prefix "
    "(services/responses_store.py -> adapters/aws_responses.S3Responses; "
    "tests/contract/test_responses_stored_once.py stores, reads and erases them in moto's S3)"
)
MOVE_TO_OWN_PARTITION = (
    "a key or team item still on the layout before issue 35, moved to its own partition on first read "
    "(adapters/aws_migrate.py; tests/functional/test_store_migrate.py): the run's table is made on the new layout"
)
HOLD_ITEMS = (
    "a hold item deleted by its settle's transaction: a team's or a periodic budget's hold, a shard's, or one taken "
    "before issue 35 moved an unsharded key's holds into its key item (adapters/aws_budget.py, aws_shard_holds.py; "
    "tests/functional/test_team_money.py, test_store_migrate.py): the run's streamed requests hold in the key item"
)
GRANTED_FOR_PATHS_NOT_RUN: dict[tuple[str, str], str] = {
    ("StreamingFunction", "dynamodb:DeleteItem"): HOLD_ITEMS,
    ("InfoFunction", "dynamodb:DeleteItem"): MOVE_TO_OWN_PARTITION,
    ("CompletionsFunction", "dynamodb:BatchGetItem"): WHERE_A_HOLD_IS,
    ("StreamingFunction", "dynamodb:BatchGetItem"): WHERE_A_HOLD_IS,
    ("CompletionsFunction", "s3:PutObject"): LARGE_RESPONSE,
    ("StreamingFunction", "s3:PutObject"): LARGE_RESPONSE,
}
NEVER: tuple[str, ...] = ("dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:BatchWriteItem", "dynamodb:*", "s3:*", "*")
NEVER += ("s3:PutBucketAcl", "s3:PutObjectAcl", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy")
NEVER += ("s3:DeleteObject", "s3:DeleteBucket", "iam:*", "ssm:*", "kms:*")


def statements(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for document in documents:
        body = document.get("Statement", [])
        found.extend(body if isinstance(body, list) else [body])
    return found


def string_like_holds(statement: dict[str, Any], values: dict[str, str]) -> bool:
    """A statement's StringLike conditions (moto's engine skips them), as IAM evaluates them: a key the call does
    not carry fails."""
    for key, patterns in statement.get("Condition", {}).get("StringLike", {}).items():
        value = values.get(key)
        listed = patterns if isinstance(patterns, list) else [patterns]
        if value is None or not any(fnmatch.fnmatchcase(value, p) for p in listed):
            return False
    return True


def allows(
    documents: list[dict[str, Any]],
    action: str,
    resource: str,
    leading_key: str | None,
    profile_arn: str | None = None,
) -> bool:
    conditions = {"dynamodb:LeadingKeys": leading_key} if leading_key else None
    like = {"bedrock:InferenceProfileArn": profile_arn} if profile_arn else {}
    for document in documents:
        if "Statement" not in document:
            continue
        held = [s for s in statements([document]) if string_like_holds(s, like)]
        if not held:
            continue
        document = {**document, "Statement": held}
        verdict = IAMPolicy(json.dumps(document)).is_action_permitted(action, resource, None, conditions)
        if verdict == PermissionResult.PERMITTED:
            return True
    return False


@pytest.fixture(scope="module")
def policies(lambda_run: LambdaRun) -> dict[str, list[dict[str, Any]]]:
    return lambda_run.stack.policies()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_rel_54_every_call_the_function_made_is_allowed_by_its_template_policies(
    lambda_run: LambdaRun, policies: dict[str, list[dict[str, Any]]], function: str
) -> None:
    calls = lambda_run.moto.calls_of(lambda_run.outcome.access_keys[function])
    assert calls, f"{function} made no AWS call: the run did not exercise it"
    denied = sorted({f"{c.action} on {c.resource}" for c in calls if not allows(policies[function], *c.evaluated)})
    assert denied == [], f"template.yaml: {function}'s Policies must allow: {denied}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_policies_grant_nothing_that_matters_beyond_the_evidence(
    lambda_run: LambdaRun, policies: dict[str, list[dict[str, Any]]], function: str
) -> None:
    used = {c.action for c in lambda_run.moto.calls_of(lambda_run.outcome.access_keys[function])}
    granted = set()
    for statement in statements(policies[function]):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert "*" not in resources or set(actions) <= ON_NO_RESOURCE, f"{function}: {actions} on every resource"
        granted.update(actions)
    assert granted & set(NEVER) == set(), f"{function} is granted {granted & set(NEVER)}"
    unexplained = {a for a in granted - used if (function, a) not in GRANTED_FOR_PATHS_NOT_RUN}
    assert unexplained == set(), f"{function} is granted {unexplained} but never used them in the run"
    stale = {a for (f, a) in GRANTED_FOR_PATHS_NOT_RUN if f == function and a in used}
    assert stale == set(), f"{stale} are used by {function} now: take them out of GRANTED_FOR_PATHS_NOT_RUN"


def test_no_xray_permission_while_tracing_is_off(policies: dict[str, list[dict[str, Any]]]) -> None:
    for function, documents in policies.items():
        managed = [arn for d in documents for arn in d.get("ManagedPolicyArns", [])]
        assert not [arn for arn in managed if "XRay" in arn or "Xray" in arn], function
        assert not [s for s in statements(documents) if "xray" in json.dumps(s["Action"]).lower()], function


def test_rel_54_a_call_without_its_permission_fails_naming_it(lambda_run: LambdaRun) -> None:
    """Bad input: a template whose info function has no ssm:GetParameter (the bug of the first deploy)."""
    stack = Stack(parameters=lambda_run.stack.parameters)
    resources = stack.template["Resources"]
    info = resources["InfoFunction"]["Properties"]
    info["Policies"] = [p for p in info["Policies"] if "ssm:GetParameter" not in json.dumps(p)]
    stripped = stack.policies(template=stack.template)["InfoFunction"]
    calls = lambda_run.moto.calls_of(lambda_run.outcome.access_keys["InfoFunction"])
    denied = {c.action for c in calls if not allows(stripped, *c.evaluated)}
    assert denied == {"ssm:GetParameter"}


def test_a_profile_s_foundation_model_is_invocable_only_through_the_listed_profile(
    lambda_run: LambdaRun, policies: dict[str, list[dict[str, Any]]]
) -> None:
    """BedrockModels names a cross-region profile: its foundation model in another region is allowed only with
    that profile as bedrock:InferenceProfileArn (checked here, since moto's engine skips StringLike)."""
    profile = next(c.profile_arn for c in lambda_run.moto.calls if c.profile_arn)
    assert profile is not None
    foundation = "arn:aws:bedrock:us-west-2::foundation-model/" + profile.rsplit("/", 1)[1].removeprefix("us.")
    for function in ("CompletionsFunction", "StreamingFunction"):
        documents = policies[function]
        assert allows(documents, "bedrock:InvokeModel", foundation, None, profile)
        assert not allows(documents, "bedrock:InvokeModel", foundation, None, None)
        other = profile.replace("claude-sonnet-4-5", "claude-opus-4-5")
        assert not allows(documents, "bedrock:InvokeModel", foundation, None, other)
        assert not allows(documents, "bedrock:InvokeModel", other, None, None)
    assert not allows(policies["InfoFunction"], "bedrock:InvokeModel", profile, None, None)
    assert not allows(policies["CatalogRefreshFunction"], "bedrock:InvokeModel", profile, None, None)
