from devkit.mutation_explained import Explanation

_CAS_FAILED_HINT = (
    "Only the words of the operator hint in CasFailed's message change. What callers and flows read is "
    "pinned: the class CasFailed, Code 'CasFailed', cas_code = CAS's code, status 502, and no resend "
    "(test_a_refused_call_with_the_deployment_s_credentials_is_failed_and_not_resent, test_paid_call_failure_classes).")
_NO_CODE_PLACEHOLDER = (
    "This is the placeholder for an answer that has no code at all. No list holds it or this spelling of it, "
    "and it does not start with Missing/Invalid/InvalidAccessKeyId./InvalidSecurityToken., so the class stays "
    "CasOutcomeUnknown (502, not resent). cas_outcome_unknown takes no code, so the placeholder shows up only "
    "in the message's words.")
_NO_STATUS_WORDING = (
    "Only the case or wrapping of the words 'without a status' changes. "
    "test_an_unknown_outcome_without_a_usable_status_says_it_had_none_instead_of_making_one_up pins that the "
    "message says so, case-insensitively. The class, the 502 and the no-resend rule do not change.")
_UNKNOWN_TAIL_WORDING = (
    "Only the wording of the unknown-outcome message's tail changes. The class CasOutcomeUnknown, "
    "answered=True (502), the request id and the no-resend rule are pinned, and so are the status and code "
    "the message reports.")
_UNAVAILABLE_WORDING = (
    "Only the wording of the CasUnavailable message for a request that never left changes. What callers and "
    "flows read is pinned: the class, Code 'CasUnavailable', 503 with Retry-After 1, transient, and resend-safe "
    "(test_a_connection_error_found_only_in_a_retry_error_s_reason_proves_nothing_was_sent and the others).")
_TRANSPORT_UNKNOWN_WORDING = (
    "Only the wording of the CasOutcomeUnknown message for a transport error after the request may have left "
    "changes. The class, Code 'CasOutcomeUnknown', 504 (answered=False) and the no-resend rule are pinned.")
_SAME_500 = (
    "Equivalent: a status of 500 never reaches this test. 'if status >= 500' returned an unknown outcome just "
    "above, so the statuses that get here are below 500, where '< 500', '<= 500' and '< 501' agree.")
_HASATTR = (
    "Equivalent: _from_response's only caller is map_exception, and it calls it only when "
    "hasattr(exc, 'status_code') and hasattr(exc, 'code'). So getattr without a default never raises and "
    "gives the same value as with the default None.")
_LEGACY_NAME = (
    "Equivalent: _legacy_kind's only caller is from_value. from_value looks the name up with "
    "STORED_KINDS.get(str(kind), CasRefused), and this spelling is not a key there, so the lookup falls back to "
    "CasRefused, exactly as the name 'CasRefused' does. Code, message, status and transient do not change.")
_DEFAULT_MESSAGE_WORDING = (
    "Only the wording of the default message for a stored refusal whose row has no Message changes. "
    "test_a_stored_refusal_without_a_message_still_tells_the_caller_it_was_refused pins that the default still "
    "says the order was refused (a None default is killed). Code, class and status do not change.")

_ID_RULE_WORDING = (
    "Only the case or wrapping of the webhook-id rule's message changes. What a caller needs from it is "
    "pinned, case and all: 401 Unauthenticated, and the message names the limit '256' and the forbidden "
    "\"'.'\" (test_a_correctly_signed_webhook_id_of_257_characters_is_refused, "
    "test_a_correctly_signed_short_webhook_id_with_a_dot_is_refused).")
_TIMESTAMP_FORM_WORDING = (
    "Only the wording of the message for a webhook-timestamp that is not whole seconds changes. The 401 "
    "Unauthenticated and the fact that nothing is ordered are pinned (test_non_numeric_timestamp_is_401).")
_NOT_UTF8_WORDING = (
    "Only the wording of the message for a signed body that is not UTF-8 changes. The 401 Unauthenticated "
    "and the fact that nothing is ordered are what a caller relies on, and no contract fixes these words.")
_BREAK_IS_SHORTCUT = (
    "Equivalent: the break only skips the remaining secrets after a timestamp failure. standardwebhooks "
    "checks the headers and then the timestamp before any signature, and the timestamp check does not depend "
    "on the secret. So every remaining secret raises the very same 'Message timestamp too old/new'. Without "
    "the break the loop ends with the same reason and the same 401.")

ENTRIES = [
    # cas/errors.py: _from_response
    Explanation("cas/errors.py", "_from_response", "\"XXcheck the function's credentials, role policy and clockXX\"",
                _CAS_FAILED_HINT),
    Explanation("cas/errors.py", "_from_response", "\"CHECK THE FUNCTION'S CREDENTIALS, ROLE POLICY AND CLOCK\"",
                _CAS_FAILED_HINT),
    Explanation("cas/errors.py", "_from_response", "if 400 <= status <= 500 and code.startswith(PARAMETER_PREFIXES)",
                _SAME_500),
    Explanation("cas/errors.py", "_from_response", "if 400 <= status < 501 and code.startswith(PARAMETER_PREFIXES)",
                _SAME_500),
    Explanation("cas/errors.py", "_from_response", 'code = str(getattr(exc, "code", ) or', _HASATTR),
    Explanation("cas/errors.py", "_from_response", 'raw_status = getattr(exc, "status_code", ) or', _HASATTR),
    Explanation("cas/errors.py", "_from_response", 'or "XXUnknownXX")', _NO_CODE_PLACEHOLDER, 'or "Unknown")'),
    Explanation("cas/errors.py", "_from_response", 'or "unknown")', _NO_CODE_PLACEHOLDER, 'or "Unknown")'),
    Explanation("cas/errors.py", "_from_response", 'or "UNKNOWN")', _NO_CODE_PLACEHOLDER, 'or "Unknown")'),
    Explanation("cas/errors.py", "_from_response", "{status or 'XXwithout a statusXX'}", _NO_STATUS_WORDING),
    Explanation("cas/errors.py", "_from_response", "{status or 'WITHOUT A STATUS'}", _NO_STATUS_WORDING),
    Explanation("cas/errors.py", "_from_response", '"XXor may not have been placedXX"', _UNKNOWN_TAIL_WORDING),
    Explanation("cas/errors.py", "_from_response", '"OR MAY NOT HAVE BEEN PLACED"', _UNKNOWN_TAIL_WORDING),
    # cas/errors.py: _from_transport
    Explanation("cas/errors.py", "_from_transport", '"XXCAS could not be reached (the connection',
                _UNAVAILABLE_WORDING),
    Explanation("cas/errors.py", "_from_transport", '"cas could not be reached (the connection or its tls handshake',
                _UNAVAILABLE_WORDING),
    Explanation("cas/errors.py", "_from_transport", '"CAS COULD NOT BE REACHED (THE CONNECTION', _UNAVAILABLE_WORDING),
    Explanation("cas/errors.py", "_from_transport", '"XXrequest was sent); nothing was orderedXX"',
                _UNAVAILABLE_WORDING),
    Explanation("cas/errors.py", "_from_transport", '"REQUEST WAS SENT); NOTHING WAS ORDERED"', _UNAVAILABLE_WORDING),
    Explanation("cas/errors.py", "_from_transport", '"XXthe connection to CAS failed after the request',
                _TRANSPORT_UNKNOWN_WORDING),
    Explanation("cas/errors.py", "_from_transport", '"the connection to cas failed after the request',
                _TRANSPORT_UNKNOWN_WORDING),
    Explanation("cas/errors.py", "_from_transport", '"THE CONNECTION TO CAS FAILED AFTER THE REQUEST',
                _TRANSPORT_UNKNOWN_WORDING),
    Explanation("cas/errors.py", "_from_transport", '"XXtimeout or a TLS error); the order may or may not existXX"',
                _TRANSPORT_UNKNOWN_WORDING),
    Explanation("cas/errors.py", "_from_transport", '"timeout or a tls error); the order may or may not exist"',
                _TRANSPORT_UNKNOWN_WORDING),
    Explanation("cas/errors.py", "_from_transport", '"TIMEOUT OR A TLS ERROR); THE ORDER MAY OR MAY NOT EXIST"',
                _TRANSPORT_UNKNOWN_WORDING),
    # cas/errors.py: request_never_left
    Explanation("cas/errors.py", "request_never_left", "return True", (
        "Unreachable: this is the branch for an ImportError of urllib3 (marked 'pragma: no cover'). The SDK cannot "
        "be imported without urllib3: Tea.core imports requests, and requests imports urllib3. With no SDK, no "
        "SDK or transport exception exists to be mapped."), "return False"),
    # errors/values.py
    Explanation("errors/values.py", "_legacy_kind", 'else "XXCasRefusedXX"', _LEGACY_NAME),
    Explanation("errors/values.py", "_legacy_kind", 'else "casrefused"', _LEGACY_NAME),
    Explanation("errors/values.py", "_legacy_kind", 'else "CASREFUSED"', _LEGACY_NAME),
    Explanation("errors/values.py", "from_value", 'str(value.get("Message", "XXCAS refused this order earlierXX"))',
                _DEFAULT_MESSAGE_WORDING),
    Explanation("errors/values.py", "from_value", 'str(value.get("Message", "cas refused this order earlier"))',
                _DEFAULT_MESSAGE_WORDING),
    Explanation("errors/values.py", "from_value", 'str(value.get("Message", "CAS REFUSED THIS ORDER EARLIER"))',
                _DEFAULT_MESSAGE_WORDING),
    # cas/errors.py: resend_is_safe
    Explanation("cas/errors.py", "resend_is_safe", '(err.cas_code or "XXXX") in RESEND_SAFE', (
        "Equivalent: the fallback only stands in for a missing cas_code (None or ''). '' and 'XXXX' are both "
        "not keys of RESEND_SAFE, so a CasFailed without a CAS code is not resend-safe either way."),
        '(err.cas_code or "") in RESEND_SAFE'),
    # auth.py: WebhookVerifier.verify
    Explanation("auth.py", "WebhookVerifier.verify",
                "\"XXwebhook-id must be at most 256 characters and contain no '.'XX\"", _ID_RULE_WORDING),
    Explanation("auth.py", "WebhookVerifier.verify",
                "\"WEBHOOK-ID MUST BE AT MOST 256 CHARACTERS AND CONTAIN NO '.'\"", _ID_RULE_WORDING),
    Explanation("auth.py", "WebhookVerifier.verify", '"XXwebhook-timestamp must be whole Unix secondsXX"',
                _TIMESTAMP_FORM_WORDING),
    Explanation("auth.py", "WebhookVerifier.verify", '"webhook-timestamp must be whole unix seconds"',
                _TIMESTAMP_FORM_WORDING),
    Explanation("auth.py", "WebhookVerifier.verify", '"WEBHOOK-TIMESTAMP MUST BE WHOLE UNIX SECONDS"',
                _TIMESTAMP_FORM_WORDING),
    Explanation("auth.py", "WebhookVerifier.verify", 'text = body.decode("UTF-8")', (
        "Equivalent: Python looks codec names up case-insensitively, so 'UTF-8' is the same codec as 'utf-8'. "
        "It decodes and refuses exactly the same bytes."), 'body.decode("utf-8")'),
    Explanation("auth.py", "WebhookVerifier.verify", '"XXthe signed body is not UTF-8 textXX"', _NOT_UTF8_WORDING),
    Explanation("auth.py", "WebhookVerifier.verify", '"the signed body is not utf-8 text"', _NOT_UTF8_WORDING),
    Explanation("auth.py", "WebhookVerifier.verify", '"THE SIGNED BODY IS NOT UTF-8 TEXT"', _NOT_UTF8_WORDING),
    Explanation("auth.py", "WebhookVerifier.verify", 'reason = "XXno valid signatureXX"', (
        "Unreachable and only wording: the default reason survives only when the loop runs zero times, that is "
        "with no secret configured. verify's only caller (entry/http.py _authenticate) answers 503 NotConfigured "
        "before it calls verify when WEBHOOK_SECRETS is empty. Every iteration that runs sets its own reason.")),
    Explanation("auth.py", "WebhookVerifier.verify", 'reason = "NO VALID SIGNATURE"', (
        "Equivalent: the reason is shown only through reason.lower(), and 'NO VALID SIGNATURE'.lower() is "
        "the original text. It is also unreachable, as for the XX-wrapped mutant: with no secret, verify is "
        "never called.")),
    Explanation("auth.py", "WebhookVerifier.verify", 'if "XXtimestampXX" in reason.lower():',
                _BREAK_IS_SHORTCUT),
    Explanation("auth.py", "WebhookVerifier.verify", 'if "TIMESTAMP" in reason.lower():', _BREAK_IS_SHORTCUT),
    Explanation("auth.py", "WebhookVerifier.verify", 'if "timestamp" in reason.upper():', _BREAK_IS_SHORTCUT),
    Explanation("auth.py", "WebhookVerifier.verify",
                "reason = \"XXmalformed webhook-signature (expected 'v1,<base64>' entries)XX\"", (
                    "Only the wording of the reason in the 401 message for a malformed webhook-signature changes. "
                    "The 401, the code Unauthenticated and 'never a 500' are pinned "
                    "(test_malformed_signature_headers_are_401_never_500).")),
    Explanation("auth.py", "WebhookVerifier.verify",
                "reason = \"MALFORMED WEBHOOK-SIGNATURE (EXPECTED 'V1,<BASE64>' ENTRIES)\"", (
                    "Equivalent: the reason reaches the caller only through reason.lower(), and the upper-cased "
                    "text lower-cases back to the original.")),
]
