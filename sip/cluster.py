"""Several Kamailio nodes as one SIP service on one database (`make sip-cluster`, the cluster
tests): the one copy of that logic.

Node n (1, 2, …) listens on 127.0.0.<n+1> (or the addresses given) with the same configuration
as `make sip`, plus kamailio.cfg's WITH_CLUSTER section: DMQ between the nodes (registrations
with dmq_usrloc, the counters and locks with htable), a Path on every registration naming the
node that holds the phone's connection, and its own rtpengine on its own address. Each node has
its own runtime directory (control socket, PID file, log), and its own listen service (`*33`,
sip.listen) which knows every node: the call a supervisor asks for may be anchored at another
node's relay.

>>> with KamailioCluster(base_config, addresses=["127.0.0.2", "127.0.0.3"], runtime_dir=tmp) as c:
...     c.nodes[0].kamailio.rpc("dmq.list_nodes")
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .kamailio import (
    DEFAULT_METRICS_PORT,
    ClusterMembership,
    Kamailio,
    KamailioConfig,
    KamailioError,
    free_port,
    free_sip_port,
    host_port,
)
from .listen import ListenProcess
from .listen import Node as ListenNode
from .rtpengine import Rtpengine, RtpengineConfig, free_port_range

# Where `make sip-cluster` puts its nodes: node n on 127.0.0.<n+1> (the loopback is a /8).
DEFAULT_DMQ_PORT = 5070


def node_addresses(count: int) -> list[str]:
    """127.0.0.2, 127.0.0.3, …: `count` loopback addresses, one per node."""
    if not 1 <= count <= 250:
        raise KamailioError("A cluster on the loopback has 1 to 250 nodes.")
    return [f"127.0.0.{n + 1}" for n in range(1, count + 1)]


@dataclass(frozen=True)
class NodePorts:
    """A node's ports: the same on every node (`make sip-cluster`: each has its own address) or
    picked free on its address (the tests). `listen`: the listen service's (None: not started,
    `*33` is answered 503)."""

    sip: int
    ws: int
    dmq: int
    rtp: tuple[int, int]
    ng: int
    listen: int | None = None

    @classmethod
    def free(cls, address: str) -> NodePorts:
        return cls(
            sip=free_sip_port(address),
            ws=free_port(host=address),
            dmq=free_port(socket.SOCK_DGRAM, address),
            rtp=free_port_range(100, host=address),
            ng=free_port(socket.SOCK_DGRAM, address),
            listen=free_port(socket.SOCK_DGRAM, address),
        )


@dataclass
class ClusterNode:
    """One node: its Kamailio, its media relay and its listen service (not running until
    started)."""

    node_id: int
    address: str
    ports: NodePorts
    kamailio: Kamailio
    relay: Rtpengine
    listen: ListenProcess | None = None

    @property
    def config(self) -> KamailioConfig:
        return self.kamailio.config

    @property
    def running(self) -> bool:
        return self.kamailio.process is not None and self.kamailio.process.poll() is None

    @property
    def control(self) -> str:
        return f"unix:{self.config.ctl_socket}"


@dataclass
class KamailioCluster:
    """Nodes built from one base configuration (database, gateway, protection, …), each on its own
    address with its own runtime directory under `runtime_dir` and its own rtpengine.

    `ports(address)` gives a node's ports (default: free ones on that address). A node can be
    stopped (`stop_node`) and started again or later (`start_node`): it announces itself to a
    running node and receives the current registrations, counters and locks from them."""

    base: KamailioConfig
    addresses: Sequence[str]
    runtime_dir: Path
    ports: Callable[[str], NodePorts] = NodePorts.free
    relay_options: dict = field(default_factory=dict)
    nodes: list[ClusterNode] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if len(set(self.addresses)) != len(self.addresses):
            raise KamailioError("Each node needs an address of its own.")
        network = tuple(f"{address}/32" for address in self.addresses)
        for node_id, address in enumerate(self.addresses, start=1):
            ports = self.ports(address)
            node_dir = Path(self.runtime_dir) / f"node{node_id}"
            relay_config = RtpengineConfig(
                ng_host=address,
                ng_port=ports.ng,
                interface=address,
                port_min=ports.rtp[0],
                port_max=ports.rtp[1],
                runtime_dir=node_dir / "rtpengine",
                **self.relay_options,
            )
            config = dataclasses.replace(
                self.base,
                listen_ip=address,
                sip_port=ports.sip,
                ws_port=ports.ws,
                runtime_dir=node_dir,
                rtpengine_sock=relay_config.kamailio_socket,
                # Each node's own metrics listener, on its own loopback address.
                metrics_listen=(
                    f"{address}:{host_port(self.base.metrics_listen, DEFAULT_METRICS_PORT)[1]}"
                    if self.base.metrics_listen
                    else ""
                ),
                # Its listen service (*33), set below once every node's relay is known.
                listen_uri="",
                cluster=ClusterMembership(
                    node_id=node_id, dmq_port=ports.dmq, seed=f"{address}:{ports.dmq}", network=network
                ),
                defines=dict(self.base.defines),
            )
            self.nodes.append(
                ClusterNode(
                    node_id=node_id,
                    address=address,
                    ports=ports,
                    kamailio=Kamailio(config, log_path=node_dir / "kamailio.log"),
                    relay=Rtpengine(relay_config, log_path=node_dir / "rtpengine.log"),
                )
            )
        # Each node's listen service asks every node for the agent's call (its own first), and
        # subscribes at the relay of the one holding it.
        every = [ListenNode(node.control, node.relay.config.ng_address) for node in self.nodes]
        for node, own in zip(self.nodes, every, strict=True):
            if node.ports.listen is None:
                continue
            node.listen = ListenProcess(
                host=node.address,
                port=node.ports.listen,
                nodes=[own, *(other for other in every if other is not own)],
                media_ip=node.address,
                # Only this node's Kamailio sends calls there.
                allow=(node.address,),
                log_path=Path(self.runtime_dir) / f"node{node.node_id}" / "listen.log",
            )
            node.config.listen_uri = node.listen.uri

    def start(self, *, count: int | None = None) -> KamailioCluster:
        """Start the first `count` nodes (default all), one after the other."""
        try:
            for node in self.nodes[: len(self.nodes) if count is None else count]:
                self.start_node(node)
        except BaseException:
            self.stop()
            raise
        return self

    def start_node(self, node: ClusterNode, *, timeout: float = 30.0) -> ClusterNode:
        """Start a node's relay and Kamailio; it announces itself to a running node (the first
        one up), or to itself when it is the first. A running node is left as it is."""
        if node.running:
            return node
        seed = next((other for other in self.nodes if other.running and other is not node), node)
        membership = node.config.cluster
        assert membership is not None, "built by __post_init__"
        seed_address = f"{seed.address}:{seed.ports.dmq}"
        node.kamailio.config.cluster = dataclasses.replace(membership, seed=seed_address)
        if node.relay.process is None:
            node.relay.start()
        try:
            if node.listen is not None and node.listen.process is None:
                node.listen.start()
            node.kamailio.start(timeout=timeout)
        except BaseException:
            if node.listen is not None:
                node.listen.stop()
            node.relay.stop()
            raise
        return node

    def stop_node(self, node: ClusterNode) -> None:
        node.kamailio.stop()
        if node.listen is not None:
            node.listen.stop()
        node.relay.stop()

    def stop(self) -> None:
        for node in reversed(self.nodes):
            self.stop_node(node)

    @property
    def controls(self) -> list[str]:
        """Every node's control socket (settings.SIP_CLUSTER_CTL_SOCKETS)."""
        return [node.control for node in self.nodes]

    def __enter__(self) -> KamailioCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
