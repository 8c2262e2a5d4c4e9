from devkit.mutation_explained import Explanation

_M = "ordering/instance.py"

_WIRING_MESSAGE = (
    "unreachable, and wording only: NewOrder._call (the only caller of place) always passes an Attempt whose "
    "reservation is an OrderReservation, so this RuntimeError (a wiring bug, answered as a 500 by the entry's "
    "catch-all) is never raised; its words are read by no code and no caller")
_TASK_WAIT_DEFAULT = (
    "equivalent: both places that build an InstanceBackend (ordering/__init__.py open_backends and "
    "backend_for) pass settings.task_wait_seconds, so the constructor's default is never used; the documented "
    "default of CAS_TASK_WAIT_SECONDS (5) lives in config.py and is unchanged")
_REQUEST_ID_NONE_DEFAULT = (
    "equivalent: str(x or '') where x is '' or None is '' either way; a missing RequestId is still recorded as "
    "none (test_an_apply_answer_without_a_body_makes_up_no_request_id_and_still_names_the_instance)")
_UNUSABLE_REASON = (
    "equivalent: _Unusable's argument is never read; _hold catches _Unusable only to try the next listed "
    "instance (the reason an instance did not fit is told only to an order that named it, through "
    "instance_not_usable, which is unchanged)")
_VALIDATION_DEFAULT = (
    "equivalent: Order.validate_type comes only from validation/base.py validate_order, which accepts None, "
    "'DNS' or 'FILE' (VALIDATE_TYPES); after 'or \"DNS\"' the key is always 'DNS' or 'FILE', both in VALIDATION, "
    "so .get's default is never used")
_VALIDATION_OR = (
    "equivalent: the 'or' operand is used only when validate_type is None, and VALIDATION has no such key, so "
    ".get falls back to its default 'DNS', the same ValidationMethod the original sends")
_WAIT_BOUNDARY = (
    "equivalent in practice: '<=' differs from '<' only at the instant time.monotonic() equals stop exactly; "
    "stop is an earlier reading plus the wait, and the clock advances between readings, so at most one more "
    "read-only GetTaskAttribute could be made at that instant, spending nothing and bounded by the same deadline "
    "(test_following_the_application_never_runs_past_the_invocation_s_deadline pins the deadline)")
_TASK_TYPE_DEFAULT = (
    "equivalent: GetTaskAttribute's TaskType defaults to ApplyCertificate (alibabacloud_cas20200407 3.9.4 "
    "models/_get_task_attribute_request.py: 'The default value is ApplyCertificate'; the emulator does the "
    "same), so omitting it asks for the same task")
_STATUS_DEFAULT = (
    "equivalent: the SDK body (GetTaskAttributeResponseBody) always has task_status, so getattr's default is "
    "used only for a None body, where '', 'None' and 'XXXX' all differ from 'success' and 'failed' alike: the "
    "poll goes on either way (the default-less getattr, which would raise, is killed by "
    "test_a_task_answer_without_a_body_leaves_the_order_applied_and_processing)")
_MESSAGE_DEFAULT = (
    "equivalent: this line runs only when task_status read 'failed', so body is a GetTaskAttributeResponseBody, "
    "which always has task_message: getattr's default is never used")
_TOTAL_DEFAULT = (
    "equivalent: the SDK body always has total_count, so the default is used only for a None body, whose "
    "listing is empty: more is bool([]) and ..., False whatever total is")
_TOTAL_OR_ONE = (
    "equivalent: total matters only in 'page * PAGE_SIZE < total' with page >= 1, i.e. 100 < total, which is "
    "False for a total of 0 and of 1 alike")
_LOOKUP_WORDING = (
    "wording only: the case or padding of a Finding's reason, which only the reconcile.* log lines and "
    "Reconciled.reason carry as free text; the verdict, the instance_id and the certificate_id that the "
    "reconciler acts on are pinned by test_look_up_answers_from_the_leased_instance_and_names_it and "
    "test_an_attempt_that_leased_no_instance_applied_on_none")
_LOOKUP_STATUS_DEFAULT = (
    "equivalent for the verdict, wording only otherwise: a detail without a status (a None body, or a status of "
    "None or '') reads as '' in the original and as 'XXXX' or 'None' here; neither is an applied status nor "
    "'inactive', so the Finding is UNRESOLVED on the same instance either way, and only the reason's text "
    "('the instance is ...') differs (test_look_up_of_an_empty_detail_answer_is_unresolved)")
_INT_EMPTY = (
    "equivalent on today's code: this mutant's idea, applied to instance_progress._int (where certificate_id "
    "now reads the value), is caught by _int's own 'except (TypeError, ValueError): return None': int('') raises "
    "ValueError, so '' is None either way, and 'XXXX' is as unreadable as before")

ENTRIES = [
    Explanation(_M, "InstanceBackend.__init__", "task_wait_seconds: float = 6.0", _TASK_WAIT_DEFAULT),
    Explanation(_M, "InstanceBackend.place", "raise RuntimeError(None)", _WIRING_MESSAGE),
    Explanation(_M, "InstanceBackend.place", 'raise RuntimeError("XXan instance order needs', _WIRING_MESSAGE),
    Explanation(_M, "InstanceBackend.place", 'raise RuntimeError("AN INSTANCE ORDER NEEDS', _WIRING_MESSAGE),
    Explanation(_M, "InstanceBackend.place", 'request_id = str(getattr(body, "request_id", None) or "")',
                _REQUEST_ID_NONE_DEFAULT),
    Explanation(_M, "InstanceBackend._checked", "raise _Unusable(None)", _UNUSABLE_REASON),
    Explanation(_M, "InstanceBackend._update", 'VALIDATION.get(order.validate_type or "DNS", None)',
                _VALIDATION_DEFAULT),
    Explanation(_M, "InstanceBackend._update", 'VALIDATION.get(order.validate_type or "DNS", ),',
                _VALIDATION_DEFAULT),
    Explanation(_M, "InstanceBackend._update", 'VALIDATION.get(order.validate_type or "DNS", "XXDNSXX")',
                _VALIDATION_DEFAULT),
    Explanation(_M, "InstanceBackend._update", 'VALIDATION.get(order.validate_type or "DNS", "dns")',
                _VALIDATION_DEFAULT),
    Explanation(_M, "InstanceBackend._update", 'VALIDATION.get(order.validate_type or "XXDNSXX", "DNS")',
                _VALIDATION_OR),
    Explanation(_M, "InstanceBackend._update", 'VALIDATION.get(order.validate_type or "dns", "DNS")',
                _VALIDATION_OR),
    Explanation(_M, "InstanceBackend._wait", "while time.monotonic() <= stop:", _WAIT_BOUNDARY),
    Explanation(_M, "InstanceBackend._wait", "GetTaskAttributeRequest(task_id=instance_id, task_type=None)",
                _TASK_TYPE_DEFAULT),
    Explanation(_M, "InstanceBackend._wait", "GetTaskAttributeRequest(task_id=instance_id, ), creds)",
                _TASK_TYPE_DEFAULT),
    Explanation(_M, "InstanceBackend._wait", 'str(getattr(body, "task_status", None)) == "success"', _STATUS_DEFAULT),
    Explanation(_M, "InstanceBackend._wait", 'str(getattr(body, "task_status", "XXXX")) == "success"',
                _STATUS_DEFAULT),
    Explanation(_M, "InstanceBackend._wait", 'str(getattr(body, "task_status", None)) == "failed"', _STATUS_DEFAULT),
    Explanation(_M, "InstanceBackend._wait", 'str(getattr(body, "task_status", "XXXX")) == "failed"',
                _STATUS_DEFAULT),
    Explanation(_M, "InstanceBackend._wait", 'str(getattr(body, "task_message", None) or "")', _MESSAGE_DEFAULT),
    Explanation(_M, "InstanceBackend._wait", 'str(getattr(body, "task_message", ) or "")', _MESSAGE_DEFAULT),
    Explanation(_M, "InstanceBackend._wait", 'str(getattr(body, "task_message", "XXXX") or "")', _MESSAGE_DEFAULT),
    Explanation(_M, "InstanceBackend._list", 'int(getattr(body, "total_count", None) or 0)', _TOTAL_DEFAULT),
    Explanation(_M, "InstanceBackend._list", 'int(getattr(body, "total_count", 1) or 0)', _TOTAL_DEFAULT),
    Explanation(_M, "InstanceBackend._list", 'int(getattr(body, "total_count", 0) or 1)', _TOTAL_OR_ONE),
    Explanation(_M, "InstanceBackend.look_up", '"XXthe order leased no instance, so it applied on noneXX"',
                _LOOKUP_WORDING),
    Explanation(_M, "InstanceBackend.look_up", '"THE ORDER LEASED NO INSTANCE, SO IT APPLIED ON NONE"',
                _LOOKUP_WORDING),
    Explanation(_M, "InstanceBackend.look_up", '"XXthe instance has an application task and our tagXX"',
                _LOOKUP_WORDING),
    Explanation(_M, "InstanceBackend.look_up", '"THE INSTANCE HAS AN APPLICATION TASK AND OUR TAG"', _LOOKUP_WORDING),
    Explanation(_M, "InstanceBackend.look_up", '"XXthe instance has a task without our tagXX"', _LOOKUP_WORDING),
    Explanation(_M, "InstanceBackend.look_up", '"THE INSTANCE HAS A TASK WITHOUT OUR TAG"', _LOOKUP_WORDING),
    Explanation(_M, "InstanceBackend.look_up", '"XXthe instance is inactive with no applicationXX"', _LOOKUP_WORDING),
    Explanation(_M, "InstanceBackend.look_up", '"THE INSTANCE IS INACTIVE WITH NO APPLICATION"', _LOOKUP_WORDING),
    Explanation(_M, "InstanceBackend.look_up", 'status = str(getattr(detail, "status", None) or "")',
                "equivalent: getattr's default is used only for a None body, and None or '' is '' exactly as "
                "'' or '' is"),
    Explanation(_M, "InstanceBackend.look_up", 'status = str(getattr(detail, "status", "XXXX") or "")',
                _LOOKUP_STATUS_DEFAULT),
    Explanation(_M, "InstanceBackend.look_up", 'status = str(getattr(detail, "status", "") or "XXXX")',
                _LOOKUP_STATUS_DEFAULT),
    Explanation(_M, "_certificate_id", 'return int(value) if value not in (None, "XXXX") else None', _INT_EMPTY),
    # Since the follower (issue 13): _task is reached by `progress`, and `progress` itself.
    Explanation(_M, "InstanceBackend._task", 'getattr(body, "task_status", None) or ""', (
        "equivalent: getattr's default is read only when the body lacks the field (a None body), and None or \"\" "
        "is \"\" as \"\" or \"\" is: the status reads as empty either way (tests/unit/test_mutation_kills_"
        "instance.py::test_a_task_answer_without_a_body_reads_as_no_status_and_no_message)")),
    Explanation(_M, "InstanceBackend._task", 'getattr(body, "task_message", None) or ""', (
        "equivalent: as for the status, None or \"\" is \"\" for a body without the field")),
    Explanation(_M, "InstanceBackend.progress", "XXa V2.0 order is followed by the instance it applied on", (
        "cannot be reached, and wording only: the follower polls only placed records, and a V2.0 record is placed "
        "only with its InstanceId (LedgerRecord._check refuses a placed record with neither id); the ValueError's "
        "text reaches nobody (the follower logs an exception by its type)")),
    Explanation(_M, "InstanceBackend.progress", "a v2.0 order is followed by the instance it applied on", (
        "cannot be reached, and wording only (as above)")),
]
