"""Webhook destinations: https only, and never an address inside anyone's network."""

from __future__ import annotations

import pytest

from finhub.config import Settings
from finhub.webhooks.errors import DestinationRefused
from finhub.webhooks.ssrf import EgressPolicy
from tests.webhooks.conftest import PUBLIC_ADDRESS, StaticResolver

NOT_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (CGNAT)
    "0.0.0.0",  # noqa: S104 (an address to refuse, not to bind)
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:0a00:0001::1",  # 6to4 around 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 around 127.0.0.1
]


def policy(resolver: StaticResolver, **options: bool) -> EgressPolicy:
    return EgressPolicy(resolver=resolver, **options)


@pytest.mark.parametrize("address", NOT_PUBLIC)
async def test_a_name_resolving_to_a_private_address_is_refused(address: str) -> None:
    resolver = StaticResolver()
    resolver.answers["inside.example.com"] = [address]
    with pytest.raises(DestinationRefused) as refused:
        await policy(resolver).check("https://inside.example.com/hook")
    assert refused.value.code == "webhook_url_not_public"


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.7", "[::1]", "[::ffff:192.168.0.1]"])
async def test_a_private_address_literal_is_refused(address: str) -> None:
    with pytest.raises(DestinationRefused) as refused:
        await policy(StaticResolver()).check(f"https://{address}:8443/hook")
    assert refused.value.code == "webhook_url_not_public"


async def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    resolver = StaticResolver()
    resolver.answers["mixed.example.com"] = [PUBLIC_ADDRESS, "10.0.0.1"]
    with pytest.raises(DestinationRefused):
        await policy(resolver).check("https://mixed.example.com/")


async def test_a_public_https_url_passes_and_is_pinned_to_the_checked_address() -> None:
    resolver = StaticResolver()
    resolver.answers["hooks.example.com"] = [PUBLIC_ADDRESS]
    target = await policy(resolver).check("https://hooks.example.com/in?x=1")
    assert target.pinned_url == f"https://{PUBLIC_ADDRESS}:443/in?x=1"
    assert target.host_header == "hooks.example.com"


async def test_public_ipv6_passes() -> None:
    target = await policy(StaticResolver()).check("https://[2606:4700::1111]/in")
    assert target.pinned_url == "https://[2606:4700::1111]:443/in"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.example.com/", "webhook_url_not_https"),
        ("ftp://hooks.example.com/", "webhook_url_not_https"),
        ("https://user:pw@hooks.example.com/", "webhook_url_refused"),
        ("https://localhost/", "webhook_url_not_public"),
        ("https://nowhere.example.com/", "webhook_url_unresolvable"),
    ],
)
async def test_other_bad_urls(url: str, code: str) -> None:
    resolver = StaticResolver()
    resolver.answers["hooks.example.com"] = [PUBLIC_ADDRESS]
    with pytest.raises(DestinationRefused) as refused:
        await policy(resolver).check(url)
    assert refused.value.code == code


async def test_loopback_only_with_the_development_switch_and_never_in_production() -> None:
    dev = EgressPolicy.for_settings(Settings(environment="development"), allow_loopback=True)
    assert dev.allow_http
    assert dev.allow_loopback
    assert (await dev.check("http://127.0.0.1:9000/hook")).address == "127.0.0.1"
    with pytest.raises(DestinationRefused):
        await dev.check("http://10.0.0.1/hook")  # loopback only, not private networks
    production = EgressPolicy.for_settings(Settings(environment="production"), allow_loopback=True)
    assert not production.allow_http
    assert not production.allow_loopback
    with pytest.raises(DestinationRefused):
        await production.check("https://127.0.0.1/hook")
