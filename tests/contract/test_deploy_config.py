"""s.yaml deploys what the code needs: documented fc3 keys, valid trigger settings, real handlers, the RAM policy."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SYAML = yaml.safe_load((ROOT / "s.yaml").read_text())
PROPS = SYAML["resources"]["casrelay"]["props"]
README = (ROOT / "README.md").read_text()

# Keys of the fc3 component's props: the properties of devsapp/fc3 src/schema.json (commit 4ca1c1b), which include
# every key of the older docs/zh/yaml/readme.md (removed in e2b2e85; concurrencyConfig is from the schema).
FC3_PROPS = {
    "region", "code", "cpu", "customContainerConfig", "customDNS", "customRuntimeConfig", "description", "diskSize",
    "instanceConcurrency", "environmentVariables", "functionName", "gpuConfig", "handler", "instanceLifecycleConfig",
    "internetAccess", "layers", "logConfig", "memorySize", "nasConfig", "ossMountConfig", "role", "runtime",
    "timeout", "tracingConfig", "vpcBinding", "vpcConfig", "asyncInvokeConfig", "triggers",
    "annotations", "concurrencyConfig", "enableLongLiving", "endpoint", "instanceIsolationMode", "provisionConfig",
    "resourceGroupId", "scalingConfig", "sessionAffinity", "sessionAffinityConfig", "supplement", "tags",
}
# devsapp/fc3 src/schema.json definitions IVpcConfig (all three required) and IConcurrencyConfig.
FC3_VPC_CONFIG = {"vpcId", "vSwitchIds", "securityGroupId"}
FC3_CONCURRENCY_CONFIG = {"reservedConcurrency"}
MNS_QUEUE_ARN = re.compile(r"^acs:mns:[a-z0-9-]+:[0-9]+:/queues/[A-Za-z0-9_-]+(/messages)?$")


def _resolve(text: str) -> str:
    """Substitute ``${vars.X}`` and ``${config('AccountID')}`` the way Serverless Devs does."""
    text = re.sub(r"\$\{vars\.(\w+)\}", lambda m: str(SYAML["vars"][m.group(1)]), text)
    return text.replace("${config('AccountID')}", "1234567890")


def _functions(path: Path) -> set[str]:
    return {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}


def test_the_file_uses_fc3_edition_3_and_only_documented_props():
    assert SYAML["edition"] == "3.0.0"
    assert SYAML["resources"]["casrelay"]["component"] == "fc3"
    assert set(PROPS) <= FC3_PROPS, set(PROPS) - FC3_PROPS


def test_runtime_code_and_handlers_exist():
    assert PROPS["runtime"] == "python3.10"
    code = ROOT / PROPS["code"]
    module, func = PROPS["handler"].split(".")
    assert func in _functions(code / f"{module}.py")
    init_module, init_func = PROPS["instanceLifecycleConfig"]["initializer"]["handler"].split(".")
    assert init_func in _functions(code / f"{init_module}.py")
    assert 1 <= PROPS["instanceLifecycleConfig"]["initializer"]["timeout"] <= PROPS["timeout"]
    assert (code / "requirements.txt").exists()
    assert PROPS["memorySize"] >= 128 and 1 <= PROPS["timeout"] <= 86400
    assert 1 <= PROPS["instanceConcurrency"] <= 200


def test_the_pre_deploy_step_installs_runtime_wheels_into_the_code_root():
    [step] = SYAML["resources"]["casrelay"]["actions"]["pre-deploy"]
    assert step["path"] == "./handler"
    # deploy/build.py runs pip (under a Python 3.10 where there is one) and then compiles for 3.10;
    # tests/contract/test_deploy_build.py checks what it does.
    python, script, root = step["run"].split()
    assert python == "python3" and root == "."
    assert Path(os.path.normpath(ROOT / "handler" / script)) == ROOT / "deploy" / "build.py"
    build = (ROOT / "deploy" / "build.py").read_text()
    assert '"-r", "requirements.txt"' in build and '"-t", f"./{VENDORED}"' in build and 'VENDORED = "python"' in build
    assert '"--python-version", "3.10"' in build and "manylinux" in build


def test_the_function_is_attached_to_the_vpc_with_fc3s_keys():
    vpc = PROPS["vpcConfig"]
    assert set(vpc) == FC3_VPC_CONFIG
    assert isinstance(vpc["vSwitchIds"], list) and vpc["vSwitchIds"]
    assert PROPS["internetAccess"] is True  # CAS and MNS are public endpoints
    assert set(PROPS["concurrencyConfig"]) == FC3_CONCURRENCY_CONFIG
    assert PROPS["concurrencyConfig"]["reservedConcurrency"] >= 1


def test_environment_variables_are_documented_and_not_reserved():
    env = PROPS["environmentVariables"]
    for name in env:
        assert not name.startswith("FC_")
        assert f"`{name}`" in README, f"{name} is not documented in README"
    assert env["WEBHOOK_AUTH"] == "standard"
    assert env["WEBHOOK_SECRETS"] == "${env('WEBHOOK_SECRETS')}"  # secrets come from the deploying shell
    assert "${env('REDIS_PASSWORD')}" in env["IDEMPOTENCY_STORE"] and env["IDEMPOTENCY_STORE"].startswith("redis://")


def test_http_trigger_is_valid():
    [http] = [t for t in PROPS["triggers"] if t["triggerType"] == "http"]
    cfg = http["triggerConfig"]
    assert cfg["authType"] in ("anonymous", "function")
    assert set(cfg["methods"]) <= {"HEAD", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
    assert "POST" in cfg["methods"]


def test_queue_trigger_streams_batches_with_retries_and_a_dead_letter_queue():
    [eb] = [t for t in PROPS["triggers"] if t["triggerType"] == "eventbridge"]
    cfg = eb["triggerConfig"]
    # Synchronous, so that a raised failure reaches EventBridge's retries and dead letters (see s.yaml).
    assert cfg["asyncInvocationType"] is False and cfg["triggerEnable"] is True
    assert cfg["eventSourceConfig"]["eventSourceType"] == "MNS"
    assert cfg["eventSourceConfig"]["eventSourceParameters"]["sourceMNSParameters"]["QueueName"]
    assert cfg["eventSinkConfig"]["deliveryOption"]["mode"] == cfg["runOptions"]["mode"] == "event-streaming"
    assert cfg["eventSinkConfig"]["deliveryOption"]["eventSchema"] in ("CloudEvents", "RawData")
    json.loads(cfg["eventRuleFilterPattern"].replace("${vars.functionName}", "casrelay"))
    run = cfg["runOptions"]
    assert 1 <= run["batchWindow"]["CountBasedWindow"] <= 10000
    assert 0 <= run["batchWindow"]["TimeBasedWindow"] <= 15
    assert run["retryStrategy"]["PushRetryStrategy"] in ("BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY")
    assert run["errorsTolerance"] in ("NONE", "ALL")
    assert MNS_QUEUE_ARN.match(_resolve(run["deadLetterQueue"]["Arn"]))


def test_async_invocations_retry_then_land_in_a_failure_destination():
    cfg = PROPS["asyncInvokeConfig"]
    assert 0 <= cfg["maxAsyncRetryAttempts"] <= 8
    assert 1 <= cfg["maxAsyncEventAgeInSeconds"] <= 604800
    assert MNS_QUEUE_ARN.match(_resolve(cfg["destinationConfig"]["onFailure"]["destination"]))


def test_the_ram_policy_allows_every_cas_action_the_code_calls():
    policy = json.loads((ROOT / "deploy" / "ram-policy.json").read_text())
    allowed = {a for s in policy["Statement"] for a in s["Action"]}
    ordering = ROOT / "handler" / "casrelay" / "ordering"
    gateway = "".join((ordering / name).read_text() for name in ("package.py", "instance.py", "contacts.py"))
    called = set(re.findall(r'^[A-Z_]+ = "([A-Za-z]+)"', gateway, re.MULTILINE))
    assert called, "the gateway names its actions as constants"
    assert {f"yundun-cert:{a}" for a in called} <= allowed
    assert "mns:SendMessage" in allowed


@pytest.mark.parametrize("name", [
    "CAS_ENDPOINT", "CAS_REGION", "CAS_PROTOCOL", "WEBHOOK_AUTH", "WEBHOOK_SECRETS", "CAS_MAX_QPS", "ORDER_SINKS",
    "CALLBACK_SECRET", "CALLBACK_ALLOW_HOSTS", "MNS_ENDPOINT", "IDEMPOTENCY_STORE", "PRECHECK_QUOTA", "DRY_RUN",
])
def test_every_public_variable_named_by_the_issues_is_documented(name):
    assert f"`{name}`" in README
