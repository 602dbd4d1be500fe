"""Schemathesis over each service's OpenAPI, the four services as real processes on PostgreSQL and
NATS, with an admin, an académie, a school and a partner token: no 5xx, problem+json on every 4xx,
every answer documented (status, content type, schema).

Bounded so the suite stays well inside CI's time: ``JUMELAGE_FUZZ_EXAMPLES`` examples per
operation and token (valid and invalid input mixed), ``JUMELAGE_FUZZ_BUDGET_S`` seconds of wall
clock for the four services together; when the budget runs out the test says how many operations
it did not reach rather than pretending it saw them."""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.e2e.harness import SERVICES, running_system

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("JUMELAGE_FUZZ_EXAMPLES", "3"))
BUDGET_S = float(os.environ.get("JUMELAGE_FUZZ_BUDGET_S", "150"))
TOKENS = {"admin": ("admin", "*"), "academie": ("academie", "paris"), "school": ("school", "0750655E"),
          "partner": ("partner", "partner-1")}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PROBLEM = "application/problem+json"


class Findings:
    """What went wrong, once per (service, operation, status, kind), with one way to reproduce it."""

    def __init__(self) -> None:
        self.seen: dict[tuple, str] = {}
        self.requests = 0
        self.unreached: dict[str, int] = defaultdict(int)

    def add(self, service: str, label: str, status: int, kind: str, repro: str) -> None:
        self.seen.setdefault((service, label, status, kind), repro)

    def report(self) -> str:
        lines = [f"{service} {label} -> {status}: {kind}\n    {repro}"
                 for (service, label, status, kind), repro in sorted(self.seen.items())]
        return "\n".join(lines)


def judge(findings: Findings, service: str, case, response) -> None:
    findings.requests += 1
    status = response.status_code
    raw = response.headers.get("content-type") or [""]  # schemathesis keeps every value of a header
    content_type = (raw[0] if isinstance(raw, list) else raw).split(";")[0].strip()
    repro = case.as_curl_command()[:400]
    if 400 <= status < 600 and content_type != PROBLEM:
        findings.add(service, case.operation.label, status, f"{content_type or 'no content type'} not problem+json",
                     repro)
    try:
        case.validate_response(response, checks=CHECKS)
    except BaseExceptionGroup as exc:  # schemathesis's FailureGroup: each failed check is a finding
        kind = ", ".join(sorted({type(e).__name__ for e in exc.exceptions}))
        findings.add(service, case.operation.label, status, kind, repro)


def fuzz_service(service: str, base_url: str, tokens: dict[str, dict[str, str]], deadline: float,
                 findings: Findings) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    session = requests.Session()
    for index, operation in enumerate(operations):
        if time.monotonic() > deadline:
            findings.unreached[service] = len(operations) - index
            return
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                             operation.as_strategy(GenerationMode.NEGATIVE))
        for role, headers in tokens.items():
            if time.monotonic() > deadline:
                findings.unreached[service] = len(operations) - index
                return

            @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                                 phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @hypothesis.given(case=strategy)
            def run(case) -> None:
                response = case.call(base_url=base_url, session=session, headers=headers, timeout=15)
                judge(findings, f"{service}[{role}]", case, response)

            run()


@pytest.mark.timeout(BUDGET_S + 180)  # the budget, the four services' start and the last operation
async def test_every_service_answers_fuzzed_requests_with_documented_problems(
        postgres_server_url, nats_url, subject_root, tmp_path) -> None:
    async with running_system(postgres_server_url, nats_url, subject_root, tmp_path) as system:
        tokens = {name: system.token(role, scope) for name, (role, scope) in TOKENS.items()}
        findings = Findings()
        started = time.monotonic()
        deadline = started + BUDGET_S
        for service in SERVICES:
            await asyncio.to_thread(fuzz_service, service, system.url(service), tokens, deadline, findings)
        elapsed = time.monotonic() - started
    print(f"\nfuzz: {findings.requests} requests in {elapsed:.0f}s; {len(findings.seen)} findings;"
          f" unreached operations: {dict(findings.unreached) or 'none'}")
    print(findings.report())
    assert findings.requests > 0
    assert not findings.seen, findings.report()
