"""deploy/ros-template.yaml creates what s.yaml uses, with documented ROS keys, and its role may do what the code does.

The schema facts are constants below, each with the page (or the package file) it was read from. The RAM
actions are derived from the code: the action constants of ordering/package.py and the MNS SDK calls of
push/mns.py.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SYAML = yaml.safe_load((ROOT / "s.yaml").read_text())
INFRA = SYAML["resources"]["casrelay-infra"]
PROPS = SYAML["resources"]["casrelay"]["props"]
TEMPLATE_PATH = ROOT / "deploy" / "ros-template.yaml"
TEMPLATE = yaml.safe_load(TEMPLATE_PATH.read_text())
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
PARAMETERS: dict[str, dict[str, Any]] = TEMPLATE["Parameters"]
OUTPUTS: dict[str, dict[str, Any]] = TEMPLATE["Outputs"]
POLICY = json.loads((ROOT / "deploy" / "ram-policy.json").read_text())

# --- ROS: resource types, their properties and Fn::GetAtt attributes -------------------------------------------
# Property and attribute names as the ROS resource specification has them: the ROS CDK generated from it
# (PyPI ros-cdk-ram, ros-cdk-mns, ros-cdk-redis 1.15.0, lib/<service>.generated.js: ros<Type>PropsToRosTemplate
# and getAtt(...)), and the ROS resource reference pages named with each type.
ROS_TYPES: dict[str, dict[str, Any]] = {
    "ALIYUN::RAM::Role": {
        "doc": "https://www.alibabacloud.com/help/en/ros/developer-reference/aliyun-ram-role",
        "properties": {"AssumeRolePolicyDocument", "RoleName", "DeletionForce", "Description", "IgnoreExisting",
                       "MaxSessionDuration", "Policies", "PolicyAttachments", "Tags"},
        "required": {"AssumeRolePolicyDocument", "RoleName"},
        "attributes": {"Arn", "RoleId", "RoleName"},
    },
    "ALIYUN::RAM::ManagedPolicy": {
        "doc": "https://www.alibabacloud.com/help/en/ros/developer-reference/aliyun-ram-managedpolicy",
        "properties": {"PolicyName", "Description", "Groups", "IgnoreExisting", "PolicyDocument",
                       "PolicyDocumentUnchecked", "Roles", "Users"},
        "required": {"PolicyName"},
        "attributes": {"PolicyName"},
    },
    "ALIYUN::MNS::Queue": {
        "doc": "https://www.alibabacloud.com/help/en/ros/developer-reference/aliyun-mns-queue",
        "properties": {"QueueName", "DelaySeconds", "DlqPolicy", "LoggingEnabled", "MaximumMessageSize",
                       "MessageRetentionPeriod", "PollingWaitSeconds", "Tags", "VisibilityTimeout"},
        "required": {"QueueName"},
        "attributes": {"ARN.WithSlash", "QueueName", "QueueUrl"},
    },
    "ALIYUN::REDIS::Instance": {
        "doc": "https://www.alibabacloud.com/help/en/ros/developer-reference/aliyun-redis-instance",
        "properties": {"AutoRenewDuration", "BackupPolicy", "ChargeType", "Connections", "DeletionForce",
                       "DeletionProtection", "EngineVersion", "EvictionPolicy", "InstanceClass",
                       "InstanceMaintainTime", "InstanceName", "NodeType", "Password", "Period", "PeriodUnit",
                       "ProductType", "ReadOnlyCount", "ResourceGroupId", "SecondaryZoneId", "SecurityGroupId",
                       "ShardCount", "SSLEnabled", "SubscriptionDeletionForce", "Tags", "TairConfig", "TLSProtocol",
                       "VpcId", "VpcPasswordFree", "VSwitchId", "ZoneId"},
        "required": set(),
        "attributes": {"ArchitectureType", "Bandwidth", "Capacity", "ChargeType", "ClassicInnerConnectionPort",
                       "ClassicInnerConnectionString", "ConnectionDomain", "Connections", "DirectConnectionPort",
                       "DirectConnectionString", "EngineVersion", "HasRenewChangeOrder", "InstanceClass",
                       "InstanceId", "InstanceName", "InstanceType", "NetworkType", "NodeType", "OrderId",
                       "PackageType", "Port", "PrivateIp", "PublicConnectionPort", "PublicConnectionString", "QPS",
                       "ResourceGroupId", "VSwitchId", "VpcId", "VpcPrivateConnectionPort",
                       "VpcPrivateConnectionString", "ZoneId"},
        # Valid values from the same specification (RosInstancePropsValidator).
        "allowed": {"EvictionPolicy": {"noeviction", "allkeys-lru", "volatile-lru", "allkeys-random",
                                       "volatile-random", "volatile-ttl"},
                    "ChargeType": {"PostPaid", "PrePaid"}},
    },
    "ALIYUN::REDIS::Whitelist": {
        "doc": "https://www.alibabacloud.com/help/en/ros/developer-reference/aliyun-redis-whitelist",
        "properties": {"InstanceId", "SecurityIps", "SecurityIpGroupAttribute", "SecurityIpGroupName"},
        "required": {"InstanceId", "SecurityIps"},
        "attributes": {"SecurityIpGroupName", "SecurityIpGroupAttribute", "SecurityIps"},
    },
}
# Keys of a template parameter: https://help.aliyun.com/en/ros/user-guide/overview-10 and ros-cdk-core 1.15.0
# lib/ros-parameter.js (the keys RosParameter writes).
ROS_PARAMETER_KEYS = {"Type", "Default", "AllowedPattern", "AllowedValues", "ConstraintDescription", "Description",
                      "MaxLength", "MaxValue", "MinLength", "MinValue", "NoEcho", "Label", "AssociationProperty",
                      "AssociationPropertyMetadata", "Confirm"}
ROS_PARAMETER_TYPES = {"String", "Number", "CommaDelimitedList", "Json", "Boolean"}
# https://help.aliyun.com/en/ros/user-guide/pseudo-parameters
ROS_PSEUDO_PARAMETERS = {"ALIYUN::StackName", "ALIYUN::StackId", "ALIYUN::Region", "ALIYUN::AccountId",
                         "ALIYUN::TenantId", "ALIYUN::ResourceGroupId", "ALIYUN::NoValue"}
# Keys of the Serverless Devs ros component's props: devsapp/ros README.md ("参数详情": region, name, template,
# terraform, policy, parameters) and src/impl/ros.ts (getRosEndpoint reads props.endpoint).
ROS_COMPONENT_PROPS = {"region", "name", "template", "terraform", "policy", "parameters", "endpoint"}

# --- RAM: the resource formats of the actions the function needs ----------------------------------------------
# CAS: "此产品不支持对具体资源授权,需授予全部资源权限" (all four actions: All Resources, so "*").
# https://help.aliyun.com/document_detail/455277.html (RAM code yundun-cert), and each API's page, e.g.
# https://www.alibabacloud.com/help/en/ssl-certificate/developer-reference/api-cas-2020-04-07-listusercertificateorder
CAS_RAM_PREFIX = "yundun-cert:"
CAS_RESOURCE = "*"
# MNS: SendMessage / BatchSendMessage -> mns:SendMessage on acs:mns:$region:$accountid:/queues/$queueName/messages
# https://www.alibabacloud.com/help/doc-detail/35134.htm and https://help.aliyun.com/zh/mns/b3asrm
MNS_SEND_FORMAT = "acs:mns:$region:$accountid:/queues/$queueName/messages"
MNS_SDK_ACTIONS = {"send_message": "mns:SendMessage", "batch_send_message": "mns:SendMessage",
                   "receive_message": "mns:ReceiveMessage", "batch_receive_message": "mns:ReceiveMessage",
                   "delete_message": "mns:DeleteMessage", "batch_delete_message": "mns:DeleteMessage",
                   "peek_message": "mns:PeekMessage", "batch_peek_message": "mns:PeekMessage",
                   "change_message_visibility": "mns:ChangeMessageVisibility"}
# SLS: log:PostLogStoreLogs on the logstore, https://www.alibabacloud.com/help/doc-detail/29052.htm
LOG_POST_FORMAT = "acs:log:${regionName}:${projectOwnerAliUid}:project/${projectName}/logstore/${logstoreName}"
# The logConfig: auto project fc3 creates: `serverless-${region}-${uuid(accountID)}`, logstore `default-logs`
# (devsapp/fc3 src/resources/sls/index.ts, src/default/resources.ts).
FC3_AUTO_LOG_PROJECT_PREFIX = "serverless-"
# What Function Compute itself does with the function's role when vpcConfig is set: "make sure that the role ...
# is granted the vpc:DescribeVSwitchAttributes and vpc:DescribeVpcAttribute permissions"
# (https://www.alibabacloud.com/help/en/fc/user-guide/configure-network-settings), on all resources.
FC_VPC_ACTIONS = {"vpc:DescribeVSwitchAttributes", "vpc:DescribeVpcAttribute"}
# The function's code calls nothing else; the platform writes the logs (above) and reads the VPC.
PLATFORM_ACTIONS = {"log:PostLogStoreLogs"} | FC_VPC_ACTIONS
# "The RAM role must trust fc.aliyuncs.com" (shared reference, cas-v2-instances.md "Deployment facts"; the fc3
# component's own role template trusts it too: devsapp/ros examples/s2.yaml).
FC_SERVICE_PRINCIPAL = "fc.aliyuncs.com"
# CAS allows 10 calls per second per account and API (README "Never twice, never lost"; CAS API reference).
CAS_ACCOUNT_QPS = 10


def _format_regex(fmt: str) -> re.Pattern[str]:
    """A documented format with its $placeholders / ${placeholders} as a regex: a name, or RAM's `*` wildcard."""
    parts = re.split(r"\$\{\w+\}|\$\w+", fmt)
    return re.compile("^" + r"[A-Za-z0-9*_.-]+".join(re.escape(p) for p in parts) + "$")


MNS_SEND_RE = _format_regex(MNS_SEND_FORMAT)
LOG_POST_RE = _format_regex(LOG_POST_FORMAT)


def _walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _resolve(node: Any, pseudo: str = "*") -> Any:
    """The template value with Ref and Fn::Sub of parameters taken at their defaults, pseudo parameters as `pseudo`."""
    if isinstance(node, list):
        return [_resolve(v, pseudo) for v in node]
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            name = node["Ref"]
            return pseudo if name in ROS_PSEUDO_PARAMETERS else PARAMETERS[name]["Default"]
        if set(node) == {"Fn::Sub"}:
            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                return pseudo if name in ROS_PSEUDO_PARAMETERS else str(PARAMETERS[name]["Default"])
            return re.sub(r"\$\{([^}!]+)\}", sub, node["Fn::Sub"])
        return {k: _resolve(v, pseudo) for k, v in node.items()}
    return node


def _s_vars(text: str) -> str:
    return re.sub(r"\$\{vars\.(\w+)\}", lambda m: str(SYAML["vars"][m.group(1)]), text)


def _queue_resources() -> dict[str, str]:
    """QueueName (at the parameter's default) -> logical id, for every queue the template creates."""
    return {_resolve(r["Properties"]["QueueName"]): name for name, r in RESOURCES.items()
            if r["Type"] == "ALIYUN::MNS::Queue"}


def _queue_of_arn(arn: str) -> str:
    match = re.fullmatch(r"acs:mns:[^:]+:[^:]+:/queues/([A-Za-z0-9-]+)(/messages)?", arn)
    assert match, arn
    return match.group(1)


# --- the template itself --------------------------------------------------------------------------------------

def test_the_template_is_plain_yaml_with_long_form_functions():
    assert TEMPLATE["ROSTemplateFormatVersion"] == "2015-09-01"
    assert not re.search(r"(^|\s)!\w+", TEMPLATE_PATH.read_text()), "short-form tags (!Ref ...) need a custom loader"


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_each_resource_uses_documented_types_and_properties(name):
    resource = RESOURCES[name]
    spec = ROS_TYPES.get(resource["Type"])
    assert spec, f"{name}: {resource['Type']} is not a type this test knows from the ROS docs"
    props = set(resource.get("Properties", {}))
    assert props <= spec["properties"], (name, props - spec["properties"], spec["doc"])
    assert spec["required"] <= props, (name, spec["required"] - props)
    for prop, allowed in spec.get("allowed", {}).items():
        if prop in resource["Properties"]:
            assert resource["Properties"][prop] in allowed, (name, prop)
    assert set(resource) <= {"Type", "Properties", "DependsOn", "Condition", "Metadata"}


def test_every_reference_names_a_parameter_resource_or_documented_attribute():
    for node in _walk({"Resources": RESOURCES, "Outputs": OUTPUTS}):
        if not isinstance(node, dict):
            continue
        if "Ref" in node:
            assert node["Ref"] in PARAMETERS or node["Ref"] in RESOURCES or node["Ref"] in ROS_PSEUDO_PARAMETERS
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            assert attribute in ROS_TYPES[RESOURCES[resource]["Type"]]["attributes"], (resource, attribute)
        if "Fn::Sub" in node:
            assert isinstance(node["Fn::Sub"], str)
            for name in re.findall(r"\$\{([^}!]+)\}", node["Fn::Sub"]):
                if "." in name:
                    resource, attribute = name.split(".", 1)
                    assert attribute in ROS_TYPES[RESOURCES[resource]["Type"]]["attributes"], name
                else:
                    assert name in PARAMETERS or name in ROS_PSEUDO_PARAMETERS, name


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_parameters_use_documented_keys_and_their_defaults_are_valid(name):
    param = PARAMETERS[name]
    assert set(param) <= ROS_PARAMETER_KEYS, set(param) - ROS_PARAMETER_KEYS
    assert param["Type"] in ROS_PARAMETER_TYPES
    if "Default" in param:
        default = str(param["Default"])
        if "AllowedPattern" in param:
            assert re.fullmatch(param["AllowedPattern"], default), (name, default)
        if "AllowedValues" in param:
            assert param["Default"] in param["AllowedValues"]


def test_the_outputs_give_the_role_the_redis_address_and_the_queue_names():
    assert OUTPUTS["RoleArn"]["Value"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
    assert OUTPUTS["RedisHost"]["Value"] == {"Fn::GetAtt": ["Ledger", "ConnectionDomain"]}
    assert OUTPUTS["RedisPort"]["Value"] == {"Fn::GetAtt": ["Ledger", "Port"]}
    queues = {r for r, v in RESOURCES.items() if v["Type"] == "ALIYUN::MNS::Queue"}
    named = {o["Value"]["Fn::GetAtt"][0] for o in OUTPUTS.values()
             if o["Value"].get("Fn::GetAtt", [None, None])[1] == "QueueName"}
    assert named == queues


# --- s.yaml deploys it, and uses what it creates --------------------------------------------------------------

def test_s_yaml_deploys_the_template_with_the_ros_component():
    assert INFRA["component"] == "ros"
    props = INFRA["props"]
    assert set(props) <= ROS_COMPONENT_PROPS, set(props) - ROS_COMPONENT_PROPS
    assert (ROOT / props["template"]).resolve() == TEMPLATE_PATH
    assert _s_vars(props["region"]) == _s_vars(PROPS["region"])
    given = set(props["parameters"])
    assert given <= set(PARAMETERS), given - set(PARAMETERS)
    required = {name for name, p in PARAMETERS.items() if "Default" not in p}
    assert required <= given, required - given


def test_every_output_s_yaml_reads_exists():
    text = (ROOT / "s.yaml").read_text()
    used = set(re.findall(r"\$\{resources\.casrelay-infra\.output\.(\w+)\}", text))
    assert {"RoleArn", "RedisHost", "RedisPort"} <= used
    assert used <= set(OUTPUTS), used - set(OUTPUTS)


def _queues_s_yaml_uses() -> dict[str, str]:
    """Every MNS queue s.yaml names, resolved, with where it is named."""
    [eb] = [t for t in PROPS["triggers"] if t["triggerType"] == "eventbridge"]
    cfg = eb["triggerConfig"]
    found = {
        _s_vars(cfg["eventSourceConfig"]["eventSourceParameters"]["sourceMNSParameters"]["QueueName"]): "trigger",
        _queue_of_arn(_s_vars(cfg["runOptions"]["deadLetterQueue"]["Arn"])
                      .replace("${config('AccountID')}", "1")): "dead letters",
        _queue_of_arn(_s_vars(PROPS["asyncInvokeConfig"]["destinationConfig"]["onFailure"]["destination"])
                      .replace("${config('AccountID')}", "1")): "async failures",
        str(SYAML["vars"]["sinkQueue"]): "mns:// sink",
    }
    return found


def test_every_queue_s_yaml_uses_is_created_by_the_template():
    created = _queue_resources()
    passed = {k: _s_vars(v) for k, v in INFRA["props"]["parameters"].items()}
    for queue, where in _queues_s_yaml_uses().items():
        assert queue in created, f"the {where} queue {queue} is not created by the template"
        param = RESOURCES[created[queue]]["Properties"]["QueueName"]["Ref"]
        # s.yaml passes the same name, or leaves the parameter at the default that equals it.
        assert passed.get(param, PARAMETERS[param]["Default"]) == queue, (where, param)


def test_the_function_runs_as_the_role_the_template_creates():
    assert PROPS["role"] == "${resources.casrelay-infra.output.RoleArn}"
    role = RESOURCES["FunctionRole"]["Properties"]
    assert role["RoleName"] == {"Ref": "RoleName"}
    assert _s_vars(INFRA["props"]["parameters"]["RoleName"]) == SYAML["vars"]["roleName"] == \
        PARAMETERS["RoleName"]["Default"]


def test_the_role_trusts_function_compute_only():
    [statement] = RESOURCES["FunctionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": [FC_SERVICE_PRINCIPAL]}


def test_the_template_attaches_ram_policy_json_to_the_role():
    policy = RESOURCES["FunctionPolicy"]["Properties"]
    assert policy["Roles"] == [{"Fn::GetAtt": ["FunctionRole", "RoleName"]}]
    # With the region and account left as RAM wildcards and the queue names at their defaults, the template's
    # document is deploy/ram-policy.json.
    assert _resolve(policy["PolicyDocument"]) == POLICY


def test_the_ledger_is_a_standard_redis_in_the_functions_vpc_that_never_evicts():
    ledger = RESOURCES["Ledger"]["Properties"]
    params = INFRA["props"]["parameters"]
    vpc = PROPS["vpcConfig"]
    assert ledger["VpcId"] == {"Ref": "VpcId"} and params["VpcId"] == vpc["vpcId"]
    assert ledger["VSwitchId"] == {"Ref": "VSwitchId"} and [params["VSwitchId"]] == vpc["vSwitchIds"]
    assert ledger["ZoneId"] == {"Ref": "ZoneId"}
    assert vpc["securityGroupId"].startswith("${env(")
    # The ledger's Lua scripts write several keys at once: no cluster (sharding) class.
    assert not re.search(r"sharding|cluster|shard", PARAMETERS["RedisInstanceClass"]["Default"])
    assert ledger["EvictionPolicy"] == "noeviction"
    assert ledger["DeletionProtection"] is True
    assert ledger["Password"] == {"Ref": "RedisPassword"} and PARAMETERS["RedisPassword"]["NoEcho"] is True
    [whitelist] = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "ALIYUN::REDIS::Whitelist"]
    assert whitelist["InstanceId"] == {"Fn::GetAtt": ["Ledger", "InstanceId"]}
    assert params["RedisWhitelist"].startswith("${env(")


def test_the_ledger_url_keeps_any_allowed_password_intact():
    """IDEMPOTENCY_STORE is redis://:PASSWORD@host:port/0; no character the password may have needs escaping."""
    pattern = PARAMETERS["RedisPassword"]["AllowedPattern"]
    specials = "".join(c for c in "!@#$%^&*()_+-=" if re.fullmatch(pattern, "Aa345678" + c))
    assert specials, "the pattern allows no special character at all"
    password = "Aa345678" + specials
    url = PROPS["environmentVariables"]["IDEMPOTENCY_STORE"]
    url = url.replace("${env('REDIS_PASSWORD')}", password)
    url = url.replace("${resources.casrelay-infra.output.RedisHost}", "r-bp1.redis.rds.aliyuncs.com")
    url = url.replace("${resources.casrelay-infra.output.RedisPort}", "6379")
    redis_connection = pytest.importorskip("redis.connection")
    parsed = redis_connection.parse_url(url)
    assert parsed["password"] == password
    assert (parsed["host"], parsed["port"], parsed.get("db", 0)) == ("r-bp1.redis.rds.aliyuncs.com", 6379, 0)
    assert urlsplit(url).hostname == "r-bp1.redis.rds.aliyuncs.com"


# --- the policy covers what the code calls, in the documented resource formats ---------------------------------

def _cas_actions_called() -> set[str]:
    ordering = ROOT / "handler" / "casrelay" / "ordering"
    gateway = "".join(path.read_text() for path in sorted(ordering.glob("*.py")))
    called = set(re.findall(r'^[A-Z_]+ = "([A-Z][A-Za-z]+)"', gateway, re.MULTILINE))
    assert {"CreateCertificateForPackageRequest", "DescribePackageState", "ListUserCertificateOrder",
            "CancelCertificateForPackageRequest", "ApplyCertificate", "UpdateInstance", "GetInstanceDetail",
            "ListInstances", "GetTaskAttribute", "ListContact", "CreateContact", "ListCompanies",
            "DescribeCertificateState", "DeleteCertificateRequest"} <= called
    return {CAS_RAM_PREFIX + a for a in called}


ALIDNS = ROOT / "handler" / "casrelay" / "follow" / "dns" / "alidns.py"
#: alibabacloud.com/help/en/dns/ram-authorization: the record actions are authorised on the zone.
ALIDNS_DOMAIN_RE = re.compile(r"^acs:alidns:\*:[^:]+:domain/(\*|[A-Za-z0-9.-]+)$")


def _alidns_actions_called() -> set[str]:
    called = set(re.findall(r'^ACTION_[A-Z_]+ = "([A-Za-z]+)"', ALIDNS.read_text(), re.MULTILINE))
    assert called == {"DescribeDomains", "DescribeSubDomainRecords", "AddDomainRecord", "DeleteDomainRecord"}
    return {"alidns:" + a for a in called}


def _mns_actions_called() -> set[str]:
    tree = ast.parse((ROOT / "handler" / "casrelay" / "push" / "mns.py").read_text())
    methods = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    called = {MNS_SDK_ACTIONS[m] for m in methods & set(MNS_SDK_ACTIONS)}
    assert called == {"mns:SendMessage"}, called
    return called


def _allowed(action: str) -> list[str]:
    resources: list[str] = []
    for statement in POLICY["Statement"]:
        if statement["Effect"] == "Allow" and action in statement["Action"]:
            resources.extend(statement["Resource"])
    return resources


def test_the_policy_allows_every_action_the_code_calls_and_nothing_else():
    needed = _cas_actions_called() | _mns_actions_called() | _alidns_actions_called() | PLATFORM_ACTIONS
    granted = {a for s in POLICY["Statement"] for a in s["Action"]}
    assert needed <= granted, needed - granted
    assert granted <= needed, f"not needed by the code or the platform: {granted - needed}"
    assert all(s["Effect"] == "Allow" and "*" not in "".join(s["Action"]) for s in POLICY["Statement"])


def test_cas_actions_are_granted_on_all_resources_as_cas_requires():
    for action in _cas_actions_called():
        assert _allowed(action) == [CAS_RESOURCE], action


def test_send_message_is_granted_on_the_documented_queue_messages_resource_of_each_queue_written_to():
    resources = _allowed("mns:SendMessage")
    assert resources and all(MNS_SEND_RE.match(r) for r in resources), (resources, MNS_SEND_FORMAT)
    queues = {_queue_of_arn(r) for r in resources}
    # The function writes to the mns:// sink; FC writes the async failures with the function's role.
    uses = {q: w for q, w in _queues_s_yaml_uses().items() if w in ("mns:// sink", "async failures")}
    assert set(uses) == queues
    # ...and nowhere else: not the queues EventBridge reads or parks events in.
    assert not queues & {q for q, w in _queues_s_yaml_uses().items() if w in ("trigger", "dead letters")}


def test_logs_are_granted_on_the_documented_logstore_resource_of_fc3s_auto_project():
    resources = _allowed("log:PostLogStoreLogs")
    assert resources and all(LOG_POST_RE.match(r) for r in resources), (resources, LOG_POST_FORMAT)
    assert PROPS["logConfig"] == "auto"
    for resource in resources:
        project = resource.split(":project/", 1)[1].split("/", 1)[0]
        assert project.startswith(FC3_AUTO_LOG_PROJECT_PREFIX)


def test_the_vpc_actions_are_the_ones_function_compute_documents():
    for action in FC_VPC_ACTIONS:
        assert _allowed(action) == ["*"]
    assert PROPS["vpcConfig"], "the VPC actions are there because the function is attached to a VPC"


def test_mns_resources_in_ram_policy_json_leave_region_and_account_to_the_template():
    # The standalone policy names no account; the template's copy fills in ALIYUN::Region and ALIYUN::AccountId.
    for resource in _allowed("mns:SendMessage"):
        assert resource.startswith("acs:mns:*:*:/queues/")
    template = _resolve(RESOURCES["FunctionPolicy"]["Properties"]["PolicyDocument"], pseudo="<x>")
    for statement in template["Statement"]:
        for resource in statement["Resource"]:
            if resource.startswith("acs:alidns:"):
                # Alidns's format has no region (``acs:alidns:*:$accountid:domain/...``); the account is filled in.
                assert resource.split(":")[2:4] == ["*", "<x>"], resource
                continue
            assert resource == "*" or resource.split(":")[2:4] == ["<x>", "<x>"], resource


def test_the_alidns_record_actions_are_granted_on_zones_and_only_the_zone_listing_on_all_resources():
    for action in ("alidns:AddDomainRecord", "alidns:DescribeSubDomainRecords", "alidns:DeleteDomainRecord"):
        resources = _allowed(action)
        assert resources and all(ALIDNS_DOMAIN_RE.match(r) for r in resources), (action, resources)
    assert _allowed("alidns:DescribeDomains") == ["*"]


def test_the_cas_call_rate_ceiling_fits_the_cas_account_limit():
    """CAS_MAX_QPS is shared by every instance when the pacer is shared through the Redis ledger; else per instance."""
    env = PROPS["environmentVariables"]
    qps = float(env["CAS_MAX_QPS"])
    shared = ((ROOT / "handler" / "casrelay" / "cas" / "shared_pacer.py").exists()
              and env.get("CAS_PACER", "auto") in ("auto", "redis") and env["IDEMPOTENCY_STORE"].startswith("redis://"))
    assert PROPS["instanceConcurrency"] == 1
    instances = 1 if shared else PROPS["concurrencyConfig"]["reservedConcurrency"]
    assert instances * qps <= CAS_ACCOUNT_QPS
