"""pyapi.io against the host kernel.

The same scripted operations run on real non-blocking pipes and socket pairs
with Python's ``select.epoll`` / ``select.poll`` / ``select.select`` (timeout
0) and on the model; every result -- events in order, bytes, errno -- must be
equal.  Descriptors are named symbolically (``p0.r``, ``p0.w``, ``s0.a``, an epoll
instance by its own name, which another instance can watch) since the two
sides number them differently.
"""
import errno
import os
import select
import socket
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyapi.io import Process

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(select, "epoll"),
                                reason="needs Linux epoll")

IN, OUT, ET, ONESHOT = select.EPOLLIN, select.EPOLLOUT, select.EPOLLET, select.EPOLLONESHOT
EXCL = select.EPOLLEXCLUSIVE


class Real:
    """Runs a script on the host kernel."""

    def __init__(self):
        self.fds = {}        # name -> fd
        self.names = {}      # fd -> name
        self.eps = {}
        self.socks = []

    def _name(self, name, fd):
        self.fds[name] = fd
        self.names[fd] = name

    def pipe(self, name):
        r, w = os.pipe2(os.O_NONBLOCK)
        self._name(name + ".r", r)
        self._name(name + ".w", w)

    def socketpair(self, name):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        a.setblocking(False)
        b.setblocking(False)
        self.socks += [a, b]
        self._name(name + ".a", a.detach())
        self._name(name + ".b", b.detach())

    def epoll(self, name):
        self.eps[name] = select.epoll()
        self.names[self.eps[name].fileno()] = name

    def _fd(self, name):
        return self.fds[name] if name in self.fds else self.eps[name].fileno()

    def ctl(self, ep, op, target, events=0):
        e = self.eps[ep]
        fd = self._fd(target)
        if op == "add":
            e.register(fd, events)
        elif op == "mod":
            e.modify(fd, events)
        else:
            e.unregister(fd)

    def wait(self, ep, maxevents):
        return [(self.names[fd], ev) for fd, ev in self.eps[ep].poll(0, maxevents)]

    def write(self, target, n):
        return os.write(self.fds[target], b"x" * n)

    def read(self, target, n):
        return len(os.read(self.fds[target], n))

    def close(self, target):
        if target in self.eps:
            self.eps.pop(target).close()
        else:
            os.close(self.fds.pop(target))

    def poll(self, entries):
        p = select.poll()
        for name, ev in entries:
            p.register(self._fd(name), ev)
        return [(self.names[fd], ev) for fd, ev in p.poll(0)]

    def select(self, rl, wl):
        r, w, _ = select.select([self._fd(n) for n in rl], [self._fd(n) for n in wl], [], 0)
        return sorted(self.names[fd] for fd in r), sorted(self.names[fd] for fd in w)

    def cleanup(self):
        for e in self.eps.values():
            e.close()
        for fd in self.fds.values():
            os.close(fd)


class Model(Real):
    """Runs a script on pyapi.io."""

    def __init__(self):
        super().__init__()
        self.p = Process()

    def pipe(self, name):
        r, w = self.p.pipe()
        self._name(name + ".r", r)
        self._name(name + ".w", w)

    def socketpair(self, name):
        a, b = self.p.socketpair()
        self._name(name + ".a", a)
        self._name(name + ".b", b)

    def epoll(self, name):
        self.eps[name] = self.p.epoll_create1()
        self.names[self.eps[name]] = name

    def _fd(self, name):
        return self.fds[name] if name in self.fds else self.eps[name]

    def ctl(self, ep, op, target, events=0):
        code = {"add": 1, "del": 2, "mod": 3}[op]
        self.p.epoll_ctl(self.eps[ep], code, self._fd(target), events)

    def wait(self, ep, maxevents):
        return [(self.names[fd], ev) for fd, ev in self.p.epoll_wait(self.eps[ep], maxevents)]

    def write(self, target, n):
        return self.p.write(self.fds[target], b"x" * n)

    def read(self, target, n):
        return len(self.p.read(self.fds[target], n))

    def close(self, target):
        self.p.close(self.eps.pop(target) if target in self.eps else self.fds.pop(target))

    def poll(self, entries):
        res = self.p.poll([(self._fd(name), ev) for name, ev in entries])
        return [(self.names[fd], ev) for fd, ev in res]

    def select(self, rl, wl):
        r, w, _ = self.p.select([self._fd(n) for n in rl], [self._fd(n) for n in wl], [])
        return sorted(self.names[fd] for fd in r), sorted(self.names[fd] for fd in w)

    def cleanup(self):
        pass


def run(driver_cls, script):
    d = driver_cls()
    out = []
    try:
        for op, *args in script:
            try:
                out.append((op, getattr(d, op)(*args)))
            except KeyError:
                out.append((op, "closed"))
            except OSError as e:
                out.append((op, errno.errorcode.get(e.errno, e.errno)))
    finally:
        d.cleanup()
    return out


def check(script):
    real = run(Real, script)
    model = run(Model, script)
    assert model == real, "\n".join(f"{s}\n   kernel {r}\n   model  {m}"
                                    for s, r, m in zip(script, real, model) if r != m)
    return real


P = [("pipe", "p0"), ("epoll", "e")]
N = [("pipe", "p0"), ("epoll", "e"), ("epoll", "f")]     # f goes inside e
S = [("socketpair", "s0"), ("epoll", "e")]

SCRIPTS = {
    "level-triggered read end": P + [
        ("ctl", "e", "add", "p0.r", IN), ("wait", "e", 8), ("write", "p0.w", 10),
        ("wait", "e", 8), ("wait", "e", 8), ("read", "p0.r", 4), ("wait", "e", 8),
        ("read", "p0.r", 100), ("wait", "e", 8), ("read", "p0.r", 1)],
    "edge-triggered: one report per write": P + [
        ("ctl", "e", "add", "p0.r", IN | ET), ("write", "p0.w", 10), ("wait", "e", 8),
        ("wait", "e", 8), ("read", "p0.r", 3), ("wait", "e", 8), ("write", "p0.w", 1),
        ("wait", "e", 8), ("write", "p0.w", 1), ("write", "p0.w", 1), ("wait", "e", 8)],
    "edge-triggered: drained before wait": P + [
        ("ctl", "e", "add", "p0.r", IN | ET), ("write", "p0.w", 10),
        ("read", "p0.r", 10), ("wait", "e", 8)],
    "one-shot until modified": P + [
        ("ctl", "e", "add", "p0.r", IN | ONESHOT), ("write", "p0.w", 5), ("wait", "e", 8),
        ("write", "p0.w", 5), ("wait", "e", 8), ("ctl", "e", "mod", "p0.r", IN | ONESHOT),
        ("wait", "e", 8), ("wait", "e", 8), ("ctl", "e", "mod", "p0.r", IN), ("wait", "e", 8),
        ("wait", "e", 8)],
    "write end fills and drains": P + [
        ("ctl", "e", "add", "p0.w", OUT | ET), ("wait", "e", 8), ("write", "p0.w", 70000),
        ("wait", "e", 8), ("write", "p0.w", 1), ("read", "p0.r", 100), ("wait", "e", 8),
        ("read", "p0.r", 4000), ("wait", "e", 8), ("read", "p0.r", 4096), ("wait", "e", 8)],
    "small writes merge into a page": P + [
        ("ctl", "e", "add", "p0.w", OUT), ("write", "p0.w", 4096 * 15), ("write", "p0.w", 10),
        ("wait", "e", 8), ("write", "p0.w", 4000), ("write", "p0.w", 86), ("write", "p0.w", 1),
        ("wait", "e", 8), ("read", "p0.r", 5), ("write", "p0.w", 5), ("write", "p0.w", 1)],
    "writer closes: hang-up after the data": P + [
        ("ctl", "e", "add", "p0.r", IN), ("write", "p0.w", 3), ("close", "p0.w"),
        ("wait", "e", 8), ("read", "p0.r", 10), ("wait", "e", 8), ("read", "p0.r", 10)],
    "writer closes: edge-triggered hang-up": P + [
        ("ctl", "e", "add", "p0.r", IN | ET), ("wait", "e", 8), ("close", "p0.w"),
        ("wait", "e", 8), ("wait", "e", 8)],
    "reader closes: error on the write end": P + [
        ("ctl", "e", "add", "p0.w", OUT | ET), ("wait", "e", 8), ("close", "p0.r"),
        ("wait", "e", 8), ("write", "p0.w", 1), ("wait", "e", 8)],
    "modify and delete": P + [
        ("ctl", "e", "add", "p0.r", OUT), ("write", "p0.w", 1), ("wait", "e", 8),
        ("ctl", "e", "mod", "p0.r", IN), ("wait", "e", 8), ("ctl", "e", "del", "p0.r"),
        ("wait", "e", 8), ("ctl", "e", "del", "p0.r"), ("ctl", "e", "mod", "p0.r", IN),
        ("ctl", "e", "add", "p0.w", OUT), ("ctl", "e", "add", "p0.w", OUT)],
    "closing a registered fd removes it": P + [
        ("pipe", "p1"), ("ctl", "e", "add", "p0.r", IN), ("ctl", "e", "add", "p1.r", IN),
        ("write", "p0.w", 1), ("write", "p1.w", 1), ("close", "p0.r"), ("wait", "e", 8)],
    "maxevents and ready-list order": P + [
        ("pipe", "p1"), ("pipe", "p2"), ("ctl", "e", "add", "p1.r", IN),
        ("ctl", "e", "add", "p0.r", IN), ("ctl", "e", "add", "p2.r", IN | ET),
        ("write", "p2.w", 1), ("write", "p0.w", 1), ("write", "p1.w", 1),
        ("wait", "e", 2), ("wait", "e", 2), ("wait", "e", 2), ("write", "p2.w", 1),
        ("wait", "e", 8)],
    "exclusive: every instance queues when nobody sleeps": P + [
        ("epoll", "f"), ("ctl", "e", "add", "p0.r", IN | EXCL),
        ("ctl", "f", "add", "p0.r", IN | EXCL | ET), ("write", "p0.w", 1), ("wait", "e", 8),
        ("wait", "f", 8), ("ctl", "e", "mod", "p0.r", IN),
        ("ctl", "e", "add", "p0.w", OUT | EXCL | ONESHOT)],
    "two instances, one pipe": P + [
        ("epoll", "f"), ("ctl", "e", "add", "p0.r", IN | ET), ("ctl", "f", "add", "p0.r", IN),
        ("write", "p0.w", 2), ("wait", "e", 8), ("wait", "f", 8), ("read", "p0.r", 2),
        ("wait", "e", 8), ("wait", "f", 8)],
    "poll and select": P + [
        ("pipe", "p1"),
        ("poll", [("p0.r", IN), ("p0.w", OUT), ("p1.r", IN | OUT), ("p1.w", IN)]),
        ("write", "p0.w", 65536), ("select", ["p0.r", "p1.r"], ["p0.w", "p1.w"]),
        ("poll", [("p0.r", IN), ("p0.w", OUT)]), ("close", "p1.w"),
        ("poll", [("p1.r", IN)]), ("select", ["p1.r"], []), ("close", "p0.r"),
        ("poll", [("p0.w", OUT)]), ("select", [], ["p0.w"])],
    "nested: level-triggered inner, stale item dropped": N + [
        ("ctl", "f", "add", "p0.r", IN), ("ctl", "e", "add", "f", IN), ("wait", "e", 8),
        ("write", "p0.w", 1), ("wait", "e", 8), ("wait", "e", 8), ("wait", "f", 8),
        ("read", "p0.r", 1), ("wait", "e", 8), ("wait", "f", 8), ("write", "p0.w", 2),
        ("read", "p0.r", 2), ("wait", "e", 8), ("wait", "f", 8), ("write", "p0.w", 1),
        ("wait", "e", 8)],
    "nested: edge-triggered outer": N + [
        ("ctl", "f", "add", "p0.r", IN), ("ctl", "e", "add", "f", IN | ET), ("write", "p0.w", 1),
        ("wait", "e", 8), ("wait", "e", 8), ("write", "p0.w", 1), ("wait", "e", 8),
        ("wait", "f", 8), ("wait", "e", 8), ("read", "p0.r", 2), ("write", "p0.w", 1),
        ("wait", "e", 8)],
    "nested: ready inner at insert, modify, one-shot": N + [
        ("ctl", "f", "add", "p0.r", IN | ET), ("write", "p0.w", 1), ("ctl", "e", "add", "f", IN),
        ("wait", "e", 8), ("ctl", "e", "mod", "f", OUT), ("wait", "e", 8),
        ("ctl", "e", "mod", "f", IN | ONESHOT), ("wait", "e", 8), ("wait", "e", 8),
        ("write", "p0.w", 1), ("wait", "e", 8), ("ctl", "e", "mod", "f", IN),
        ("wait", "e", 8), ("wait", "f", 8), ("wait", "e", 8)],
    "nested: three deep, poll and select on instances": N + [
        ("epoll", "g"), ("ctl", "g", "add", "p0.r", IN), ("ctl", "f", "add", "g", IN),
        ("ctl", "e", "add", "f", IN), ("poll", [("e", IN), ("f", IN | OUT), ("g", IN)]),
        ("write", "p0.w", 3), ("select", ["e", "f", "g"], ["e"]),
        ("poll", [("e", IN), ("f", IN), ("g", IN)]), ("wait", "e", 8), ("wait", "f", 8),
        ("read", "p0.r", 3), ("poll", [("e", IN), ("g", IN)]), ("wait", "e", 8),
        ("wait", "f", 8), ("wait", "g", 8)],
    "nested: loops, depth and flags refused": N + [
        ("epoll", "g"), ("epoll", "h"), ("epoll", "i"), ("epoll", "j"),
        ("ctl", "e", "add", "f", IN), ("ctl", "f", "add", "e", IN), ("ctl", "e", "add", "e", IN),
        ("ctl", "e", "add", "f", IN), ("ctl", "e", "mod", "g", IN), ("ctl", "f", "add", "g", IN | EXCL),
        ("ctl", "e", "mod", "f", IN | EXCL), ("ctl", "f", "add", "g", IN), ("ctl", "g", "add", "e", IN),
        ("ctl", "g", "add", "h", IN), ("ctl", "h", "add", "i", IN), ("ctl", "i", "add", "j", IN),
        ("ctl", "j", "add", "p0.r", IN), ("ctl", "h", "del", "i"), ("ctl", "i", "add", "j", IN),
        ("ctl", "h", "add", "i", IN), ("ctl", "j", "add", "p0.w", OUT), ("wait", "e", 8)],
    "nested: closing an inner instance": N + [
        ("ctl", "f", "add", "p0.r", IN), ("ctl", "e", "add", "f", IN), ("write", "p0.w", 1),
        ("close", "f"), ("wait", "e", 8), ("ctl", "e", "add", "p0.r", IN), ("wait", "e", 8)],
    "socket pair: data, edge and close": S + [
        ("ctl", "e", "add", "s0.a", IN | OUT | ET), ("ctl", "e", "add", "s0.b", IN),
        ("wait", "e", 8), ("write", "s0.b", 5), ("wait", "e", 8), ("read", "s0.a", 2),
        ("wait", "e", 8), ("read", "s0.a", 10), ("wait", "e", 8), ("write", "s0.a", 7),
        ("write", "s0.a", 7), ("wait", "e", 8), ("read", "s0.b", 14), ("wait", "e", 8)],
    "socket pair: peer closes": S + [
        ("ctl", "e", "add", "s0.a", IN | ET | select.EPOLLRDHUP), ("write", "s0.b", 3),
        ("wait", "e", 8), ("close", "s0.b"), ("wait", "e", 8), ("read", "s0.a", 10),
        ("read", "s0.a", 10), ("write", "s0.a", 1),
        ("poll", [("s0.a", IN | OUT | select.POLLRDHUP)])],
    "socket pair: close with unread data resets the peer": S + [
        ("write", "s0.a", 4), ("ctl", "e", "add", "s0.a", IN | OUT), ("close", "s0.b"),
        ("wait", "e", 8), ("write", "s0.a", 1), ("wait", "e", 8), ("write", "s0.a", 1)],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_matches_kernel(name):
    check(SCRIPTS[name])


def test_scripts_exercise_every_outcome():
    # The table is only worth something if it sees the interesting answers.
    seen = set()
    for script in SCRIPTS.values():
        for (op, *_), (_, res) in zip(script, run(Model, script)):
            if op == "wait":
                for _, ev in res:
                    seen.add(ev)
            elif isinstance(res, str):
                seen.add(res)
    for want in (IN, OUT, IN | select.EPOLLHUP, select.EPOLLHUP, OUT | select.EPOLLERR,
                 "EAGAIN", "EEXIST", "ENOENT", "EINVAL", "EPIPE", "ELOOP"):
        assert want in seen, want


# -- random sequences on both -------------------------------------------------

ENDS = ["p0.r", "p0.w", "p1.r", "p1.w"]
SIZES = st.sampled_from([1, 7, 100, 4095, 4096, 4097, 9000, 65536, 70000])
EVMASKS = st.sampled_from([IN, OUT, IN | OUT, IN | ET, OUT | ET, IN | OUT | ET, IN | ONESHOT,
                           OUT | ONESHOT | ET, IN | EXCL, IN | ET | EXCL, 0])
OPS = st.one_of(
    st.tuples(st.just("ctl"), st.sampled_from(["e", "f"]), st.sampled_from(["add", "mod", "del"]),
              st.sampled_from(ENDS), EVMASKS),
    st.tuples(st.just("write"), st.sampled_from(["p0.w", "p1.w"]), SIZES),
    st.tuples(st.just("read"), st.sampled_from(["p0.r", "p1.r"]), SIZES),
    st.tuples(st.just("wait"), st.sampled_from(["e", "f"]), st.integers(1, 4)),
    st.tuples(st.just("close"), st.sampled_from(ENDS)),
    st.tuples(st.just("poll"), st.lists(st.tuples(st.sampled_from(ENDS), st.sampled_from([IN, OUT, IN | OUT])),
                                        min_size=1, max_size=4, unique_by=lambda t: t[0])),
    st.tuples(st.just("select"), st.lists(st.sampled_from(ENDS), max_size=4, unique=True),
              st.lists(st.sampled_from(ENDS), max_size=4, unique=True)),
)


@settings(deadline=None)
@given(st.lists(OPS, min_size=1, max_size=30))
def test_random_pipe_sequences_match_kernel(ops):
    script = [("pipe", "p0"), ("pipe", "p1"), ("epoll", "e"), ("epoll", "f")] + [
        tuple(op) for op in ops]
    check(script)


SOCK_ENDS = ["s0.a", "s0.b"]
SOCK_EVENTS = st.sampled_from([IN, OUT, IN | OUT, IN | ET, OUT | ET, IN | OUT | ET,
                               IN | select.EPOLLRDHUP | ET, IN | ONESHOT, 0])
SOCK_OPS = st.one_of(
    st.tuples(st.just("ctl"), st.just("e"), st.sampled_from(["add", "mod", "del"]),
              st.sampled_from(SOCK_ENDS), SOCK_EVENTS),
    st.tuples(st.just("write"), st.sampled_from(SOCK_ENDS), st.integers(1, 300)),
    st.tuples(st.just("read"), st.sampled_from(SOCK_ENDS), st.integers(1, 300)),
    st.tuples(st.just("wait"), st.just("e"), st.integers(1, 3)),
    st.tuples(st.just("close"), st.sampled_from(SOCK_ENDS)),
)


@settings(deadline=None)
@given(st.lists(SOCK_OPS, min_size=1, max_size=25))
def test_random_socket_sequences_match_kernel(ops):
    # Small messages only: far from the send-buffer limit, where the model's
    # byte accounting is an approximation of skb->truesize.
    check([("socketpair", "s0"), ("epoll", "e")] + [tuple(op) for op in ops])


NESTED_EVMASKS = st.sampled_from([IN, OUT, IN | OUT, IN | ET, IN | ONESHOT, IN | ET | ONESHOT,
                                  IN | EXCL, 0])
NESTED_OPS = st.one_of(
    st.tuples(st.just("ctl"), st.sampled_from(["e", "f"]), st.sampled_from(["add", "mod", "del"]),
              st.sampled_from(ENDS + ["e", "f"]), NESTED_EVMASKS),
    st.tuples(st.just("write"), st.sampled_from(["p0.w", "p1.w"]), SIZES),
    st.tuples(st.just("read"), st.sampled_from(["p0.r", "p1.r"]), SIZES),
    st.tuples(st.just("wait"), st.sampled_from(["e", "f"]), st.integers(1, 3)),
    st.tuples(st.just("poll"), st.lists(st.tuples(st.sampled_from(ENDS + ["e", "f"]),
                                                  st.sampled_from([IN, IN | OUT])),
                                        min_size=1, max_size=3, unique_by=lambda t: t[0])),
    st.tuples(st.just("close"), st.sampled_from(ENDS + ["f"])),
)


@settings(deadline=None)
@given(st.lists(NESTED_OPS, min_size=1, max_size=30))
def test_random_nested_sequences_match_kernel(ops):
    # Either instance may be put inside the other (the second link is a
    # loop); wake-ups, stale items and closes then run through both.
    check([("pipe", "p0"), ("pipe", "p1"), ("epoll", "e"), ("epoll", "f")]
          + [tuple(op) for op in ops])
