"""Which IP addresses are public: Python's `is_global` and IANA's registries, both.

Python's `ipaddress` flags lag behind IANA (3.11 calls fec0::1, 192.0.0.8 and
::10.0.0.1 global), so an address is public only when every source agrees:

- `is_global` says so;
- IANA's special-purpose address registries (IPv4 and IPv6, the "Globally
  Reachable" column) do not list it as anything but globally reachable; the
  tables below copy them whole, most specific entry wins;
- an IPv6 address is in 2000::/3, the only space IANA has allocated for
  global unicast (the IPv6 address space registry): everything else,
  deprecated site-local fec0::/10 and IPv4-compatible ::/96 included, is
  reserved, local or multicast.

Addresses that carry an IPv4 address are judged by it: IPv4-mapped
(::ffff:a.b.c.d) and the NAT64 well-known prefix (64:ff9b::/96, RFC 6052).
6to4 (2002::/16) and Teredo (2001::/32) tunnel to addresses we cannot check
from here, and are deprecated or rare: they are refused outright.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# IANA IPv4 Special-Purpose Address Registry (iana-ipv4-special-registry,
# RFC 6890 and updates): (block, name, globally reachable).
IPV4_SPECIAL = (
    ("0.0.0.0/8", "this-network", False),
    ("0.0.0.0/32", "unspecified", False),
    ("10.0.0.0/8", "private", False),
    ("100.64.0.0/10", "shared (carrier-grade NAT)", False),
    ("127.0.0.0/8", "loopback", False),
    ("169.254.0.0/16", "link-local", False),
    ("172.16.0.0/12", "private", False),
    ("192.0.0.0/24", "IETF protocol assignment", False),
    ("192.0.0.0/29", "DS-Lite", False),
    ("192.0.0.8/32", "IPv4 dummy", False),
    ("192.0.0.9/32", "PCP anycast", True),
    ("192.0.0.10/32", "TURN anycast", True),
    ("192.0.0.170/31", "NAT64/DNS64 discovery", False),
    ("192.0.2.0/24", "documentation (TEST-NET-1)", False),
    ("192.31.196.0/24", "AS112", True),
    ("192.52.193.0/24", "AMT", True),
    # Deprecated (RFC 7526): the 6to4 relay anycast block.
    ("192.88.99.0/24", "deprecated 6to4 relay anycast", False),
    ("192.168.0.0/16", "private", False),
    ("192.175.48.0/24", "AS112 direct delegation", True),
    ("198.18.0.0/15", "benchmarking", False),
    ("198.51.100.0/24", "documentation (TEST-NET-2)", False),
    ("203.0.113.0/24", "documentation (TEST-NET-3)", False),
    ("224.0.0.0/4", "multicast", False),  # the multicast registry, not special-purpose
    ("240.0.0.0/4", "reserved", False),
    ("255.255.255.255/32", "limited broadcast", False),
)

# IANA IPv6 Special-Purpose Address Registry (iana-ipv6-special-registry).
# 6to4 and Teredo are "N/A" there: they carry an IPv4 address; refused (above).
IPV6_SPECIAL = (
    ("::1/128", "loopback", False),
    ("::/128", "unspecified", False),
    ("::ffff:0:0/96", "IPv4-mapped", False),
    ("64:ff9b::/96", "NAT64", True),
    ("64:ff9b:1::/48", "local-use NAT64", False),
    ("100::/64", "discard-only", False),
    ("100:0:0:1::/64", "dummy IPv6 prefix", False),
    ("2001::/23", "IETF protocol assignment", False),
    ("2001::/32", "Teredo", False),
    ("2001:1::1/128", "PCP anycast", True),
    ("2001:1::2/128", "TURN anycast", True),
    ("2001:1::3/128", "DNS-SD SRP anycast", True),
    ("2001:2::/48", "benchmarking", False),
    ("2001:3::/32", "AMT", True),
    ("2001:4:112::/48", "AS112-v6", True),
    ("2001:10::/28", "deprecated ORCHID", False),
    ("2001:20::/28", "ORCHIDv2", True),
    ("2001:30::/28", "drone remote ID", True),
    ("2001:db8::/32", "documentation", False),
    ("2002::/16", "6to4", False),
    ("2620:4f:8000::/48", "AS112 direct delegation", True),
    ("3fff::/20", "documentation", False),
    ("5f00::/16", "segment routing (SRv6) SID", False),
    ("fc00::/7", "unique local (private)", False),
    ("fe80::/10", "link-local", False),
    # Not special-purpose but never global (the IPv6 address space registry):
    ("fec0::/10", "deprecated site-local", False),
    ("ff00::/8", "multicast", False),
)

IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class SpecialBlock:
    network: IPNetwork
    name: str
    globally_reachable: bool


def _table(rows) -> tuple[SpecialBlock, ...]:
    blocks = [SpecialBlock(ipaddress.ip_network(cidr), name, g) for cidr, name, g in rows]
    # Most specific first, so the first match is the entry that applies.
    return tuple(sorted(blocks, key=lambda b: b.network.prefixlen, reverse=True))


SPECIAL_BLOCKS = {4: _table(IPV4_SPECIAL), 6: _table(IPV6_SPECIAL)}


def special_block(address: IPAddress) -> SpecialBlock | None:
    """The most specific IANA special-purpose entry this address is in, if any."""
    for block in SPECIAL_BLOCKS[address.version]:
        if address in block.network:
            return block
    return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 (well-known prefix) IPv6 address reaches."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_reason(address: IPAddress) -> str | None:
    """Why this address is not public ("a loopback address"), or None if it is.

    IPv4-mapped and NAT64 addresses are judged by the IPv4 address they carry
    (the caller unwraps them first: see embedded_ipv4).
    """
    block = special_block(address)
    if block is not None and not block.globally_reachable:
        return f"a {block.name} address"
    if (
        address.version == 6
        and address not in IPV6_GLOBAL_UNICAST
        and address not in (NAT64_WELL_KNOWN)
    ):
        return "a reserved (not global unicast) address"
    if not address.is_global:
        return "a non-public address"
    return None
