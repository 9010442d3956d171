"""The SAM template, lint-clean and holding the invariants PRODUCT.md and ARCHITECTURE.md name."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.data import REPO, load_template

FUNCTIONS = ("completions", "info", "route_preview", "catalog_refresh")
ALL_FUNCTION_DIRS = (*FUNCTIONS, "streaming")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


# The property that names each kind of resource: a name that must be unique in the account and region. A
# resource without it gets a name CloudFormation generates from the stack's name. Every other top-level
# property ending in "Name" must be listed in NOT_NAMES, so that a new kind of name cannot slip past.
NAME_PROPERTIES = {
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Serverless::HttpApi": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Scheduler::Schedule": "Name",
}
NOT_NAMES = {"MetricName"}  # an alarm's metric: a name it reads, not one it takes


def _render(value: Any, template: dict[str, Any], stack: str) -> str:
    """A name as CloudFormation resolves it in a stack called `stack` (parameters at their defaults)."""

    def resolve(ref: str) -> str:
        name = ref.split(".")[0]
        if name == "AWS::StackName":
            return stack
        if name.startswith("AWS::"):
            return {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}[name]
        if name in template["Parameters"]:
            return str(template["Parameters"][name].get("Default", ""))
        resource = template["Resources"][name]  # a resource's own name: given, or generated from the stack's
        given = resource.get("Properties", {}).get(NAME_PROPERTIES.get(resource["Type"], ""))
        return _render(given, template, stack) if given else f"{stack}-{name}-1A2B3C4D5E6F"

    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return resolve(value["Ref"])
    if isinstance(value, dict) and set(value) == {"Sub"} and isinstance(value["Sub"], str):
        return re.sub(r"\$\{([^}!]+)\}", lambda m: resolve(m.group(1)), value["Sub"])
    raise AssertionError(f"a name this test cannot render: {value!r}")


def rendered_names(template: dict[str, Any], stack: str) -> dict[str, str]:
    """Every name the template gives a resource, rendered for one stack; SAM's implicit names included."""
    names = {}
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        for key in props:
            if key.endswith("Name") and key not in NOT_NAMES:
                assert key == NAME_PROPERTIES.get(resource["Type"]), f"{logical_id}.{key}: a name, or not?"
                names[logical_id] = _render(props[key], template, stack)
        for event_id, event in props.get("Events", {}).items():
            if event["Type"] == "ScheduleV2" and not event["Properties"].get("OmitName"):
                # SAM names the schedule after its logical id unless told otherwise
                given = event["Properties"].get("Name", logical_id + event_id)
                names[logical_id + event_id] = _render(given, template, stack)
    return names


def collisions(template: dict[str, Any]) -> dict[str, str]:
    """The names two stacks of this template in one account would both claim."""
    first, second = rendered_names(template, "routeway"), rendered_names(template, "routeway-prod")
    return {key: name for key, name in first.items() if second[key] == name}


def test_two_stacks_in_one_account_claim_no_name_twice(template: dict[str, Any]) -> None:
    names = rendered_names(template, "routeway-prod")
    assert "CatalogRefreshFunctionSchedule" in names  # the schedule's name is among those checked
    assert not collisions(template)
    assert all("routeway-prod" in name for name in names.values()), names


def test_every_name_fits_with_a_48_character_stack_name(template: dict[str, Any]) -> None:
    """The README's limit on stack names: the schedule's name (64 at most) is the tightest."""
    limits = {"AWS::SQS::Queue": 80, "AWS::Serverless::LayerVersion": 140, "AWS::CloudWatch::Alarm": 255}
    for key, name in rendered_names(template, "s" * 48).items():
        resource = template["Resources"].get(key)
        limit = limits.get(resource["Type"], 512) if resource else 64  # not a resource: a ScheduleV2 event
        assert len(name) <= limit, (key, name)
    assert len(rendered_names(template, "s" * 49)["CatalogRefreshFunctionSchedule"]) > 64


def test_a_name_without_the_stack_would_collide(template: dict[str, Any]) -> None:
    """The check above fails on the template as it was: a ScheduleV2 event without a Name."""
    unnamed = copy.deepcopy(template)
    del unnamed["Resources"]["CatalogRefreshFunction"]["Properties"]["Events"]["Schedule"]["Properties"]["Name"]
    assert collisions(unnamed) == {"CatalogRefreshFunctionSchedule": "CatalogRefreshFunctionSchedule"}
    literal = copy.deepcopy(template)
    literal["Resources"]["InfoLogGroup"]["Properties"]["LogGroupName"] = "/aws/lambda/routeway-info"
    assert collisions(literal) == {"InfoLogGroup": "/aws/lambda/routeway-info"}


def test_reserved_concurrency_bounds_every_function_when_given(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["ReservedConcurrency"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""  # empty: unreserved
    pattern = re.compile(parameter["AllowedPattern"])
    assert all(pattern.fullmatch(v) for v in ("", "0", "10", "250")) and not pattern.search("-1")
    assert template["Conditions"]["ConcurrencyReserved"] == {"Not": [{"Equals": [{"Ref": "ReservedConcurrency"}, ""]}]}
    reserved = {"If": ["ConcurrencyReserved", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    assert template["Globals"]["Function"]["ReservedConcurrentExecutions"] == reserved
    for name, function in resources_of(template, "AWS::Serverless::Function").items():
        assert "ReservedConcurrentExecutions" not in function["Properties"], name  # none opts out of the global


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(REPO / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_layer_is_the_shared_folder_built_for_python312_arm64(template: dict[str, Any]) -> None:
    (layer,) = resources_of(template, "AWS::Serverless::LayerVersion").values()
    assert layer["Properties"]["ContentUri"] == "shared/"
    assert layer["Properties"]["CompatibleRuntimes"] == [template["Globals"]["Function"]["Runtime"]] == ["python3.12"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]


def test_the_layer_ships_arm64_cpython312_wheels_and_precompiled_bytecode() -> None:
    """`sam build` runs shared/Makefile's build-RoutingLayer: checked here as the commands make would run."""
    result = subprocess.run(
        ["make", "-n", "-C", str(REPO / "shared"), "build-RoutingLayer", "ARTIFACTS_DIR=/artifacts"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    commands = result.stdout
    assert "--target /artifacts/python" in commands.replace('"', "")
    platforms = re.findall(r"--platform (\S+)", commands)
    assert platforms[0] == "manylinux2014_aarch64" and "manylinux_2_28_aarch64" in platforms  # numpy's aarch64 tag
    assert max(int(p.split("_")[2]) for p in platforms[1:]) == 34  # no newer glibc than Lambda's 2.34
    assert "--implementation cp --python-version 3.12 --abi cp312 --only-binary=:all:" in commands
    assert "--no-deps" in commands and "-r requirements.txt" in commands
    assert "cp -R routeway" in commands
    compile_line = next(line for line in commands.splitlines() if "compileall" in line)
    assert compile_line.startswith("python3.12 -m compileall")  # bytecode is per version: the runtime's
    assert "--invalidation-mode unchecked-hash" in compile_line  # a zip does not keep the sources' mtimes


def test_the_functions_and_their_log_retention(template: dict[str, Any]) -> None:
    functions = resources_of(template, "AWS::Serverless::Function")
    assert sorted(f["Properties"]["CodeUri"] for f in functions.values()) == sorted(
        f"functions/{n}/" for n in ALL_FUNCTION_DIRS
    )
    log_groups = resources_of(template, "AWS::Logs::LogGroup").values()
    names = [g["Properties"]["LogGroupName"]["Sub"] for g in log_groups]
    logged = {n.removeprefix("/aws/lambda/${").rstrip("}") for n in names if n.startswith("/aws/lambda/")}
    assert logged == set(functions)
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in log_groups)


def test_http_api_throttles_and_logs_every_request(template: dict[str, Any]) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    assert api["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
    }
    burst, rate = (template["Parameters"][f"ApiThrottling{p}Limit"] for p in ("Burst", "Rate"))
    assert (burst["Type"], rate["Type"]) == ("Number", "Number") and burst["Default"] >= rate["Default"] > 0
    logs = api["AccessLogSettings"]
    assert logs["DestinationArn"] == {"GetAtt": "HttpApiAccessLogGroup.Arn"}
    group = template["Resources"]["HttpApiAccessLogGroup"]["Properties"]
    assert "${AWS::StackName}" in group["LogGroupName"]["Sub"]
    line = json.loads(logs["Format"])  # one JSON object per request
    assert {"requestId", "ip", "routeKey", "status", "latency", "integrationErrorMessage"} <= set(line)
    assert line["ip"] == "$context.identity.sourceIp" and line["status"] == "$context.status"
    assert not any("header" in v.lower() or "authoriz" in v.lower() for v in line.values())  # never a key


def test_http_api_routes_cover_the_contract(template: dict[str, Any]) -> None:
    (api_name,) = resources_of(template, "AWS::Serverless::HttpApi")
    assert "StageName" not in template["Resources"][api_name]["Properties"]  # $default: no /stage prefix
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for f in resources_of(template, "AWS::Serverless::Function").values()
        for e in f["Properties"].get("Events", {}).values()
        if e["Type"] == "HttpApi"
    }
    assert routes >= {
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/images/generations"),
        ("POST", "/v1/responses"),
        ("POST", "/v1/responses/compact"),
        ("GET", "/v1/responses/{response_id}"),
        ("DELETE", "/v1/responses/{response_id}"),
        ("GET", "/v1/info"),
        ("GET", "/v1/key"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/{id+}"),
        ("GET", "/readyz"),
        ("GET", "/healthz"),
        ("POST", "/v1/route/preview"),
        ("GET", "/v1/route/explain/{generation_id}"),
        ("GET", "/console"),
        ("GET", "/console/{name}"),
    }


def test_the_info_function_serves_the_console(template: dict[str, Any]) -> None:
    events = template["Resources"]["InfoFunction"]["Properties"]["Events"].values()
    paths = {e["Properties"]["Path"] for e in events if e["Type"] == "HttpApi"}
    assert {"/console", "/console/{name}"} <= paths
    source = (REPO / "functions" / "info" / "app.py").read_text(encoding="utf-8")
    assert '("info", "console", "admin")' in source


def test_bucket_and_table_are_safe(template: dict[str, Any]) -> None:
    (bucket,) = resources_of(template, "AWS::S3::Bucket").values()
    assert bucket["DeletionPolicy"] == "Retain"
    props = bucket["Properties"]
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (table,) = resources_of(template, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_schedule_input_is_the_event_file(template: dict[str, Any]) -> None:
    refresh = template["Resources"]["CatalogRefreshFunction"]["Properties"]
    (schedule,) = refresh["Events"].values()
    assert schedule["Type"] == "ScheduleV2"
    event = json.loads((REPO / "events" / "catalog_refresh_scheduled.json").read_text(encoding="utf-8"))
    assert json.loads(schedule["Properties"]["Input"]) == event


def test_the_scheduled_refresh_retries_then_dead_letters_and_alarms(template: dict[str, Any]) -> None:
    (schedule,) = template["Resources"]["CatalogRefreshFunction"]["Properties"]["Events"].values()
    retry = schedule["Properties"]["RetryPolicy"]
    assert retry["MaximumRetryAttempts"] >= 1 and 60 <= retry["MaximumEventAgeInSeconds"] <= 86400
    assert schedule["Properties"]["DeadLetterConfig"] == {"Arn": {"GetAtt": "CatalogRefreshDeadLetterQueue.Arn"}}
    queue = template["Resources"]["CatalogRefreshDeadLetterQueue"]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True  # encrypted, with no key to pay for
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    (alarm,) = (a for a in alarms(template).values() if a.get("Namespace") == "AWS/SQS")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"GetAtt": "CatalogRefreshDeadLetterQueue.QueueName"}}
    ]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: a["Properties"] for name, a in resources_of(template, "AWS::CloudWatch::Alarm").items()}


def test_every_alarm_notifies_the_topic_when_one_is_given(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["AlarmTopicArn"]
    assert parameter["Default"] == ""  # none: the alarms show in CloudWatch only
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("arn:aws:sns:us-east-1:123456789012:ops-alerts")
    assert not pattern.fullmatch("ops-alerts")
    assert template["Conditions"]["AlarmTopicGiven"] == {"Not": [{"Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    notify = {"If": ["AlarmTopicGiven", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert alarms(template)
    for name, alarm in alarms(template).items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == notify, name
        assert alarm["AlarmName"]["Sub"].startswith("${AWS::StackName}-"), name
        assert alarm["AlarmDescription"], name


def test_every_function_alarms_on_its_errors_and_throttles(template: dict[str, Any]) -> None:
    watched = {
        (a["MetricName"], a["Dimensions"][0]["Value"]["Ref"])
        for a in alarms(template).values()
        if a.get("Namespace") == "AWS/Lambda" and [d["Name"] for d in a["Dimensions"]] == ["FunctionName"]
    }
    functions = resources_of(template, "AWS::Serverless::Function")
    assert watched == {(metric, name) for name in functions for metric in ("Errors", "Throttles")}
    for alarm in alarms(template).values():
        if alarm.get("Namespace") == "AWS/Lambda":
            assert (alarm["Statistic"], alarm["Threshold"], alarm["TreatMissingData"]) == ("Sum", 1, "notBreaching")
            assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_the_http_apis_5xx_alarm(template: dict[str, Any]) -> None:
    (alarm,) = (a for a in alarms(template).values() if a.get("Namespace") == "AWS/ApiGateway")
    assert alarm["MetricName"] == "5xx" and alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]
    assert alarm["Statistic"] == "Sum" and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def _rate_minutes(expression: str) -> int:
    rate = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    assert rate, expression
    return int(rate.group(1)) * {"minute": 1, "hour": 60, "day": 1440}[rate.group(2)]


def _catalog_age_metric(template: dict[str, Any]) -> dict[str, Any]:
    """The metric the refresh function emits (tests/functional/test_handlers.py checks the emitting side)."""
    from routeway import runtime

    runtime.forget()
    metrics = runtime._metrics()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert metrics.namespace == variables["POWERTOOLS_METRICS_NAMESPACE"]
    assert metrics.service == variables["POWERTOOLS_SERVICE_NAME"]
    return {
        "Namespace": metrics.namespace,
        "MetricName": "CatalogAgeSeconds",
        "Dimensions": [
            {"Name": "service", "Value": metrics.service},
            {"Name": "function_name", "Value": {"Ref": "CatalogRefreshFunction"}},  # this stack's only
        ],
    }


def test_the_catalog_alarms_when_older_than_twice_the_refresh_interval(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["CatalogMaxAgeMinutes"]
    assert parameter["Default"] == 2 * _rate_minutes(template["Parameters"]["CatalogRefreshRate"]["Default"])
    assert parameter["MaxValue"] * 60 <= 86_400  # one-minute periods: CloudWatch evaluates at most a day
    metric = _catalog_age_metric(template)
    stale = alarms(template)["CatalogStaleAlarm"]
    age, minutes = stale["Metrics"]
    assert age["MetricStat"]["Metric"] == metric and age["MetricStat"]["Stat"] == "Maximum"
    assert minutes["Expression"] == f"{age['Id']} / 60" and minutes["ReturnData"] is True
    assert stale["Threshold"] == {"Ref": "CatalogMaxAgeMinutes"}
    assert stale["ComparisonOperator"] == "GreaterThanThreshold"
    assert age["MetricStat"]["Period"] >= 3600  # a report stays in view until the alarm has read it
    assert stale["TreatMissingData"] == "ignore"  # between runs the last verdict stands


def test_a_refresh_that_stops_reporting_alarms_too(template: dict[str, Any]) -> None:
    silent = alarms(template)["CatalogRefreshSilentAlarm"]
    assert {k: silent[k] for k in ("Namespace", "MetricName", "Dimensions")} == _catalog_age_metric(template)
    assert silent["Statistic"] == "SampleCount" and silent["Period"] == 60
    # every minute of the last CatalogMaxAgeMinutes without a report: one report clears it
    assert silent["EvaluationPeriods"] == silent["DatapointsToAlarm"] == {"Ref": "CatalogMaxAgeMinutes"}
    assert (silent["ComparisonOperator"], silent["Threshold"]) == ("LessThanThreshold", 1)
    assert silent["TreatMissingData"] == "breaching"


def test_samconfig_sets_the_catalogs_max_age_to_twice_its_refresh_interval() -> None:
    import tomllib

    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    for env in ("default", "prod"):
        overrides = dict(re.findall(r'(\w+)="([^"]*)"', config[env]["deploy"]["parameters"]["parameter_overrides"]))
        assert int(overrides["CatalogMaxAgeMinutes"]) == 2 * _rate_minutes(overrides["CatalogRefreshRate"]), env


def test_checkov_runs_in_make_test_and_fails_on_any_finding() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "$(CHECKOV_STAMP)" in test_recipe.splitlines()[0]
    assert test_recipe.index("sam-validate") < test_recipe.index("--no-print-directory checkov")
    result = subprocess.run(
        ["make", "-n", "-C", str(REPO), "checkov"],  # printed, not run (nor its venv installed)
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (command,) = [line for line in result.stdout.splitlines() if "bin/checkov " in line]
    assert "-f template.yaml --framework cloudformation" in command and "--skip-download" in command  # offline
    assert "--soft-fail" not in command and "--skip-check" not in command  # a finding fails; skips live below
    pins = (REPO / "constraints-checkov.txt").read_text(encoding="utf-8").splitlines()
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.]+", line) for line in pins)  # every transitive pin
    assert re.fullmatch(r"3\.3\.\d+", _pins(pins)["checkov"])


def test_every_checkov_skip_says_why(template: dict[str, Any]) -> None:
    skipped = {
        name: resource["Metadata"]["checkov"]["skip"]
        for name, resource in template["Resources"].items()
        if "checkov" in resource.get("Metadata", {})
    }
    assert skipped
    for name, skips in skipped.items():
        ids = [skip["id"] for skip in skips]
        assert len(ids) == len(set(ids)) and all(re.fullmatch(r"CKV_AWS_\d+", i) for i in ids), name
        assert all(len(skip["comment"].split()) >= 15 for skip in skips), name  # a reason, not a shrug
    # a function skips only these (no DLQ for synchronous calls, no VPC, no CMK for a secret-free environment);
    # a finding about its IAM policies is fixed, never skipped
    for name in resources_of(template, "AWS::Serverless::Function"):
        assert {skip["id"] for skip in skipped[name]} <= {"CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"}, name


def test_key_is_a_parameter_name_never_a_value(template: dict[str, Any]) -> None:
    assert template["Parameters"]["OpenRouterKeyParameterName"]["Default"] == "/routeway/openrouter-api-key"
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["OPENROUTER_API_KEY_PARAM"] == {"Ref": "OpenRouterKeyParameterName"}
    assert "OPENROUTER_API_KEY" not in variables
    assert "resolve:ssm" not in (REPO / "template.yaml").read_text(encoding="utf-8")


def test_outputs_and_function_url(template: dict[str, Any]) -> None:
    assert {"ApiUrl", "LongRequestUrl"} <= set(template["Outputs"])
    completions = template["Resources"]["CompletionsFunction"]["Properties"]
    assert completions["FunctionUrlConfig"]["AuthType"] == "NONE"
    assert completions["Timeout"] > 600  # the long-request path outlives API Gateway's 30 s


def test_no_snapshots_and_no_versions_are_kept(template: dict[str, Any]) -> None:
    """SnapStart earned nothing here (init imports one small module) and billed a cache per version: gone,
    and nothing publishes versions that would be retained."""
    publishing = {"SnapStart", "AutoPublishAlias", "AutoPublishCodeSha256", "DeploymentPreference"}
    every = [template["Globals"]["Function"], *(r.get("Properties", {}) for r in template["Resources"].values())]
    for properties in every:
        assert not publishing & set(properties), properties.get("CodeUri")
    assert not resources_of(template, "AWS::Lambda::Version")
    (layer,) = resources_of(template, "AWS::Serverless::LayerVersion").values()
    assert layer["Properties"]["RetentionPolicy"] == "Delete"  # an old layer version goes with its update


def test_events_are_in_step_with_their_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_events.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.match(r'^\s*"?([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^"\s]+)"?,?\s*$', line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_layer_requirements_pin_what_pyproject_pins() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    runtime_block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    runtime = _pins(runtime_block.splitlines())
    layer = _pins((REPO / "shared" / "requirements.txt").read_text(encoding="utf-8").splitlines())
    assert runtime and {k: layer.get(k) for k in runtime} == runtime  # the rest: its closure (test_lambda_build)


def test_every_installed_dependency_is_pinned() -> None:
    constraints = _pins((REPO / "constraints.txt").read_text(encoding="utf-8").splitlines())
    pyproject = _pins((REPO / "pyproject.toml").read_text(encoding="utf-8").splitlines())
    mismatched = {k: v for k, v in pyproject.items() if k != "setuptools" and constraints.get(k) != v}
    assert not mismatched


def test_handlers_are_glue() -> None:
    for name in FUNCTIONS:
        source = (REPO / "functions" / name / "app.py").read_text(encoding="utf-8")
        code = [line for line in source.splitlines() if line.strip() and not line.strip().startswith(("#", '"""'))]
        assert len(code) <= 10, name
        assert "import boto3" not in source and "fastapi" not in source


def test_domain_is_pure() -> None:
    forbidden = re.compile(r"^\s*(import|from)\s+(boto3|botocore|httpx|fastapi|starlette|mangum|sqlite3)\b", re.M)
    for path in (REPO / "shared" / "routeway" / "domain").rglob("*.py"):
        assert not forbidden.search(path.read_text(encoding="utf-8")), path


def test_modules_stay_small() -> None:
    for path in Path(REPO / "shared").rglob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path


def test_importing_the_handlers_does_no_work() -> None:
    """Cold start is import time: importing a handler must not pull in FastAPI, boto3 or httpx."""
    code = (
        "import sys, importlib.util\n"
        "for name in ['completions', 'info', 'route_preview', 'catalog_refresh']:\n"
        f"    spec = importlib.util.spec_from_file_location('f_' + name, r'{REPO}/functions/' + name + '/app.py')\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "heavy = ('fastapi', 'boto3', 'httpx', 'mangum', 'aws_lambda_powertools', 'pydantic')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_streaming_entry_runs_the_same_app_behind_the_web_adapter(template: dict[str, Any]) -> None:
    props = template["Resources"]["StreamingFunction"]["Properties"]
    assert props["Handler"] == "run.sh" and props["CodeUri"] == "functions/streaming/"
    url = props["FunctionUrlConfig"]
    assert (url["AuthType"], url["InvokeMode"]) == ("NONE", "RESPONSE_STREAM")
    variables = props["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert variables["AWS_LWA_INVOKE_MODE"].lower() == "response_stream"
    assert variables["AWS_LWA_READINESS_CHECK_PATH"] == "/healthz"
    assert float(variables["ROUTEWAY_DEADLINE_S"]) >= 600  # the long deadline
    condition, public, override = props["Layers"][0]["If"]
    assert condition == "DefaultWebAdapter" and override == {"Ref": "WebAdapterLayerArn"}
    assert public["Sub"] == (
        "arn:${AWS::Partition}:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerArm64:${WebAdapterLayerVersion}"
    )
    assert "StreamingUrl" in template["Outputs"]
    run_sh = (REPO / "functions" / "streaming" / "run.sh").read_text(encoding="utf-8")
    assert "routeway.runtime:streaming_app" in run_sh and "AWS_LWA_PORT" in run_sh


def test_the_web_adapter_is_a_released_layer_version(template: dict[str, Any]) -> None:
    version = template["Parameters"]["WebAdapterLayerVersion"]
    assert version["Type"] == "Number" and isinstance(version["Default"], int)
    # the Description names the release that layer version carries, so an upgrade says what it installs
    assert f"{version['Default']} is Lambda Web Adapter " in " ".join(version["Description"].split())
    assert re.search(r"Lambda Web Adapter \d+\.\d+\.\d+", version["Description"])
    assert template["Parameters"]["WebAdapterLayerArn"]["Default"] == ""  # the override is off by default
    assert template["Conditions"]["DefaultWebAdapter"] == {"Equals": [{"Ref": "WebAdapterLayerArn"}, ""]}


def test_reliability_doc_names_a_real_test_for_every_case() -> None:
    doc = (REPO / "docs" / "RELIABILITY.md").read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if re.match(r"^\| \d+ \|", line)]
    cases = [int(row.split("|")[1]) for row in rows]
    # 1-49 are the brief's cases; 50 and 51 came from issue 19's work and an attack on it; 52-73 are the
    # third edition's (numbered as the brief numbers them)
    assert cases == sorted(set(cases)) and set(range(1, 36)) <= set(cases) <= set(range(1, 74))
    for row in rows:
        named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", row)
        assert named, row
        for path, name in named:
            assert f"def {name}(" in (REPO / path).read_text(encoding="utf-8"), (path, name)


def test_http_api_cors_comes_from_a_parameter_and_is_off_by_default(template: dict[str, Any]) -> None:
    from routeway.http.cors import PROOF_HEADERS, cors_options

    parameter = template["Parameters"]["CorsAllowedOrigins"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    for good in ("", "https://app.example.com", "https://a.example,http://localhost:5173", "*"):
        assert pattern.fullmatch(good), good
    for bad in ("app.example.com", "https://a.example, https://b.example", "ftp://x"):
        assert not pattern.fullmatch(bad), bad
    assert template["Conditions"]["CorsOn"] == {"Not": [{"Equals": [{"Ref": "CorsAllowedOrigins"}, ""]}]}
    (api,) = resources_of(template, "AWS::Serverless::HttpApi").values()
    condition, cors, otherwise = api["Properties"]["CorsConfiguration"]["If"]
    assert condition == "CorsOn" and otherwise == {"Ref": "AWS::NoValue"}
    assert cors["AllowOrigins"] == {"Split": [",", {"Ref": "CorsAllowedOrigins"}]}
    local = cors_options(["https://app.example.com"])  # the same rules as `routeway serve`
    assert sorted(cors["AllowMethods"]) == sorted(local["allow_methods"])
    assert sorted(cors["AllowHeaders"]) == sorted(h.lower() for h in local["allow_headers"])
    assert sorted(cors["ExposeHeaders"]) == sorted(local["expose_headers"])
    assert set(PROOF_HEADERS) <= set(cors["ExposeHeaders"])


@pytest.mark.parametrize("function", ["CompletionsFunction", "StreamingFunction"])
def test_function_urls_take_the_same_cors_from_the_same_parameter(template: dict[str, Any], function: str) -> None:
    from routeway.http.cors import cors_options

    condition, cors, otherwise = template["Resources"][function]["Properties"]["FunctionUrlConfig"]["Cors"]["If"]
    assert condition == "CorsOn" and otherwise == {"Ref": "AWS::NoValue"}  # empty CorsAllowedOrigins: no CORS
    assert cors["AllowOrigins"] == {"Split": [",", {"Ref": "CorsAllowedOrigins"}]}
    local = cors_options(["https://app.example.com"])  # the rules of `routeway serve` and of the HTTP API
    # Lambda answers a Function URL's preflight itself; its CORS takes no OPTIONS (at most 6 characters)
    assert sorted(cors["AllowMethods"]) == sorted(m for m in local["allow_methods"] if m != "OPTIONS")
    assert sorted(cors["AllowHeaders"]) == sorted(h.lower() for h in local["allow_headers"])
    assert sorted(cors["ExposeHeaders"]) == sorted(local["expose_headers"])
    assert cors["MaxAge"] == local["max_age"]


def test_every_proof_header_is_exposed_to_browsers() -> None:
    from routeway.domain.proof import RouteProof
    from routeway.http.cors import PROOF_HEADERS

    proof = RouteProof(generation_id="gen-rw-x", requested_model="auto")
    proof.provider, proof.applied = "DeepInfra", ["max_tokens_floor"]
    assert set(proof.headers()) <= set(PROOF_HEADERS)


def test_the_messages_routes_are_on_the_completions_function(template: dict[str, Any]) -> None:
    events = template["Resources"]["CompletionsFunction"]["Properties"]["Events"].values()
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events if e["Type"] == "HttpApi"}
    assert {("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens")} <= routes


BEDROCK_MODELS = "us.anthropic.claude-sonnet-4-5-20250929-v1:0,amazon.nova-pro-v1:0"
BEDROCK_ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]


def _bedrock_statements(template: dict[str, Any], function: str, models: str) -> list[dict[str, Any]]:
    """The function's Bedrock statements as deployed with BedrockModels=models (the template's intrinsics
    evaluated by the Lambda-shaped run's resolver)."""
    from tests.lambda_shape.stack import Stack

    stack = Stack(parameters={"BedrockModels": models}, template=copy.deepcopy(template))
    documents = stack.resolve(template["Resources"][function]["Properties"].get("Policies", []))
    found = [s for d in documents if isinstance(d, dict) for s in d.get("Statement", [])]
    return [s for s in found if "bedrock" in json.dumps(s.get("Action"))]


def test_bedrock_is_a_parameter_that_grants_nothing_when_empty(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["BedrockModels"]
    assert parameter["Default"] == "" and "InvokeModelWithResponseStream" in parameter["Description"]
    assert template["Conditions"]["BedrockOn"] == {"Not": [{"Equals": [{"Ref": "BedrockModels"}, ""]}]}
    for function in resources_of(template, "AWS::Serverless::Function"):
        assert _bedrock_statements(template, function, "") == [], function
    assert re.fullmatch(parameter["AllowedPattern"], BEDROCK_MODELS)
    assert not re.fullmatch(parameter["AllowedPattern"], "*") and not re.fullmatch(parameter["AllowedPattern"], "a,")


@pytest.mark.parametrize("function", ["CompletionsFunction", "StreamingFunction"])
def test_bedrock_grants_invoke_on_the_listed_models_and_profiles_only(template: dict[str, Any], function: str) -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult

    listed, through_profiles = _bedrock_statements(template, function, BEDROCK_MODELS)
    assert listed["Action"] == through_profiles["Action"] == BEDROCK_ACTIONS
    assert "Condition" not in listed
    document = json.dumps({"Statement": [listed]})

    def allowed(arn: str) -> bool:
        return all(
            IAMPolicy(document).is_action_permitted(a, arn) == PermissionResult.PERMITTED for a in BEDROCK_ACTIONS
        )

    profile = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert allowed(profile) and allowed("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0")
    assert not allowed(profile.replace("sonnet-4-5", "opus-4-5"))  # a profile not listed
    assert not allowed("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0")  # a model not listed
    assert not allowed("arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0")
    # a profile's foundation model, in whichever region the profile sends it to, only through a listed profile
    assert through_profiles["Resource"] == "arn:aws:bedrock:*::foundation-model/*"
    assert through_profiles["Condition"] == {
        "StringLike": {
            "bedrock:InferenceProfileArn": [
                "arn:*:bedrock:*:*:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "arn:*:bedrock:*:*:inference-profile/amazon.nova-pro-v1:0",
            ]
        }
    }


@pytest.mark.parametrize("function", ["InfoFunction", "RoutePreviewFunction"])
def test_functions_that_call_no_model_are_granted_no_bedrock(template: dict[str, Any], function: str) -> None:
    assert _bedrock_statements(template, function, BEDROCK_MODELS) == []


def test_the_refresh_may_list_bedrock_s_models_and_invoke_none(template: dict[str, Any]) -> None:
    (listing,) = _bedrock_statements(template, "CatalogRefreshFunction", BEDROCK_MODELS)
    assert listing["Action"] == ["bedrock:ListFoundationModels", "bedrock:ListInferenceProfiles"]
    assert listing["Resource"] == "*"  # list actions take no narrower resource
    assert _bedrock_statements(template, "CatalogRefreshFunction", "") == []
