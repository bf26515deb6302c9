"""`make sip`: the media relay (rtpengine), the listen service (sip.listen, *33) and Kamailio in
the foreground against the dashboard's database; Ctrl-C stops all three.

`make sip-cluster` (`--cluster N`): N Kamailio nodes as one service (sip.cluster), each with its
own rtpengine and listen service, on 127.0.0.2, 127.0.0.3, … (SIP_CLUSTER_ADDRESSES) with the same
ports."""

import os
import signal
import subprocess
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from sip.cluster import DEFAULT_DMQ_PORT, KamailioCluster, NodePorts, node_addresses
from sip.kamailio import (
    DEFAULT_RUNTIME_DIR,
    Kamailio,
    KamailioConfig,
    KamailioError,
    config_from_settings,
    host_port,
    login_info_problems,
)
from sip.listen import ListenProcess
from sip.rtpengine import Rtpengine, RtpengineError
from sip.rtpengine import config_from_environment as rtpengine_config


class Stop(Exception):
    """SIGTERM (e.g. a service manager or a test stopping the process group)."""


class Command(BaseCommand):
    help = (
        "Run rtpengine (the media relay), the listen service (*33) and Kamailio "
        "(deploy/kamailio/kamailio.cfg) in the foreground, listening where the login info points "
        "(SIP_OUTBOUND_PROXY, SIP_WEBSOCKET_URL; with SIP_TLS=1 also SIP over TLS and WebSocket "
        "over TLS) and reading this project's database (or KAMAILIO_DB_URL). Refuses to start when "
        "the login info offers a transport it would not serve. Stop them with Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Only check the configuration.")
        parser.add_argument("--children", type=int, help="Worker processes (default 4).")
        parser.add_argument(
            "--cluster",
            type=int,
            metavar="N",
            help="Start N nodes as one service: on 127.0.0.2, 127.0.0.3, … (or SIP_CLUSTER_ADDRESSES), "
            "each with its own rtpengine, DMQ between them on SIP_CLUSTER_DMQ_PORT (5070).",
        )

    def handle(
        self, *args, check: bool = False, children: int | None = None, cluster: int | None = None, **options
    ):
        overrides = {"children": children} if children else {}
        config = config_from_settings(**overrides)
        # The login info must not offer what this Kamailio will not serve (wss:// without TLS).
        try:
            problems = login_info_problems(config)
        except KamailioError as exc:
            raise CommandError(str(exc)) from exc
        if problems:
            raise CommandError(
                "The login info offers what Kamailio would not serve:\n  - "
                + "\n  - ".join(problems)
                + "\nFix the settings (see docs/sip.md, “TLS and WSS”)."
            )
        if cluster:
            self._run_cluster(config, cluster, check=check)
            return
        relay_config = rtpengine_config(default_interface=config.listen_ip)
        # RTPENGINE_START=0: a relay run elsewhere (its own service), reached at RTPENGINE_NG.
        start_relay = os.environ.get("RTPENGINE_START", "1") != "0"
        config.rtpengine_sock = relay_config.kamailio_socket
        # LISTEN_SERVICE: where the listen service takes *33 calls (the loopback, next to Kamailio:
        # it reads Kamailio's dialogs through the control socket). LISTEN_SERVICE_START=0: not
        # started, *33 answered 503.
        listen_host, listen_port = host_port(os.environ.get("LISTEN_SERVICE", "127.0.0.1:5090"), 5090)
        listen = None
        if os.environ.get("LISTEN_SERVICE_START", "1") != "0":
            listen = ListenProcess(
                host=listen_host,
                port=listen_port,
                rtpengine=relay_config.ng_address,
                kamailio_ctl=f"unix:{config.ctl_socket}",
                # Kamailio's own address: only it may send calls there.
                allow=tuple(dict.fromkeys(("127.0.0.1", config.listen_ip))),
                new_session=False,
            )
            config.listen_uri = listen.uri
        config.prepare()
        kamailio = Kamailio(config)
        try:
            kamailio.check_config()
        except KamailioError as exc:
            raise CommandError(str(exc)) from exc
        shown_db = config.db_url.split("@")[-1] if "@" in config.db_url else config.db_url
        ports = f"{relay_config.port_min}-{relay_config.port_max}"
        relay = (
            f"rtpengine on {relay_config.interface}, RTP ports {ports}"
            if start_relay
            else "rtpengine started elsewhere"
        )
        served = config.served()
        lines = [f"Kamailio: SIP udp+tcp {served['udp']}, WebSocket {served['ws']}, database {shown_db}"]
        if config.tls:
            lines.append(
                f"TLS: SIP over TLS {served['tls']}, WebSocket over TLS {served['wss']} "
                f"(certificate {config.tls_cert_file})"
            )
        metrics = [f"Kamailio http://{config.metrics_listen}/metrics"] if config.metrics_listen else []
        if start_relay and relay_config.metrics_listen:
            metrics.append(f"rtpengine http://{relay_config.metrics_listen}/metrics")
        lines += [
            f"Media relay: {relay}, control {config.rtpengine_sock}",
            f"Prometheus metrics (loopback): {', '.join(metrics) or 'none'}",
            f"Calls out: {config.gateway_uri or 'no gateway (SIP_GATEWAY_URI): 503'}; listening (*33): "
            f"{config.listen_uri or 'no listen service (LISTEN_SERVICE_START=0): 503'}; whisper (*34), "
            "barge (*35): 501, rtpengine cannot mix",
            f"Reload hotline domains / dial rules: kamcmd -s unix:{config.ctl_socket} domain.reload"
            " / dialplan.reload",
        ]
        self.stdout.write("\n".join(lines))
        if check:
            return
        self.stdout.flush()
        if not start_relay and listen is None:
            # Become Kamailio: it keeps the terminal, its log and Ctrl-C.
            command = config.command()
            os.execve(command[0], command, config.environment())  # noqa: S606 — our own command line
        self._run_all(config, relay_config if start_relay else None, listen)

    def _run_all(self, config, relay_config, listen) -> None:
        """rtpengine, the listen service, then Kamailio, all in this process group, so Ctrl-C in
        the terminal reaches them; this process waits for Kamailio and stops the others by their
        PIDs, whichever way it ends (Ctrl-C, SIGTERM, Kamailio exiting)."""

        def terminate(signum, frame):
            raise Stop

        signal.signal(signal.SIGTERM, terminate)
        relay = Rtpengine(relay_config, new_session=False) if relay_config else None
        kamailio = None
        try:
            try:
                if relay is not None:
                    relay.start(log_to_terminal=True)
                if listen is not None:
                    listen.start()
            except (RtpengineError, RuntimeError) as exc:
                raise CommandError(str(exc)) from exc
            command = config.command()
            kamailio = subprocess.Popen(command, env=config.environment())  # noqa: S603 — our own command line
            returncode = kamailio.wait()
            if returncode:
                raise CommandError(f"Kamailio exited with {returncode}.")
        except (KeyboardInterrupt, Stop):
            pass
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if kamailio is not None and kamailio.poll() is None:
                kamailio.terminate()
                try:
                    kamailio.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    kamailio.kill()
                    kamailio.wait()
            if listen is not None:
                listen.stop()
            if relay is not None:
                relay.stop()

    def _run_cluster(self, config: KamailioConfig, count: int, *, check: bool) -> None:
        """The nodes one after the other (each announcing itself to the first), until Ctrl-C or
        SIGTERM, or until a node exits; then all of them, each with its relay."""
        addresses = [a.strip() for a in os.environ.get("SIP_CLUSTER_ADDRESSES", "").split(",") if a.strip()]
        if addresses and len(addresses) != count:
            raise CommandError(f"SIP_CLUSTER_ADDRESSES names {len(addresses)} addresses for {count} nodes.")
        dmq_port = int(os.environ.get("SIP_CLUSTER_DMQ_PORT", DEFAULT_DMQ_PORT))
        relay = rtpengine_config()
        # Each node's listen service on the port of LISTEN_SERVICE (5090), on the node's address.
        listen_port = host_port(os.environ.get("LISTEN_SERVICE", "127.0.0.1:5090"), 5090)[1]
        ports = NodePorts(
            sip=config.sip_port,
            ws=config.ws_port,
            dmq=dmq_port,
            rtp=(relay.port_min, relay.port_max),
            ng=relay.ng_port,
            listen=listen_port if os.environ.get("LISTEN_SERVICE_START", "1") != "0" else None,
        )
        runtime_dir = Path(os.environ.get("KAMAILIO_RUNTIME_DIR", DEFAULT_RUNTIME_DIR)) / "cluster"
        try:
            nodes = KamailioCluster(
                config,
                addresses=addresses or node_addresses(count),
                runtime_dir=runtime_dir,
                ports=lambda address: ports,
            )
            first = nodes.nodes[0]
            first.config.prepare()
            first.kamailio.check_config()
        except KamailioError as exc:
            raise CommandError(str(exc)) from exc
        shown_db = config.db_url.split("@")[-1] if "@" in config.db_url else config.db_url
        lines = [f"Kamailio cluster of {count} on database {shown_db} (DMQ on port {dmq_port}):"]
        for node in nodes.nodes:
            served, relay_ng = node.config.served(), node.relay.config.kamailio_socket
            listening = node.config.listen_uri or "none (503)"
            lines.append(
                f"  node {node.node_id}: SIP udp+tcp {served['udp']}, WebSocket {served['ws']}, "
                f"rtpengine {relay_ng}, listen service (*33) {listening}, log {node.kamailio.log_path}"
            )
        lines += [
            "Point the dashboard at every node (reloads, removals, counters, locks):",
            "  SIP_CLUSTER_CTL_SOCKETS=" + ",".join(nodes.controls),
            "Phones find the nodes by DNS (SRV records) or one of the addresses: docs/deployment.md.",
            "Listening (*33): each node's listen service finds the call on any node and hears it at"
            " that node's rtpengine.",
        ]
        self.stdout.write("\n".join(lines))
        if check:
            return

        def terminate(signum, frame):
            raise Stop

        signal.signal(signal.SIGTERM, terminate)
        try:
            try:
                nodes.start()
            except KamailioError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{count} nodes up. Ctrl-C stops them.")
            self.stdout.flush()
            while all(node.running for node in nodes.nodes):
                time.sleep(1)
            gone = [node.node_id for node in nodes.nodes if not node.running]
            raise CommandError(f"Node(s) {gone} exited; see their logs. Stopping the others.")
        except (KeyboardInterrupt, Stop):
            pass
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            nodes.stop()
