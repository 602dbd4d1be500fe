"""LEASE_TTL_SECONDS: how long a relay or consumer lease lasts without renewal — the failover time
of a dead holder — read like every setting, bounded, and refused at start with the reason."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from eventkit.settings import LEASE_TTL_BOUNDS, ServiceSettings
from tests.infra.processes import ROOT


def test_the_lease_ttl_defaults_to_ten_seconds_and_reads_the_service_variable_first():
    assert ServiceSettings.from_env("candidatures", {}).lease_ttl_seconds == 10.0
    env = {"LEASE_TTL_SECONDS": "20", "REPORTING_LEASE_TTL_SECONDS": "4.5"}
    assert ServiceSettings.from_env("reporting", env).lease_ttl_seconds == 4.5
    assert ServiceSettings.from_env("programmes", env).lease_ttl_seconds == 20.0


@pytest.mark.parametrize("ttl", ["2.9", "0", "-1", "301"])
def test_a_lease_ttl_out_of_bounds_is_refused_naming_the_variable_and_the_bounds(ttl):
    with pytest.raises(ValidationError, match="LEASE_TTL_SECONDS must be between 3 and 300 seconds"):
        ServiceSettings.from_env("candidatures", {"LEASE_TTL_SECONDS": ttl})


@pytest.mark.parametrize("ttl", [str(LEASE_TTL_BOUNDS[0]), str(LEASE_TTL_BOUNDS[1])])
def test_the_bounds_themselves_are_accepted(ttl):
    assert ServiceSettings.from_env("candidatures", {"LEASE_TTL_SECONDS": ttl}).lease_ttl_seconds == float(ttl)


def test_a_service_refuses_to_start_on_a_lease_ttl_out_of_bounds_with_one_clear_line(tmp_path):
    env = {**os.environ, "JUMELAGE_DATA_DIR": str(tmp_path), "NATS_URL": "nats://127.0.0.1:1",
           "JUMELAGE_ENV": "development", "PROGRAMMES_LEASE_TTL_SECONDS": "1"}
    done = subprocess.run([sys.executable, "-m", "programmes"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "programmes: refusing to start: lease_ttl_seconds:" in done.stderr, done.stderr[-2000:]
    assert "LEASE_TTL_SECONDS must be between 3 and 300 seconds, not 1" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
