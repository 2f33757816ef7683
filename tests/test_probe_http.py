"""The HTTP probe against real loopback servers: requests, redirects, bodies, timeouts, TLS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from nephos.model import CheckKind, HttpOptions, Target, TlsOptions
from nephos.probes.http import HttpProbe
from nephos.sim.http_server import HttpSim, ServerTls, forward_proxy
from tests.conftest import REDIRECT_HOPS, SLOW_DELAY_SECONDS, Pki, StartHttp


@pytest.fixture
async def probe() -> AsyncIterator[HttpProbe]:
    probe = HttpProbe()
    await probe.start()
    yield probe
    await probe.close()


def target(
    url: str,
    *,
    timeout: float = 5.0,
    tls: TlsOptions | None = None,
    **http: object,
) -> Target:
    return Target(
        name="t",
        kind=CheckKind.HTTP,
        address=url,
        timeout=timedelta(seconds=timeout),
        http=HttpOptions(**http),  # type: ignore[arg-type]
        tls=tls or TlsOptions(),
    )


# --------------------------------------------------------------------------- plain HTTP


async def test_ok_route_reports_status_body_headers_peer_and_phase_timings(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(http_server.url("/ok")))
    assert obs.error is None
    assert obs.connected
    assert obs.status == 200
    assert obs.body == b"ok"
    assert not obs.body_truncated
    assert obs.headers["Content-Type"].startswith("text/plain")
    assert obs.ip == "127.0.0.1"
    assert {"connect", "ttfb", "total"} <= set(obs.timings)
    assert obs.tls is None


async def test_json_body_is_returned_whole(probe: HttpProbe, http_server: HttpSim) -> None:
    obs = await probe.run(target(http_server.url("/json")))
    assert json.loads(obs.body) == {"status": "up", "version": 3}


async def test_method_headers_and_body_are_sent_as_configured(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(
        target(
            http_server.url("/echo"),
            method="POST",
            headers={"X-Check": "nephos", "Content-Type": "application/json"},
            body='{"ping": 1}',
        )
    )
    echoed = json.loads(obs.body)
    assert echoed["method"] == "POST"
    assert echoed["headers"]["X-Check"] == "nephos"
    assert echoed["headers"]["User-Agent"].startswith("nephos/")
    assert echoed["body"] == '{"ping": 1}'


async def test_error_status_is_observed_not_reported_as_an_error(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(http_server.url("/status/503")))
    assert obs.status == 503
    assert obs.error is None
    assert obs.body == b"down for maintenance"


async def test_redirect_chain_is_followed_to_the_final_response(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(http_server.url("/redirect/0")))
    assert obs.status == 200
    assert obs.body == b"ok"
    assert http_server.hits[f"/redirect/{REDIRECT_HOPS - 1}"] == 1


async def test_redirect_is_returned_as_is_when_following_is_off(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(http_server.url("/redirect/0"), follow_redirects=False))
    assert obs.status == 302
    assert obs.headers["Location"] == "/redirect/1"
    assert http_server.hits["/redirect/1"] == 0


async def test_redirect_chain_of_exactly_max_redirects_is_followed(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(http_server.url("/redirect/0"), max_redirects=REDIRECT_HOPS))
    assert obs.status == 200
    assert obs.error is None


async def test_redirect_chain_longer_than_max_redirects_is_an_error(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(http_server.url("/redirect/0"), max_redirects=REDIRECT_HOPS - 1))
    assert obs.status is None
    assert obs.error == f"too many redirects (more than {REDIRECT_HOPS - 1})"


async def test_huge_body_is_cut_at_the_cap_and_marked_truncated(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    cap = 256 * 1024
    obs = await probe.run(target(http_server.url("/huge"), max_body_bytes=cap))
    assert obs.status == 200
    assert obs.error is None
    assert len(obs.body) == cap
    assert obs.body_truncated


async def test_body_exactly_at_the_cap_is_not_marked_truncated(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(http_server.url("/ok"), max_body_bytes=2))
    assert obs.body == b"ok"
    assert not obs.body_truncated


async def test_body_over_the_cap_by_one_byte_is_marked_truncated(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(http_server.url("/ok"), max_body_bytes=1))
    assert obs.body == b"o"
    assert obs.body_truncated


async def test_hanging_server_hits_the_timeout_with_a_clear_error(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(http_server.url("/hang"), timeout=0.3))
    assert obs.status is None
    assert obs.connected
    assert obs.error == "timed out after 0.3s waiting for the response"


async def test_slow_server_latency_shows_in_ttfb_and_response_time(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(http_server.url("/slow")))
    assert obs.status == 200
    assert obs.timings["ttfb"] >= SLOW_DELAY_SECONDS * 1000
    assert obs.response_time >= timedelta(seconds=SLOW_DELAY_SECONDS)


async def test_refused_connection_is_reported_not_raised(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    port = http_server.port
    await http_server.stop()
    obs = await probe.run(target(f"http://127.0.0.1:{port}/ok"))
    assert not obs.connected
    assert obs.error == f"cannot connect to 127.0.0.1:{port}: Connection refused"


async def test_unresolvable_host_is_reported_not_raised(probe: HttpProbe) -> None:
    obs = await probe.run(target("http://no-such-host.invalid/", timeout=3))
    assert obs.error is not None
    assert "no-such-host.invalid" in obs.error


async def test_ipv4_preference_connects_over_ipv4(probe: HttpProbe, http_server: HttpSim) -> None:
    obs = await probe.run(target(f"http://localhost:{http_server.port}/ok", ip_family="ipv4"))
    assert obs.status == 200
    assert obs.ip == "127.0.0.1"


async def test_ipv6_preference_does_not_fall_back_to_ipv4(
    probe: HttpProbe, http_server: HttpSim
) -> None:
    obs = await probe.run(target(f"http://127.0.0.1:{http_server.port}/ok", ip_family="ipv6"))
    assert obs.status is None
    assert obs.error is not None


async def test_proxy_carries_the_request(probe: HttpProbe, http_server: HttpSim) -> None:
    async with HttpSim(fallback=forward_proxy()) as proxy:
        obs = await probe.run(target(http_server.url("/ok"), proxy=proxy.base_url))
    assert obs.status == 200
    assert obs.body == b"ok"
    assert obs.headers["Via"] == "1.1 nephos-sim"
    assert proxy.hits["/ok"] == 1


async def test_keepalive_probe_reuses_connections_and_still_answers(http_server: HttpSim) -> None:
    probe = HttpProbe(keepalive=True)
    await probe.start()
    try:
        first = await probe.run(target(http_server.url("/ok")))
        second = await probe.run(target(http_server.url("/ok")))
    finally:
        await probe.close()
    assert (first.status, second.status) == (200, 200)
    assert "connect" in first.timings
    assert "connect" not in second.timings


# --------------------------------------------------------------------------- HTTPS


async def test_https_with_the_ca_file_verifies_and_reports_the_certificate(
    probe: HttpProbe, https_server: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(target(https_server.url("/ok"), tls=TlsOptions(ca_file=str(pki.ca_file))))
    assert obs.status == 200
    assert obs.tls is not None
    assert obs.tls.leaf_not_after == pki.certs["valid"].certificate.not_valid_after_utc
    assert obs.tls.chain_valid is True
    assert obs.tls.hostname_match is True
    assert obs.tls.subject == "CN=localhost"
    assert obs.tls.version in ("TLSv1.2", "TLSv1.3")
    assert obs.tls.cipher


async def test_https_without_the_ca_file_fails_verification_against_the_system_store(
    probe: HttpProbe, https_server: HttpSim
) -> None:
    obs = await probe.run(target(https_server.url("/ok")))
    assert obs.status is None
    assert obs.error is not None
    assert obs.error.startswith("certificate verify failed: ")
    assert obs.tls is not None
    assert obs.tls.chain_valid is False


async def test_https_self_signed_passes_with_verify_off_and_still_reports_the_certificate(
    probe: HttpProbe, https_self_signed: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(target(https_self_signed.url("/ok"), tls=TlsOptions(verify=False)))
    assert obs.status == 200
    assert obs.tls is not None
    assert obs.tls.chain_valid is None
    assert obs.tls.issuer == obs.tls.subject
    assert obs.tls.leaf_not_after == pki.certs["self_signed"].certificate.not_valid_after_utc


async def test_https_self_signed_fails_with_verify_on(
    probe: HttpProbe, https_self_signed: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(
        target(https_self_signed.url("/ok"), tls=TlsOptions(ca_file=str(pki.ca_file)))
    )
    assert obs.status is None
    assert obs.error is not None
    assert "self-signed" in obs.error or "self signed" in obs.error


async def test_https_wrong_host_fails_verification_with_the_mismatch_named(
    probe: HttpProbe, https_wrong_host: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(
        target(https_wrong_host.url("/ok"), tls=TlsOptions(ca_file=str(pki.ca_file)))
    )
    assert obs.status is None
    assert obs.error is not None
    assert "mismatch" in obs.error.lower()


async def test_https_expired_certificate_reports_its_expiry_when_verify_is_off(
    probe: HttpProbe, https_expired: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(target(https_expired.url("/ok"), tls=TlsOptions(verify=False)))
    assert obs.status == 200
    assert obs.tls is not None
    assert obs.tls.leaf_not_after is not None
    assert obs.tls.leaf_not_after < pki.now


async def test_https_expired_certificate_fails_verification(
    probe: HttpProbe, https_expired: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(
        target(https_expired.url("/ok"), tls=TlsOptions(ca_file=str(pki.ca_file)))
    )
    assert obs.error is not None
    assert "expired" in obs.error


async def test_https_chain_reports_the_intermediate_expiring_first(
    probe: HttpProbe, https_chained: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(
        target(https_chained.url("/ok"), tls=TlsOptions(ca_file=str(pki.ca_file)))
    )
    assert obs.status == 200
    assert obs.tls is not None
    assert obs.tls.chain_earliest_not_after == pki.intermediate_not_after
    assert obs.tls.leaf_not_after == pki.certs["chained"].certificate.not_valid_after_utc


async def test_server_name_sets_sni_and_the_name_verified(
    probe: HttpProbe, start_http: StartHttp, pki: Pki
) -> None:
    sim = await start_http(ServerTls(pki.api_host.chain, pki.api_host.key))
    tls = TlsOptions(ca_file=str(pki.ca_file), server_name="api.test")
    obs = await probe.run(target(sim.url("/ok"), tls=tls))
    assert obs.error is None
    assert obs.status == 200
    assert obs.tls is not None
    assert obs.tls.hostname_match is True


async def test_mtls_succeeds_with_a_client_certificate(
    probe: HttpProbe, https_mtls: HttpSim, pki: Pki
) -> None:
    tls = TlsOptions(
        ca_file=str(pki.ca_file), cert_file=str(pki.client.cert), key_file=str(pki.client.key)
    )
    obs = await probe.run(target(https_mtls.url("/ok"), tls=tls))
    assert obs.error is None
    assert obs.status == 200


async def test_mtls_without_a_client_certificate_is_refused(
    probe: HttpProbe, https_mtls: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(target(https_mtls.url("/ok"), tls=TlsOptions(ca_file=str(pki.ca_file))))
    assert obs.status is None
    assert obs.error is not None


async def test_minimum_tls_version_above_the_server_maximum_fails_the_handshake(
    probe: HttpProbe, start_http: StartHttp, pki: Pki
) -> None:
    sim = await start_http(ServerTls(pki.valid.chain, pki.valid.key, max_version="1.2"))
    tls = TlsOptions(ca_file=str(pki.ca_file), min_version="1.3")
    obs = await probe.run(target(sim.url("/ok"), tls=tls))
    assert obs.status is None
    assert obs.error is not None
    assert "TLS handshake" in obs.error
    ok = await probe.run(target(sim.url("/ok"), tls=TlsOptions(ca_file=str(pki.ca_file))))
    assert ok.tls is not None
    assert ok.tls.version == "TLSv1.2"


async def test_unreadable_ca_file_is_reported_not_raised(
    probe: HttpProbe, https_server: HttpSim
) -> None:
    obs = await probe.run(
        target(https_server.url("/ok"), tls=TlsOptions(ca_file="/nonexistent/ca.pem"))
    )
    assert obs.error is not None
    assert obs.error.startswith("cannot use the connection settings")
