"""``mamori ambassador``: an mTLS ambassador proxy with peer-identity authorisation and flow records.

Server mode terminates mTLS (client certificates required) in front of a plaintext application
on loopback or a unix socket; client mode takes plaintext from the local application and
originates mTLS to a remote service. See docs/ambassador.md.
"""

from mamori.ambassador.addr import Address, AddressError, parse
from mamori.ambassador.flows import Flow, FlowSink
from mamori.ambassador.identity import AllowList, IdentityError, Peer, peer_from_der
from mamori.ambassador.proxy import Ambassador, ConfigError, Options
from mamori.ambassador.tls import Files, TlsConfigError

__all__ = ["Address", "AddressError", "AllowList", "Ambassador", "ConfigError", "Files", "Flow", "FlowSink",
           "IdentityError", "Options", "Peer", "TlsConfigError", "parse", "peer_from_der"]
