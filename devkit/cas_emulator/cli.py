"""The command line of the CAS emulator: serve it on a fixed port until Ctrl-C.

For pointing a local run, curl or another language's SDK at the emulator by hand. It prints the
endpoint, the ``Config`` to use, the test CA in TLS mode and the demo credentials; the tests start
it this way too (``--port 0`` and read the banner), so the banner's first line is part of the contract.

V2 mode: ``--instances SPEC`` (default: the ``CAS_EMULATOR_INSTANCES`` environment variable) gives the
account a pool of V2.0 certificate instances in the one-line form of ``pool_spec`` (for example
``--instances 3xDigiCert:DV:1+0,1xGeoTrust:OV:2+1``), ``--application-seconds`` how long an application
stays ``processing``, and ``--company NAME`` (repeatable) the companies OV/EV instances can name. The V1
calls are served either way; the banner's last line lists the pool.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

from devkit.loopback import stop_on_sigterm

from .emulator import CasEmulator
from .instances import DEFAULT_APPLICATION_SECONDS
from .pool_spec import INSTANCES_ENV, InstanceSpec, parse_pool
from .protocol import (
    API_VERSION,
    DEFAULT_QPS,
    DEFAULT_QUOTA,
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    DEMO_SECURITY_TOKEN,
    DEMO_STS_ACCESS_KEY_ID,
    DEMO_STS_ACCESS_KEY_SECRET,
    PRODUCT_CODES,
)

DESCRIPTION = "A loopback double of the CAS (SSL Certificates Service, API 2020-04-07) RPC endpoint."


def _banner(emulator: CasEmulator) -> Iterator[str]:
    yield f"CAS emulator (API {API_VERSION}) listening on {emulator.endpoint}"
    yield f"  Config(endpoint='{emulator.endpoint}', protocol='{emulator.protocol}', region_id='cn-hangzhou')"
    if emulator.protocol == "https":
        yield f"  test CA: RuntimeOptions(ca='{emulator.ca_file}') or CAS_CA_FILE={emulator.ca_file}"
    yield f"  demo AccessKey: id={DEMO_ACCESS_KEY_ID} secret={DEMO_ACCESS_KEY_SECRET}"
    yield (f"  demo STS:       id={DEMO_STS_ACCESS_KEY_ID} secret={DEMO_STS_ACCESS_KEY_SECRET} "
           f"security_token={DEMO_SECURITY_TOKEN}")
    yield "  (demo credentials only work against this emulator)"
    pool = emulator.instances()
    if pool:
        kinds = sorted({f"{i.brand}:{i.certificate_type}:{i.full_domain_count}+{i.wildcard_domain_count}"
                        for i in pool})
        yield f"  V2 instance pool: {len(pool)} instances ({', '.join(kinds)}); companies: {len(emulator.companies())}"


def _pool_argument(text: str) -> tuple[InstanceSpec, ...]:
    try:
        return parse_pool(text)
    except ValueError as exc:  # argparse would only say "invalid value"; the spec's own message says which entry
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devkit.cas_emulator", description=DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port, 0 for any free port (default 8089)")
    parser.add_argument("--qps", type=int, default=DEFAULT_QPS, help="per action and key, 0 disables")
    parser.add_argument("--quota", type=int, default=DEFAULT_QUOTA, help="TotalCount for every product")
    parser.add_argument("--retry-after-ms", type=int, default=None,
                        help="send x-acs-retry-after on Throttling.User")
    parser.add_argument("--list-lag", type=float, default=0.0,
                        help="seconds before a new order shows up in ListUserCertificateOrder")
    parser.add_argument("--instances", type=_pool_argument, default=os.environ.get(INSTANCES_ENV, ""),
                        help=f"V2 instance pool, e.g. 3xDigiCert:DV:1+0,1xGeoTrust:OV:2+1 (default: ${INSTANCES_ENV})")
    parser.add_argument("--application-seconds", type=float, default=DEFAULT_APPLICATION_SECONDS,
                        help="seconds a V2 application stays processing before it is issued")
    parser.add_argument("--company", action="append", default=[], metavar="NAME",
                        help="add a company (for OV/EV instances); repeatable")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway test CA")
    parser.add_argument("--verbose", action="store_true", help="log each request (never secrets)")
    return parser


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()  # before the banner: a terminate() right after it must still remove the test CA
    args = _parser().parse_args(argv)
    emulator = CasEmulator(host=args.host, port=args.port, qps=args.qps,
                           quotas={code: args.quota for code in PRODUCT_CODES},
                           throttle_retry_after_ms=args.retry_after_ms, list_lag_seconds=args.list_lag,
                           instances=args.instances, application_seconds=args.application_seconds,
                           tls=args.tls, verbose=args.verbose)
    for name in args.company:
        emulator.add_company(name)
    emulator.start()
    try:
        for line in _banner(emulator):
            print(line, flush=True)
        emulator.serve_until_interrupted()
    except KeyboardInterrupt:  # a SIGTERM between the banner and the serving loop: stop all the same
        emulator.stop()
    return 0
