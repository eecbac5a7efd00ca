"""A group room's Janus node goes away mid-meeting: the meeting carries on, in Chromium.

A real ``salon serve`` (a subprocess) drives Janus with its media on one end of a veth pair
made in this test's network namespace (``scripts/e2e``): Janus never offers loopback
candidates. Three Chromium pages run the room app in a group room and decode each other; then

- the node hosting the room is killed with SIGKILL and stays dead, as a lost machine. Salon
  runs in the external mode (``SALON_JANUS_MODE=external``) with two nodes the test runs; they
  share the address but not their RTP ports (node ``i``: ``40000 + 1000 i`` to
  ``40999 + 1000 i``), so the remote end of a page's selected ICE pair says which node the page
  talks to. Salon's pool makes the room again on the other node and tells every page
  ``sfu_reset``; each page publishes and subscribes again there;
- or the operator moves the room away with ``salon sfu drain NODE --move``, the same way;
- or, in the embedded mode, the one Janus ``salon serve`` runs is killed: its supervisor starts
  a new one, the room is made again there, and the pages' ICE pairs end on sockets the new
  process holds.

Each test polls (no fixed sleep) until every page decodes every other's video through where
the room is now, and prints how long that took.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e import test_group_sfu as group_sfu
from tests.e2e.conftest import Participants, Salon, run_salon
from tests.e2e.polling import wait_until
from tests.e2e.room_page import Participant
from tests.janus.external_pool import ExternalPool, external_pool
from tests.janus.support import Veth
from tests.support.process import salon

# The goal is a meeting back within 10 s of its node's death (the pool notices a killed node
# within its 3 s reclaim window, then every page makes two new connections). The machine that
# runs these tests is shared and has two cores, so the assertion allows 30 s; the measured
# figure is printed with the test's result.
GOAL_S = 10.0
BOUND_S = 30.0


# test_group_sfu's veth pair fixture, shared (assigned, so that pytest finds it here).
veth = group_sfu.veth


def _nodes_in_use(person: Participant, janus: ExternalPool, veth: Veth) -> set[int] | None:
    """The Janus nodes ``person`` receives each other participant through (by the remote end
    of the selected ICE pair), if it decodes video and receives audio from two others; else
    None."""
    seen = person.stats()
    if len(seen) != 2:
        return None
    nodes = set()
    for stats in seen.values():
        if stats.frames_decoded <= 0 or stats.packets_received <= 0 or stats.remote is None:
            return None
        assert stats.remote.address == veth.janus_address, (person.name, stats.remote)
        nodes |= {i for i in range(len(janus.nodes)) if stats.remote.port in janus.rtp_ports(i)}
    return nodes


def _meeting_on_one_node(
    server: Salon, participants: Participants, janus: ExternalPool, veth: Veth
) -> tuple[list[Participant], int]:
    """Three people in a new group room, each decoding both others through one Janus node:
    the people, and the index of that node."""
    meeting = server.create_meeting(roomMode="group")
    people = [
        participants(meeting.host_room_url, "Hana"),
        participants(meeting.room_url, "Gus"),
        participants(meeting.room_url, "Ivo"),
    ]
    for person in people:
        person.wait_screen("in_room")
    hosts: set[int] = set()
    for person in people:
        hosts |= wait_until(
            lambda p=person: _nodes_in_use(p, janus, veth),
            90,
            message=f"{person.name} to receive both others through Janus",
        )
    assert len(hosts) == 1, hosts
    (host,) = hosts
    return people, host


def test_killing_the_meeting_s_janus_node_moves_every_page_to_the_other(
    tmp_path: Path,
    veth: Veth,
    participants: Participants,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with external_pool(
        tmp_path / "janus", 2, media_address=veth.janus_address, max_failures=0
    ) as janus:
        env = janus.env | {"SALON_TURN_MODE": "off"}
        with run_salon(tmp_path, env) as server:
            # Everyone decodes everyone, all through the one node that has the room.
            people, host = _meeting_on_one_node(server, participants, janus, veth)
            survivor = 1 - host
            assert [janus.health(i).rooms for i in (host, survivor)] == [1, 0]

            killed_at = time.monotonic()
            janus.kill(host)
            wait_until(
                lambda: all(_nodes_in_use(p, janus, veth) == {survivor} for p in people),
                60,
                interval=0.2,
                message="every page to decode every other through the surviving node",
            )
            took = time.monotonic() - killed_at
            with capsys.disabled():
                print(
                    f"\nSFU failover: every page decoded every other through the surviving "
                    f"node {took:.1f} s after its node was killed (goal {GOAL_S:.0f} s)"
                )
            assert took <= BOUND_S, f"the meeting took {took:.1f} s to come back"
            for person in people:
                assert person.screen() == "in_room", person.name

            # The operator's view agrees: the killed node is down, the room on the survivor.
            wait_until(
                lambda: (
                    _listed(server, env)
                    == {
                        janus.node_id(host): ["down", "no", "0"],
                        janus.node_id(survivor): ["up", "no", "1"],
                    }
                ),
                30,
                message="`salon sfu nodes` to show the move",
            )


def _listed(server: Salon, env: dict[str, str]) -> dict[str, list[str]]:
    """``salon sfu nodes``: node id -> status, draining, rooms."""
    lines = salon(server.data_dir, "sfu", "nodes", env=env).stdout.splitlines()
    return {line.split()[0]: line.split()[2:5] for line in lines[1:] if line.strip()}


def test_salon_sfu_drain_move_takes_a_meeting_to_another_node(
    tmp_path: Path,
    veth: Veth,
    participants: Participants,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with external_pool(tmp_path / "janus", 2, media_address=veth.janus_address) as janus:
        env = janus.env | {"SALON_TURN_MODE": "off"}
        with run_salon(tmp_path, env) as server:
            people, host = _meeting_on_one_node(server, participants, janus, veth)
            other = 1 - host

            asked_at = time.monotonic()
            salon(server.data_dir, "sfu", "drain", janus.node_id(host), "--move", env=env)
            wait_until(
                lambda: all(_nodes_in_use(p, janus, veth) == {other} for p in people),
                60,
                interval=0.2,
                message="every page to decode every other through the other node",
            )
            took = time.monotonic() - asked_at
            with capsys.disabled():
                print(
                    f"\nsalon sfu drain --move: every page decoded every other through the "
                    f"other node {took:.1f} s after the command was run"
                )
            assert took <= BOUND_S, f"the move took {took:.1f} s"
            # Nothing is left on the drained node, and nobody started over twice.
            assert [janus.health(i).rooms for i in (host, other)] == [0, 1]
            assert server.process.log().count("starts over on the SFU") == 1


# --- the embedded node restarting -------------------------------------------------------------


def _janus_child(parent: int) -> int | None:
    """The live ``janus`` process ``salon serve`` (pid ``parent``) runs, if any."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if name == "janus" and int(ppid) == parent and state != "Z":
            return int(entry.name)
    return None


def _udp_ports(pid: int) -> set[int]:
    """The local ports of the UDP sockets process ``pid`` holds (its ICE candidates)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _through(person: Participant, veth: Veth, janus_pid: int) -> bool:
    """``person`` decodes video and receives audio from two others, each over an ICE pair
    whose remote end is a socket of the Janus process ``janus_pid``."""
    seen = person.stats()
    if len(seen) != 2:
        return False
    ports = _udp_ports(janus_pid)
    for stats in seen.values():
        if stats.frames_decoded <= 0 or stats.packets_received <= 0 or stats.remote is None:
            return False
        assert stats.remote.address == veth.janus_address, (person.name, stats.remote)
        if stats.remote.port not in ports:
            return False
    return True


def test_a_killed_embedded_janus_is_restarted_and_the_meeting_resumes_on_it(
    tmp_path: Path,
    veth: Veth,
    participants: Participants,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = {"SALON_TURN_MODE": "off", "SALON_JANUS_INTERFACE": veth.janus_address}
    with run_salon(tmp_path, env) as server:
        salon_pid = server.process.process.pid
        first = wait_until(lambda: _janus_child(salon_pid), 30, message="the embedded Janus")
        meeting = server.create_meeting(roomMode="group")
        people = [
            participants(meeting.host_room_url, "Hana"),
            participants(meeting.room_url, "Gus"),
            participants(meeting.room_url, "Ivo"),
        ]
        for person in people:
            person.wait_screen("in_room")
        for person in people:
            wait_until(
                lambda p=person: _through(p, veth, first),
                90,
                message=f"{person.name} to receive both others through Janus",
            )

        killed_at = time.monotonic()
        os.kill(first, signal.SIGKILL)
        # The supervisor starts a new Janus; the pool makes the room again on it (the same
        # node, "local") and every page starts over there.
        second = wait_until(
            lambda: (pid := _janus_child(salon_pid)) != first and pid,
            30,
            interval=0.1,
            message="a new Janus",
        )
        wait_until(
            lambda: all(_through(p, veth, second) for p in people),
            60,
            interval=0.2,
            message="every page to decode every other through the restarted Janus",
        )
        took = time.monotonic() - killed_at
        with capsys.disabled():
            print(
                f"\nSFU restart: every page decoded every other through the restarted Janus "
                f"{took:.1f} s after the first was killed (goal {GOAL_S:.0f} s)"
            )
        assert took <= BOUND_S, f"the meeting took {took:.1f} s to come back"
        assert "janus exited unexpectedly (killed by SIGKILL)" in server.process.log()
