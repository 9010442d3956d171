"""One stack of the template as CloudFormation would make it, at a moto server: its table and bucket, its
parameters' values, each function's own Environment with the intrinsics resolved, and its IAM policies.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.data import REPO, load_template
from tests.lambda_shape.aws import ACCOUNT, REGION

STACK = "routeway"
NO_VALUE = "<AWS::NoValue>"


@dataclass
class Stack:
    """Physical names and parameter values; `resolve` evaluates the template's intrinsics against them."""

    parameters: dict[str, str] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=load_template)

    def __post_init__(self) -> None:
        defaults = {k: str(v.get("Default", "")) for k, v in self.template["Parameters"].items()}
        self.values = {**defaults, **self.parameters}
        self.physical = {
            "StateTable": f"{STACK}-StateTable-LAMBDASHAPE",
            "CatalogBucket": f"{STACK}-catalogbucket-lambdashape",
        }

    @property
    def table(self) -> str:
        return self.physical["StateTable"]

    @property
    def bucket(self) -> str:
        return self.physical["CatalogBucket"]

    def function_names(self) -> list[str]:
        return [k for k, v in self.template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]

    def ref(self, name: str) -> str:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
        pseudo |= {"AWS::StackName": STACK, "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.values:
            return self.values[name]
        return self.physical.get(name, f"{STACK}-{name}-LAMBDASHAPE")

    def get_att(self, name: str, attribute: str) -> str:
        if attribute == "Arn" and name == "StateTable":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.table}"
        if attribute == "Arn" and name == "CatalogBucket":
            return f"arn:aws:s3:::{self.bucket}"
        return f"arn:aws:unresolved:{REGION}:{ACCOUNT}:{name}/{attribute}"  # not needed by any check

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        """The value as deployed: one branch per intrinsic the template uses."""
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r != NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            name = key.removeprefix("Fn::")
            if name == "Ref":
                return self.ref(arg)
            if name == "GetAtt":
                resource, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(resource, attribute)
            if name == "Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return _substitute(text, variables, self)
            if name == "Join":
                return str(arg[0]).join(str(self.resolve(v)) for v in self.resolve(arg[1]))
            if name == "Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if name == "If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if name == "Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if name == "Not":
                return not self.resolve(arg[0])
            if name in ("And", "Or"):
                results = [bool(self.resolve(v)) for v in arg]
                return all(results) if name == "And" else any(results)
            if name == "Condition":
                return self.condition(arg)
            if name == "Select":
                return self.resolve(arg[1])[int(arg[0])]
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v != NO_VALUE}

    def environment(self, function: str) -> dict[str, str]:
        """The function's Environment as deployed: Globals' variables, then its own."""
        own = self.template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        shared = self.template["Globals"]["Function"].get("Environment", {}).get("Variables", {})
        return {k: str(v) for k, v in self.resolve({**shared, **own}).items()}

    def function_property(self, function: str, name: str) -> Any:
        own = self.template["Resources"][function]["Properties"]
        return self.resolve(own.get(name, self.template["Globals"]["Function"].get(name)))

    def create_resources(self, endpoint_url: str) -> None:
        """The table and bucket with the template's own properties (key schema, TTL, versioning)."""
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="cloudformation", aws_secret_access_key="x", region_name=REGION
        )
        table = self.template["Resources"]["StateTable"]["Properties"]
        dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
        extra = {"GlobalSecondaryIndexes": table["GlobalSecondaryIndexes"]} if "GlobalSecondaryIndexes" in table else {}
        dynamodb.create_table(
            TableName=self.table,
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode=table["BillingMode"],
            **extra,
        )
        ttl = table["TimeToLiveSpecification"]
        dynamodb.update_time_to_live(TableName=self.table, TimeToLiveSpecification=ttl)
        s3 = session.client("s3", endpoint_url=endpoint_url)
        s3.create_bucket(Bucket=self.bucket)
        versioning = self.template["Resources"]["CatalogBucket"]["Properties"]["VersioningConfiguration"]
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration=versioning)

    def policies(self, template: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Each function's IAM policy documents, as SAM's own translator expands them (policy templates too),
        and its managed policies' ARNs (AWSLambdaBasicExecutionRole, for its logs)."""
        translated = translate_template(template)
        roles = {k: v for k, v in translated["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
        documents: dict[str, list[dict[str, Any]]] = {}
        for function in self.function_names():
            role = roles[f"{function}Role"]["Properties"]
            # a policy under a condition (Bedrock's, on BedrockModels) is there or not as the parameters say
            documents[function] = [p["PolicyDocument"] for p in self.resolve(role.get("Policies", []))]
            documents[function].append({"ManagedPolicyArns": self.resolve(role.get("ManagedPolicyArns", []))})
        return documents


def _substitute(text: str, variables: dict[str, Any], stack: Stack) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        if "." in name:
            resource, attribute = name.split(".", 1)
            return stack.get_att(resource, attribute)
        return stack.ref(name)

    return re.sub(r"\$\{([^}!]+)\}", one, text)


INTRINSICS = {"Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Join", "Split", "Select", "FindInMap", "Base64"}


def long_form(value: Any) -> Any:
    """A template loaded with short-form tags kept as {tag: value}, back to CloudFormation's JSON form."""
    if isinstance(value, list):
        return [long_form(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and next(iter(value)) in INTRINSICS:
        ((tag, arg),) = value.items()
        if tag == "GetAtt" and isinstance(arg, str):
            arg = arg.split(".", 1)
        return {f"Fn::{tag}": long_form(arg)}
    return {k: long_form(v) for k, v in value.items()}


def translate_template(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """template.yaml (or a changed copy) through aws-sam-translator (the SAM CLI's venv has it), as
    CloudFormation receives it."""
    script = (
        "import json, sys\n"
        "from samtranslator.translator.transform import transform\n"
        "from samtranslator.yaml_helper import yaml_parse\n"
        "class NoManagedPolicies:\n"
        "    def load(self): return {}\n"
        "template = yaml_parse(open(sys.argv[1]).read())\n"
        "for resource in template['Resources'].values():  # sam package's part: code uploaded to S3\n"
        "    for uri in ('CodeUri', 'ContentUri'):\n"
        "        if uri in resource.get('Properties', {}):\n"
        "            resource['Properties'][uri] = 's3://artifacts/code.zip'\n"
        "print(json.dumps(transform(template, {}, NoManagedPolicies())))\n"
    )
    python = REPO / ".venv-sam" / "bin" / "python"
    if not python.exists():
        raise AssertionError(f"{python} is missing: `make test` installs the SAM CLI's venv first")
    with tempfile.TemporaryDirectory() as scratch:
        path = REPO / "template.yaml"
        if template is not None:
            path = Path(scratch) / "template.json"
            path.write_text(json.dumps(long_form(template)), encoding="utf-8")
        environment = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": REGION}  # the translator's region
        result = subprocess.run(
            [str(python), "-c", script, str(path)], capture_output=True, text=True, check=False, env=environment
        )
    assert result.returncode == 0, result.stderr[-3000:]
    translated: dict[str, Any] = json.loads(result.stdout)
    return translated
