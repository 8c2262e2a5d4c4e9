"""The local path a newcomer takes, tried as a new user would: through the commands, in fresh processes.

- README's sender recipes (curl with openssl, and Python with ``standardwebhooks``) run exactly as
  printed against ``python3 -m devkit serve`` on a free port. The text here is the README's text
  (``test_readme_shows_the_recipes_exactly_as_tested`` compares them once README carries them).
- ``serve`` says what it uses (CAS, the webhook secret only when it is the demo one, ledger, sinks,
  scratch folder), honours the user's own Configuration variables, and on SIGTERM stops and removes its
  scratch folder; ``ledger_admin`` opens the ledger ``serve`` printed, and says so.
- ``invoke`` of a missing file fails clearly; a real one prints the answer alone on stdout.
- the demo prints short, whole lines, keeps the function's log lines in a file, and ends as before.

Every process gets its own TMPDIR, so the devkit's local ledger of the machine is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from devkit import embedded as emb_module
from devkit.cas_emulator import DEMO_ACCESS_KEY_ID, CasEmulator
from devkit.embedded import (
    CONFIGURATION_VARIABLES,
    DEMO_WEBHOOK_SECRET,
    configuration_variables,
    local_ledger,
    readme_configuration_variables,
    shown,
    user_overrides,
)

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

#: README, "Orders": a sender's request, signed in the shell (openssl and curl).
CURL_RECIPE = """\
URL=${URL:-http://127.0.0.1:9000}   # python3 -m devkit serve --port 9000
secret='whsec_Y2FzcmVsYXktbG9jYWwtZGVtby1zZWNyZXQtMDAwMA=='   # the embedded default's demo secret: use your own
body='{"ProductCode":"symantec-free-1-free","Domain":"www.example.com","ValidateType":"DNS"}'
id="msg_$(openssl rand -hex 16)"; ts=$(date +%s)
# The HMAC key is the base64-decoded part after whsec_, not the whsec_ text itself.
key=$(printf '%s' "${secret#whsec_}" | base64 -d | od -An -v -tx1 | tr -d ' \\n')
sig=$(printf '%s' "$id.$ts.$body" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64)
curl -sS -X POST "$URL/" -H 'Content-Type: application/json' \\
     -H "webhook-id: $id" -H "webhook-timestamp: $ts" -H "webhook-signature: v1,$sig" \\
     --data-binary "$body"
"""

#: README, "Orders": the same request from Python, signed by the ``standardwebhooks`` package.
PYTHON_RECIPE = """\
import json, os, urllib.request, uuid
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook

url = os.environ.get("URL", "http://127.0.0.1:9000")  # python3 -m devkit serve --port 9000
secret = "whsec_Y2FzcmVsYXktbG9jYWwtZGVtby1zZWNyZXQtMDAwMA=="  # the embedded default's demo secret: use your own
body = json.dumps({"ProductCode": "symantec-free-1-free", "Domain": "www.example.com", "ValidateType": "DNS"})
msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(timezone.utc)
headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
           "webhook-signature": Webhook(secret).sign(msg_id, now, body)}  # Webhook decodes the whsec_ secret itself
request = urllib.request.Request(f"{url}/", data=body.encode(), headers=headers, method="POST")
with urllib.request.urlopen(request) as response:
    print(response.status, response.read().decode())
"""

#: The markers README puts before each recipe's fenced block.
CURL_MARKER, PYTHON_MARKER = "<!-- recipe: sign-with-curl -->", "<!-- recipe: sign-with-python -->"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    """A newcomer's shell: no Configuration variable, no proxy, and a TMPDIR of the test's own."""
    drop = set(configuration_variables()) | {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
                                            "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(TMPDIR=str(tmp), PYTHONUNBUFFERED="1", **extra)
    return env


class Serve:
    """``python3 -m devkit serve`` in a child process; ``lines`` is what it printed so far."""

    def __init__(self, tmp: Path, **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = _env(tmp, **env)
        self.proc = subprocess.Popen([sys.executable, "-m", "devkit", "serve", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line:
                raise AssertionError(f"serve exited before listening: {''.join(self.lines)}")
            self.lines.append(line.rstrip("\n"))
            if line.startswith("The function's JSON log lines follow"):
                return
        raise AssertionError("serve did not start in 60 s")

    def banner(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        self.lines += out.splitlines()
        return self.proc.returncode, out

    def value(self, label: str) -> str:
        """The value printed after ``label`` in the banner (``ledger``, ``scratch``, ...)."""
        for line in self.lines:
            if line.strip().startswith(label + " "):
                return line.strip()[len(label):].strip().split(" (")[0]
        raise AssertionError(f"no {label!r} line in {self.banner()}")


@pytest.fixture()
def tmp(tmp_path: Path) -> Path:
    return tmp_path


def _run_recipe(kind: str, url: str, env: Mapping[str, str]) -> str:
    cmd = ["bash", "-c", CURL_RECIPE] if kind == "curl" else [sys.executable, "-c", PYTHON_RECIPE]
    proc = subprocess.run(cmd, env={**env, "URL": url}, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("openssl")), reason="curl and openssl are needed")
def test_the_readme_recipes_order_through_devkit_serve_as_printed(tmp: Path) -> None:
    serve = Serve(tmp)
    try:
        banner = serve.banner()
        assert banner.splitlines()[0].startswith(f"casrelay listening on {serve.url} ")
        assert DEMO_WEBHOOK_SECRET in banner  # the embedded secret is shown, for the sender to sign with
        ledger = serve.value("ledger")
        assert ledger == f"sqlite://{tmp}/casrelay-devkit/ledger.sqlite3"
        scratch = Path(serve.value("scratch"))
        assert scratch.is_dir()
        sink = serve.value("sinks")
        assert sink == f"file://{scratch}/orders.jsonl"

        curl_out = _run_recipe("curl", serve.url, serve.env)
        placed = json.loads(curl_out)
        assert placed["Domains"] == ["www.example.com"] and placed["OrderIdString"] == str(placed["OrderId"])
        python_out = _run_recipe("python", serve.url, serve.env)
        status, _, body = python_out.strip().partition(" ")
        assert status == "200" and json.loads(body)["OrderIdString"] == placed["OrderIdString"]  # once: the ledger

        messages = [json.loads(line) for line in (scratch / "orders.jsonl").read_text().splitlines()]
        assert {m["Order"]["OrderIdString"] for m in messages} == {placed["OrderIdString"]}

        # ledger_admin opens the very ledger serve printed, and says so.
        admin = subprocess.run([sys.executable, "-m", "devkit.ledger_admin", "list"], cwd=ROOT, env=serve.env,
                               capture_output=True, text=True, timeout=60, check=False)
        assert admin.returncode == 0, admin.stderr
        assert admin.stderr.splitlines()[0].startswith(f"ledger: {ledger} (the devkit's local ledger")
    finally:
        code, out = serve.stop()
    assert code == 0, out
    assert "casrelay stopped" in out
    assert not scratch.exists()  # SIGTERM removed the scratch folder
    assert Path(ledger.removeprefix("sqlite://")).exists()  # the local ledger stays, for ledger_admin


def test_serve_uses_the_users_own_configuration_and_never_prints_its_secrets(tmp: Path) -> None:
    own_secret = "whsec_" + "bXktb3duLXNlY3JldC1mb3ItY2FzcmVsYXktdGVzdHM="
    with CasEmulator() as own_cas:
        serve = Serve(tmp, CAS_ENDPOINT=own_cas.endpoint, CAS_PROTOCOL="http", WEBHOOK_SECRETS=own_secret,
                      ORDER_TAG_KEY="team-key", IDEMPOTENCY_STORE=f"sqlite://{tmp}/mine.sqlite3")
        try:
            banner = serve.banner()
            assert own_secret not in banner and DEMO_WEBHOOK_SECRET not in banner
            assert f"{own_cas.endpoint} (your CAS_ENDPOINT)" in banner
            assert "signed with your WEBHOOK_SECRETS (not shown)" in banner
            assert serve.value("ledger") == f"sqlite://{tmp}/mine.sqlite3"
            assert "WEBHOOK_SECRETS (not shown)" in banner and "ORDER_TAG_KEY=team-key" in banner

            # The demo secret no longer opens the door; the user's own does, and the order reaches their CAS.
            refused = subprocess.run([sys.executable, "-c", PYTHON_RECIPE], env={**serve.env, "URL": serve.url},
                                     capture_output=True, text=True, timeout=60, check=False)
            assert "HTTP Error 401" in refused.stderr
            mine = PYTHON_RECIPE.replace(DEMO_WEBHOOK_SECRET, own_secret)
            accepted = subprocess.run([sys.executable, "-c", mine], env={**serve.env, "URL": serve.url},
                                      capture_output=True, text=True, timeout=60, check=False)
            assert accepted.stdout.startswith("200 "), accepted.stderr
            [order] = own_cas.orders()
            assert order.params["Tags.1.Key"] == "team-key"
        finally:
            code, out = serve.stop()
    assert code == 0
    assert own_secret not in out


def test_a_second_serve_gets_a_ledger_of_its_own_while_the_first_holds_the_local_one(tmp: Path) -> None:
    first = Serve(tmp)
    try:
        second = Serve(tmp)
        try:
            assert first.value("ledger") == f"sqlite://{tmp}/casrelay-devkit/ledger.sqlite3"
            assert second.value("ledger") == f"sqlite://{second.value('scratch')}/ledger.sqlite3"
            assert f"devkit process {first.proc.pid} holds the local ledger" in second.banner()
        finally:
            second.stop()
    finally:
        first.stop()


def test_invoke_of_a_missing_file_fails_with_a_clear_message(tmp: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "devkit", "invoke", "events/no-such-event.json"], cwd=ROOT,
                          env=_env(tmp), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "no event file events/no-such-event.json" in proc.stderr and proc.stdout == ""


def test_invoke_prints_the_answer_alone_on_stdout_and_honours_the_environment(tmp: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "devkit", "invoke", "events/invoke-order.json"], cwd=ROOT,
                          env=_env(tmp), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["OrderIdString"] == str(answer["OrderId"])
    assert "ledger       sqlite://" in proc.stderr and '"event"' in proc.stderr  # what is in use, and the logs

    dry = subprocess.run([sys.executable, "-m", "devkit", "invoke", "events/invoke-order.json"], cwd=ROOT,
                         env=_env(tmp, DRY_RUN="true"), capture_output=True, text=True, timeout=60, check=False)
    assert dry.returncode == 0, dry.stderr
    assert "OrderId" not in json.loads(dry.stdout) and "DRY_RUN=true" in dry.stderr


def test_the_demo_prints_short_whole_lines_and_keeps_the_log_lines_in_a_file(tmp: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "devkit", "demo"], cwd=ROOT, env=_env(tmp), capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(re.fullmatch(r"Paid orders in the CAS emulator: \d+ \(one per distinct order, none twice\)", x)
               for x in lines)
    assert lines[-1] == ("Demo finished: every order placed once and pushed to every sink, the first one followed to "
                         "its certificate")
    for line in lines:  # no log line among what a person reads
        assert not (line.startswith("{") and '"event"' in line), line
    log = tmp / "casrelay-devkit" / "demo.log"
    assert f"  log lines    {log} (--logs prints them here)" in lines
    logged = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(logged) > 20 and any(x.get("event") == "order.placed" for x in logged)
    events = [x for x in lines if x.startswith("   ") and ".json " in x]
    assert len(events) == len(list((ROOT / "events").glob("*.json")))
    for line in events:
        assert len(line) <= 100, line
        for number in re.findall(r"OrderId (\d+)", line):
            assert len(number) == 17  # whole: never cut mid-value


# --------------------------------------------------------------------------- the pieces, in process


def test_the_configuration_list_is_readmes_configuration_table() -> None:
    assert set(CONFIGURATION_VARIABLES) <= set(readme_configuration_variables())
    assert set(readme_configuration_variables()) <= set(configuration_variables())


def test_user_overrides_apply_the_users_variables_and_keep_the_embedded_cas_coherent() -> None:
    real_key = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tRealKeyOfTheUser", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s3cr3t"}
    plain = user_overrides({"DRY_RUN": "true", "ORDER_SINKS": "", "CAS_REGION": "", "HOME": "/root", **real_key})
    assert plain.values == {"DRY_RUN": "true", "ORDER_SINKS": ""}  # empty CAS_REGION: unset; HOME: not ours
    assert set(plain.ignored) == set(real_key)  # never sent to the local emulator, which would refuse them
    assert plain.dropped == ()

    demo_key = user_overrides({"ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID})
    assert demo_key.values == {"ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID}

    remote = user_overrides({"CAS_ENDPOINT": "cas.aliyuncs.com", **real_key})
    assert remote.values["ALIBABA_CLOUD_ACCESS_KEY_ID"] == real_key["ALIBABA_CLOUD_ACCESS_KEY_ID"]
    assert set(remote.dropped) == {"CAS_PROTOCOL", "CAS_CA_FILE"}
    bare_remote = user_overrides({"CAS_ENDPOINT": "cas.aliyuncs.com"})
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in bare_remote.dropped  # the demo key is for the emulator only
    local = user_overrides({"CAS_ENDPOINT": "127.0.0.1:8089", "CAS_PROTOCOL": "http"})
    assert local.dropped == ("CAS_CA_FILE",)


def test_shown_hides_secrets_and_url_passwords() -> None:
    assert shown("WEBHOOK_SECRETS", DEMO_WEBHOOK_SECRET) == "(set; not shown)"
    assert shown("SOME_NEW_TOKEN", "abc") == "(set; not shown)"
    assert shown("IDEMPOTENCY_STORE", "redis://:pw@r-x.redis.rds.aliyuncs.com:6379/0") == \
        "redis://:***@r-x.redis.rds.aliyuncs.com:6379/0"
    assert shown("ORDER_SINKS", "https://u:p@hooks.example.com/x") == "https://u:***@hooks.example.com/x"


def test_the_embedded_summary_never_shows_a_secret_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    own = "whsec_" + "c2VjcmV0LW9mLXRoZS11c2VyLW5vdC10by1iZS1zaG93bg=="
    env = {"WEBHOOK_SECRETS": own, "CALLBACK_SECRET": own, "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "emulator-demo-secret", "IDEMPOTENCY_STORE": "redis://:pw@h:1/0"}
    for name in env:
        monkeypatch.delenv(name, raising=False)
    with emb_module.embedded_default(environment=env) as emb:
        text = "\n".join(emb.summary())
        assert emb.webhook_secret == own  # the local invoke signs event files with the user's secret
    assert own not in text and "emulator-demo-secret" not in text and ":pw@" not in text
    assert "redis://:***@h:1/0" in text


def test_the_local_ledger_is_held_by_one_run_at_a_time_and_started_empty(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = tmp_path / "casrelay-devkit" / "ledger.sqlite3"
    with local_ledger() as first:
        assert first.url == f"sqlite://{path}"
        path.write_text("records of the last run")
        with local_ledger() as second:
            assert second.url is None and second.holder == str(os.getpid())
    with local_ledger() as again:
        assert again.url == first.url and not path.exists()  # emptied for the new run


@pytest.fixture()
def _readme_blocks() -> Iterator[dict[str, str]]:
    text = README.read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    for marker in (CURL_MARKER, PYTHON_MARKER):
        _, found, rest = text.partition(marker)
        if found:
            fenced = re.match(r"\s*```\w*\n(.*?)```", rest, re.S)
            assert fenced, f"{marker} is not followed by a fenced block"
            blocks[marker] = fenced.group(1)
    yield blocks


def test_readme_shows_the_recipes_exactly_as_tested(_readme_blocks: dict[str, str]) -> None:
    if not _readme_blocks:
        pytest.skip("README does not carry the recipe markers yet")
    assert _readme_blocks == {CURL_MARKER: CURL_RECIPE, PYTHON_MARKER: PYTHON_RECIPE}
