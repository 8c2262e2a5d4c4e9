"""Group C's explained survivors: ledger/lease.py, flows/lease.py, flows/instance_order.py (V2.0 leases and the
V2.0 order parameters). The rest of the group's survivors are killed by tests/unit/test_mutation_kills_leases.py."""

from devkit.mutation_explained import Explanation

_OWNER_IS_A_KEY = (
    "cannot be reached: the only writer of a lease record is InstanceLeases.take, which writes "
    "source={'owner': record.key} (a fresh lease and a takeover alike), and a record's key is always a str "
    "(LedgerRecord._check refuses a stored record whose key is not); a lease without an owner gives None either "
    "way. Only a lease whose stored owner is a non-string, which no code writes, could tell the two apart")
_LOST_RACE_ARG = (
    "equivalent: the argument of the LostRace that InstanceLeases.take raises is read by nothing. Its only caller "
    "outside the tests, OrderReservation.take, runs it inside guard.must, which logs the order's own key and the "
    "exception's type name and raises LedgerUnavailable built from the type name alone (a 503, nothing applied); "
    "no handler reads a LostRace's args or text")
_INSTANCE_ID_WORDS = (
    "wording of the InstanceId refusal's Message, which a person reads; what a caller acts on, Field InstanceId "
    "and Code InvalidInstanceId in the 400's Errors, is pinned by tests/unit/test_mutation_kills_leases.py, and no "
    "contract (README, openapi.yaml) fixes the words")
_COMPANY_ID_WORDS = (
    "wording of the CompanyId refusal's Message, which a person reads; what a caller acts on, Field CompanyId and "
    "Code InvalidCompanyId in the 400's Errors, is pinned by tests/unit/test_mutation_kills_leases.py, and no "
    "contract (README, openapi.yaml) fixes the words")
_TAGS_WORDS = (
    "wording of the second half of the TooManyTags refusal's Message (why the twentieth tag is casrelay's), which "
    "a person reads; Field Tags, Code TooManyTags and the limit (19 accepted, 20 refused) are pinned by "
    "tests/unit/test_mutation_kills_leases.py, and no contract fixes the words")

ENTRIES = [
    # --- ledger/lease.py -------------------------------------------------------------------------------------
    Explanation("ledger/lease.py", "_owner", "return owner if (isinstance(owner, str)) or True else None",
                _OWNER_IS_A_KEY),
    Explanation("ledger/lease.py", "InstanceLeases.take", "raise LostRace(None)", _LOST_RACE_ARG,
                original="raise LostRace(fresh.key)"),
    # --- flows/instance_order.py: the Message words of a refusal ------------------------------------------------
    Explanation("flows/instance_order.py", "instance_fields",
                '"XXan instance ID such as cas_dv-cn-rp643r82d0i1 (letters, digits, _ and -)XX"', _INSTANCE_ID_WORDS),
    Explanation("flows/instance_order.py", "instance_fields",
                '"an instance id such as cas_dv-cn-rp643r82d0i1 (letters, digits, _ and -)"', _INSTANCE_ID_WORDS),
    Explanation("flows/instance_order.py", "instance_fields",
                '"AN INSTANCE ID SUCH AS CAS_DV-CN-RP643R82D0I1 (LETTERS, DIGITS, _ AND -)"', _INSTANCE_ID_WORDS),
    Explanation("flows/instance_order.py", "instance_fields",
                '"InvalidCompanyId", "XXa company ID (a positive whole number)XX"', _COMPANY_ID_WORDS),
    Explanation("flows/instance_order.py", "instance_fields",
                '"InvalidCompanyId", "a company id (a positive whole number)"', _COMPANY_ID_WORDS),
    Explanation("flows/instance_order.py", "instance_fields",
                '"InvalidCompanyId", "A COMPANY ID (A POSITIVE WHOLE NUMBER)"', _COMPANY_ID_WORDS),
    Explanation("flows/instance_order.py", "read_instance_order",
                "\"XXcasrelay's idempotency tag takes the twentieth, which finds the applicationXX\"", _TAGS_WORDS),
    Explanation("flows/instance_order.py", "read_instance_order",
                "\"CASRELAY'S IDEMPOTENCY TAG TAKES THE TWENTIETH, WHICH FINDS THE APPLICATION\"", _TAGS_WORDS),
]
