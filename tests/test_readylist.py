"""memcore.readylist: epoll semantics, poll/select scans, and agreement with
the pure-Python reference model (tests/reference/readylist.py)."""
import errno
import pickle
import select as pyselect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule)

from memcore import readylist as rl
from memcore.readylist import (EPOLLET, EPOLLEXCLUSIVE, EPOLLIN, EPOLLONESHOT, EPOLLOUT,
                               EventPoll, PollSet, SelectSet, Source)
from tests.reference.readylist import RefEventPoll, RefSource, ref_poll, ref_select


def _errno_of(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def test_constants_match_linux():
    for name in ("EPOLLIN", "EPOLLPRI", "EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLRDNORM",
                 "EPOLLRDBAND", "EPOLLWRNORM", "EPOLLWRBAND", "EPOLLMSG", "EPOLLRDHUP",
                 "EPOLLET", "EPOLLONESHOT", "EPOLLEXCLUSIVE"):
        assert getattr(rl, name) == getattr(pyselect, name), name
    assert rl.EPOLLWAKEUP == 1 << 29
    assert (rl.EPOLL_CTL_ADD, rl.EPOLL_CTL_DEL, rl.EPOLL_CTL_MOD) == (1, 2, 3)
    assert (rl.POLLIN, rl.POLLNVAL) == (pyselect.POLLIN, pyselect.POLLNVAL)
    assert rl.FD_SETSIZE == 1024


def test_ctl_errors_are_linux_errnos():
    ep = EventPoll(nr_open=100)
    ep.ctl_add(3, EPOLLIN)
    assert _errno_of(ep.ctl_add, 3, EPOLLOUT) == errno.EEXIST
    assert _errno_of(ep.ctl_mod, 4, EPOLLIN) == errno.ENOENT
    assert _errno_of(ep.ctl_del, 4) == errno.ENOENT
    assert _errno_of(ep.ctl_mod, 3, EPOLLIN | EPOLLEXCLUSIVE) == errno.EINVAL
    # EXCLUSIVE with MOD is EINVAL even for an unknown fd (checked first).
    assert _errno_of(ep.ctl_mod, 9, EPOLLIN | EPOLLEXCLUSIVE) == errno.EINVAL
    assert _errno_of(ep.ctl_add, 5, EPOLLIN, EPOLLEXCLUSIVE | EPOLLONESHOT) == errno.EINVAL
    ep.ctl_add(6, EPOLLIN, EPOLLEXCLUSIVE)
    assert _errno_of(ep.ctl_mod, 6, EPOLLOUT) == errno.EINVAL
    assert _errno_of(ep.ctl_add, 100, EPOLLIN) == errno.EBADF
    assert _errno_of(ep.ctl_add, -1, EPOLLIN) == errno.EBADF
    assert _errno_of(ep.ctl, 7, 3, EPOLLIN) == errno.EINVAL
    assert _errno_of(ep.wait, 0) == errno.EINVAL
    assert _errno_of(ep.ready, 50, EPOLLIN) == errno.ENOENT
    assert sorted(ep.interest()[0].tolist()) == [3, 6]      # state unharmed
    assert ep.events_of(3) == EPOLLIN | rl.EPOLLERR | rl.EPOLLHUP


def test_ctl_dispatch_by_op():
    ep = EventPoll()
    ep.ctl(rl.EPOLL_CTL_ADD, 1, EPOLLIN | EPOLLET)
    assert ep.events_of(1) & EPOLLET
    ep.ctl(rl.EPOLL_CTL_MOD, 1, EPOLLOUT)
    assert not ep.events_of(1) & EPOLLET
    ep.ctl(rl.EPOLL_CTL_DEL, 1)
    assert 1 not in ep and len(ep) == 0


def test_level_edge_oneshot():
    ep = EventPoll()
    ep.ctl_add(1, EPOLLIN)
    ep.ctl_add(2, EPOLLIN, EPOLLET)
    ep.ctl_add(3, EPOLLIN, EPOLLONESHOT)
    for fd in (3, 2, 1):
        ep.ready(fd, EPOLLIN)
    assert ep.wait(10)[0].tolist() == [3, 2, 1]
    assert ep.wait(10)[0].tolist() == [1]           # only level-triggered stays
    ep.ready(2, EPOLLIN)                            # new edge: queued again
    ep.ready(3, EPOLLIN)                            # one-shot disabled: ignored
    assert ep.wait(10)[0].tolist() == [1, 2]
    ep.ctl_mod(3, EPOLLIN)                          # re-armed, still ready: queued
    assert ep.wait(10)[0].tolist() == [1, 3]
    ep.unready(1, EPOLLIN)
    assert ep.wait(10)[0].tolist() == [3]           # cleared: dropped at poll time
    assert ep.stats["dropped"] == 1


def test_ready_twice_queues_once_and_key_filters():
    ep = EventPoll()
    ep.ctl_add(4, EPOLLIN, EPOLLET)
    ep.ready(4, EPOLLIN)
    ep.ready(4, EPOLLIN)
    assert ep.ready_list().tolist() == [4]
    ep.wait(5)
    ep.ready(4, EPOLLOUT)                   # keyed wake-up it did not ask for
    assert ep.ready_list().tolist() == []
    ep.ready(4, 0)                          # unkeyed wake-up: accepted, IN still set
    assert ep.wait(5)[1].tolist() == [EPOLLIN]


def test_poll_of_the_instance_drops_stale_items_ahead_of_a_ready_one():
    # __ep_eventpoll_poll: the answer for an epoll fd watched by poll, select
    # or another instance.
    ep = EventPoll()
    for fd in (1, 2, 3):
        ep.ctl_add(fd, EPOLLIN)
    ep.callback(1)                          # unkeyed wake-up, 1 not readable
    ep.ready(2, EPOLLIN)
    ep.callback(3)
    assert ep.ready_list().tolist() == [1, 2, 3]
    assert ep.poll() == EPOLLIN | rl.EPOLLRDNORM
    assert ep.ready_list().tolist() == [2, 3]      # 1 dropped, the rest kept
    ep.unready(2, EPOLLIN)
    assert ep.poll() == 0 and ep.ready_list().tolist() == []
    ref = RefEventPoll()
    for fd in (1, 2):
        ref.ctl_add(fd, EPOLLIN)
    ref.callback(1, 0)
    ref.ready(2, EPOLLIN)
    assert ref.poll() == EPOLLIN | rl.EPOLLRDNORM and ref.rdllist == [2]
    ep.scan_begin()
    with pytest.raises(RuntimeError, match="transfer"):
        ep.poll()
    ep.scan_end()


def test_source_wake_calls_after_each_callback_in_queue_order():
    src = Source()
    eps = [EventPoll() for _ in range(3)]
    eps[0].ctl_add(1, EPOLLIN, source=src)
    eps[1].ctl_add(2, EPOLLIN, EPOLLEXCLUSIVE, source=src)
    eps[2].ctl_add(3, EPOLLIN, EPOLLEXCLUSIVE, source=src)
    for ep in eps[1:]:
        ep.add_waiter()
    seen = []
    # Each call sees its own entry already queued and the next not yet.
    after = lambda ep, fd, key: seen.append((fd, key, [len(e.ready_list()) for e in eps]))
    assert src.wake(EPOLLIN, after=after) == 2     # the first exclusive wake-up stops it
    assert seen == [(1, EPOLLIN, [1, 0, 0]), (2, EPOLLIN, [1, 1, 0])]


def test_maxevents_leaves_rest_at_head_in_order():
    ep = EventPoll()
    for fd in range(6):
        ep.ctl_add(fd, EPOLLIN)
        ep.ready(fd, EPOLLIN)
    assert ep.wait(4)[0].tolist() == [0, 1, 2, 3]
    # Not handed out (4, 5) go first, then the re-queued level-triggered ones.
    assert ep.ready_list().tolist() == [4, 5, 0, 1, 2, 3]
    assert ep.stats["examined"] == 4


def test_overflow_list_keeps_wakeups_during_transfer():
    ep = EventPoll()
    for fd in range(1, 7):
        ep.ctl_add(fd, EPOLLIN, EPOLLET)
    ep.ctl_add(9, EPOLLIN)                  # level-triggered
    for fd in (1, 2, 3, 9):
        ep.ready(fd, EPOLLIN)
    ep.scan_begin()
    assert ep.in_scan
    assert ep.scan_send(2)[0].tolist() == [1, 2]
    for fd in (5, 1, 4, 3, 5):              # 3 is still on the txlist; 5 twice
        ep.ready(fd, EPOLLIN)
    assert ep.overflow_list().tolist() == [3, 4, 1, 5]      # LIFO, once each
    assert ep.ready_list().tolist() == []
    with pytest.raises(RuntimeError):
        ep.ctl_add(8, EPOLLIN)
    with pytest.raises(RuntimeError):
        ep.wait(1)
    ep.scan_end()
    assert not ep.in_scan
    # txlist leftovers [3, 9], then ovflist in arrival order minus linked 3.
    assert ep.ready_list().tolist() == [3, 9, 5, 1, 4]
    assert ep.wait(10)[0].tolist() == [3, 9, 5, 1, 4]
    assert ep.stats["ovf_queued"] == 4


def test_exclusive_wakes_one_instance_with_waiters():
    src = Source()
    eps = [EventPoll() for _ in range(3)]
    for ep in eps:
        ep.ctl_add(5, EPOLLIN, EPOLLEXCLUSIVE, source=src)
        ep.add_waiter()
    assert src.ready(EPOLLIN) == 1
    assert [ep.waiters for ep in eps] == [0, 1, 1]
    assert [ep.ready_list().tolist() for ep in eps] == [[5], [], []]
    assert src.wake(EPOLLIN) == 2           # first has no waiter left: on to the next
    assert [ep.waiters for ep in eps] == [0, 0, 1]
    # Non-exclusive watchers are always woken, and sit at the head of the queue.
    other = EventPoll()
    other.ctl_add(7, EPOLLIN, source=src)
    assert src.watchers[0][0] is other
    other.ctl_del(7)
    assert all(w[0] is not other for w in src.watchers)


def test_exclusive_without_waiters_reaches_everyone():
    src = Source(EPOLLIN)
    eps = [EventPoll() for _ in range(3)]
    for ep in eps:
        ep.ctl_add(5, EPOLLIN, EPOLLEXCLUSIVE, source=src)
    for ep in eps:
        ep.wait(4)          # level-triggered ready at insert; re-queued
    src.unready(EPOLLIN)
    for ep in eps:
        assert ep.wait(4)[0].size == 0
    assert src.ready(EPOLLIN) == 3
    assert all(ep.ready_list().tolist() == [5] for ep in eps)


def test_batch_matches_single_item_calls():
    rng = np.random.default_rng(7)
    fds = rng.permutation(5000)[:3000].astype(np.int64)
    ev = rng.choice([EPOLLIN, EPOLLIN | EPOLLET, EPOLLIN | EPOLLONESHOT], size=fds.size)
    a, b = EventPoll(), EventPoll()
    a.ctl_add_batch(fds, ev)
    for fd, e in zip(fds.tolist(), ev.tolist()):
        b.ctl_add(fd, e)
    hits = rng.choice(fds, size=4000)
    a.ready_batch(hits, EPOLLIN)
    for fd in hits.tolist():
        b.ready(fd, EPOLLIN)
    out_f = np.empty(700, np.int32)
    out_e = np.empty(700, np.uint32)
    for _ in range(6):
        n = a.wait_into(out_f, out_e)
        f2, e2 = b.wait(700)
        assert out_f[:n].tolist() == f2.tolist() and out_e[:n].tolist() == e2.tolist()
    assert a.stats == b.stats
    gone = rng.choice(fds, size=500)
    a.unready_batch(gone, EPOLLIN)
    for fd in gone.tolist():
        b.unready(fd, EPOLLIN)
    assert a.wait(5000)[0].tolist() == b.wait(5000)[0].tolist()
    assert a.arrays["revents"][fds].tolist() == b.arrays["revents"][fds].tolist()


def test_batch_validates_before_changing_anything():
    ep = EventPoll(nr_open=1000)
    ep.ctl_add(3, EPOLLIN)
    with pytest.raises(OSError) as exc:
        ep.ctl_add_batch([1, 2, 3], EPOLLIN)
    assert exc.value.errno == errno.EEXIST and "fds[2]" in str(exc.value)
    with pytest.raises(OSError) as exc:
        ep.ctl_add_batch([1, 2, 2], EPOLLIN)
    assert exc.value.errno == errno.EEXIST
    with pytest.raises(OSError) as exc:
        ep.ctl_add_batch([1, 5000], EPOLLIN)
    assert exc.value.errno == errno.EBADF
    with pytest.raises(OSError) as exc:
        ep.ready_batch([3, 4], EPOLLIN)
    assert exc.value.errno == errno.ENOENT and "fds[1]" in str(exc.value)
    assert len(ep) == 1 and ep.ready_list().size == 0
    with pytest.raises(ValueError):
        ep.wait_into(np.empty(3, np.int32), np.empty(2, np.uint32))


def test_wait_cost_is_proportional_to_returned():
    ep = EventPoll()
    ep.ctl_add_batch(np.arange(100_000), EPOLLIN)
    ep.ready_batch(np.arange(0, 100_000, 10_000), EPOLLIN)
    ep.reset_stats()
    for _ in range(5):
        assert ep.wait(64)[0].size == 10
    assert ep.stats["examined"] == 50


def test_stats_count_user_copies():
    ep = EventPoll()
    ep.ctl_add(1, EPOLLIN)
    ep.ctl_add(2, EPOLLIN)
    ep.ctl_del(2)
    ep.ready(1, EPOLLIN)
    ep.wait(8)
    s = ep.stats
    assert s["bytes_from_user"] == 2 * rl.EPOLL_EVENT_SIZE      # DEL copies nothing
    assert s["bytes_to_user"] == 1 * rl.EPOLL_EVENT_SIZE
    assert s["ctl"] == 3 and s["delivered"] == 1


def test_pickle_round_trip_and_growth():
    ep = EventPoll(capacity=2)
    for fd in (0, 70, 1000):
        ep.ctl_add(fd, EPOLLIN, EPOLLET)
    ep.ready(1000, EPOLLIN)
    ep.ready(0, EPOLLIN)
    ep2 = pickle.loads(pickle.dumps(ep))
    assert ep.arrays["state"].shape[0] >= 1001
    assert ep2.ready_list().tolist() == [1000, 0]
    assert ep2.wait(5)[0].tolist() == ep.wait(5)[0].tolist()
    assert ep2.stats == ep.stats


def test_poll_scans_everything_and_counts_bytes():
    ps = PollSet()
    ps.open_batch(np.arange(50), 0)
    ps.add_batch(np.arange(50), EPOLLIN | EPOLLOUT)
    ps.add(-1, EPOLLIN)                 # skipped
    ps.add(70, EPOLLIN)                 # not open: POLLNVAL
    ps.ready(10, EPOLLIN)
    ps.ready(20, EPOLLOUT | rl.EPOLLHUP)
    ps.ready(30, rl.EPOLLPRI)           # not asked for
    fds, rev = ps.poll()
    assert fds.tolist() == [10, 20, 70]
    assert rev.tolist() == [EPOLLIN, EPOLLOUT | rl.EPOLLHUP, rl.POLLNVAL]
    s = ps.stats
    assert s["scanned"] == 52
    assert s["bytes_from_user"] == 52 * 8 and s["bytes_to_user"] == 52 * 2
    masks = {fd: int(ps.masks[fd]) for fd in range(50)}
    pf = [(fd, EPOLLIN | EPOLLOUT) for fd in range(50)] + [(-1, EPOLLIN), (70, EPOLLIN)]
    assert ps.revents.tolist() == ref_poll(pf, masks)


def test_select_limits_and_counts():
    ss = SelectSet()
    with pytest.raises(ValueError, match="FD_SETSIZE"):
        ss.add(1024)
    ss.open_batch(np.arange(200))
    ss.add_batch(range(0, 200, 3), read=True, write=True)
    ss.ready(3, EPOLLIN)
    ss.ready(6, EPOLLOUT)
    ss.ready(9, rl.EPOLLERR)            # error: readable and writable
    r, w, x = ss.select()
    assert (r.tolist(), w.tolist(), x.tolist()) == ([3, 9], [6, 9], [])
    assert ss.nfds == 199
    assert ss.stats["bytes_from_user"] == 3 * 8 * 4 == ss.stats["bytes_to_user"]
    ss.close(198)
    assert _errno_of(ss.select) == errno.EBADF
    assert rl.fds_bytes(1) == 8 and rl.fds_bytes(64) == 8 and rl.fds_bytes(65) == 16


def test_poll_and_select_sets_pickle():
    ps = PollSet()
    ps.open_batch(np.arange(40))
    ps.add_batch(np.arange(40), EPOLLIN)
    ps.ready(33, EPOLLIN)
    ps.poll_into()
    ps2 = pickle.loads(pickle.dumps(ps))
    assert ps2.stats == ps.stats and ps2.revents.tolist() == ps.revents.tolist()
    assert ps2.poll()[0].tolist() == [33]
    ss = SelectSet()
    ss.open_batch(np.arange(100))
    ss.add_batch([5, 70, 99], read=True, write=True)
    ss.ready(70, EPOLLOUT)
    ss2 = pickle.loads(pickle.dumps(ss))
    assert ss2.nfds == 100 and [a.tolist() for a in ss2.select()] == [[], [70], []]


def test_select_agrees_with_reference():
    rng = np.random.default_rng(3)
    for _ in range(20):
        ss = SelectSet()
        masks = {}
        for fd in range(300):
            m = int(rng.choice([0, EPOLLIN, EPOLLOUT, rl.EPOLLPRI, rl.EPOLLHUP, rl.EPOLLERR]))
            ss.open(fd, m)
            masks[fd] = m
        rs = rng.choice(300, 40).tolist()
        ws = rng.choice(300, 40).tolist()
        xs = rng.choice(300, 10).tolist()
        for fd in rs:
            ss.add(fd, read=True)
        for fd in ws:
            ss.add(fd, read=False, write=True)
        for fd in xs:
            ss.add(fd, read=False, exceptional=True)
        got = tuple(a.tolist() for a in ss.select())
        assert got == ref_select(rs, ws, xs, masks)


# ---------------------------------------------------------------------------
# Differential state machine against the reference model.

FDS = st.integers(0, 3)
EPS = st.sampled_from([0, 0, 0, 1])           # mostly one instance: deeper histories
EVENTS = st.sampled_from([EPOLLIN, EPOLLIN, EPOLLOUT, EPOLLIN | EPOLLOUT, rl.EPOLLPRI, 0])
FLAGS = st.sampled_from([0, 0, EPOLLET, EPOLLET, EPOLLONESHOT, EPOLLET | EPOLLONESHOT,
                         EPOLLEXCLUSIVE, EPOLLEXCLUSIVE | EPOLLET,
                         EPOLLEXCLUSIVE | EPOLLONESHOT])
KEYS = st.sampled_from([EPOLLIN, EPOLLIN, EPOLLOUT, EPOLLIN | rl.EPOLLRDNORM, rl.EPOLLHUP, 0])
SOURCES = st.sampled_from([None, 0, 0, 1])


class ReadyListMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.eps = [EventPoll(capacity=2), EventPoll(capacity=2)]
        self.refs = [RefEventPoll(), RefEventPoll()]
        self.srcs = [Source(), Source()]
        self.ref_srcs = [RefSource(), RefSource()]

    def _both(self, name, i, *args, src=None):
        kw = {}
        if src is not None:
            kw = {"source": self.srcs[src]}
        try:
            got = getattr(self.eps[i], name)(*args, **kw)
            err = None
        except OSError as e:
            got, err = None, e.errno
        if src is not None:
            kw = {"source": self.ref_srcs[src]}
        try:
            want = getattr(self.refs[i], name)(*args, **kw)
            rerr = None
        except OSError as e:
            want, rerr = None, e.errno
        assert err == rerr, (name, args, err, rerr)
        return got, want

    def _idle(self):
        return not any(ep.in_scan for ep in self.eps)

    @initialize(flags=st.lists(FLAGS, min_size=4, max_size=4),
                hot=st.lists(st.booleans(), min_size=4, max_size=4))
    def populate(self, flags, hot):
        # Start from a populated instance so short runs reach deep states.
        for fd in range(4):
            self._both("ctl_add", 0, fd, EPOLLIN, flags[fd])
            if hot[fd]:
                self._both("ready", 0, fd, EPOLLIN)

    @precondition(lambda self: self._idle())
    @rule(i=EPS, first=st.integers(1, 4), wakeups=st.lists(st.tuples(FDS, KEYS), max_size=5),
          second=st.integers(0, 4))
    def transfer(self, i, first, wakeups, second):
        # One epoll_wait with wake-ups arriving in the middle of the transfer.
        ep, ref = self.eps[i], self.refs[i]
        ep.scan_begin()
        ref.scan_begin()
        for n in (first, second):
            if n:
                fds, evs = ep.scan_send(n)
                assert list(zip(fds.tolist(), evs.tolist())) == ref.scan_send(n)
            for fd, key in wakeups:
                self._both("ready", i, fd, key)
            self.same_state()
            wakeups = []
        ep.scan_end()
        ref.scan_end()

    @precondition(lambda self: self._idle())
    @rule(i=EPS, fd=FDS, ev=EVENTS, flags=FLAGS, src=SOURCES)
    def add(self, i, fd, ev, flags, src):
        self._both("ctl_add", i, fd, ev, flags, src=src)

    @precondition(lambda self: self._idle())
    @rule(i=EPS, fd=FDS, ev=EVENTS, flags=FLAGS)
    def mod(self, i, fd, ev, flags):
        self._both("ctl_mod", i, fd, ev, flags)

    @precondition(lambda self: self._idle())
    @rule(i=EPS, fd=FDS)
    def delete(self, i, fd):
        self._both("ctl_del", i, fd)
        self.ref_srcs[0].detach(self.refs[i], fd)
        self.ref_srcs[1].detach(self.refs[i], fd)

    @rule(i=EPS, fd=FDS, ev=KEYS)
    def ready(self, i, fd, ev):
        got, want = self._both("ready", i, fd, ev)
        assert got == want

    @rule(i=EPS, fd=FDS, ev=EVENTS)
    def unready(self, i, fd, ev):
        self._both("unready", i, fd, ev)

    @rule(s=st.integers(0, 1), ev=KEYS)
    def source_ready(self, s, ev):
        assert self.srcs[s].ready(ev) == self.ref_srcs[s].ready(ev)

    @rule(s=st.integers(0, 1), ev=EVENTS)
    def source_unready(self, s, ev):
        self.srcs[s].unready(ev)
        self.ref_srcs[s].set_mask(self.ref_srcs[s].mask & ~ev)

    @rule(i=EPS, n=st.integers(1, 2))
    def waiter(self, i, n):
        self.eps[i].add_waiter(n)
        self.refs[i].waiters += n

    @precondition(lambda self: self._idle())
    @rule(i=EPS, maxevents=st.integers(1, 7))
    def wait(self, i, maxevents):
        fds, evs = self.eps[i].wait(maxevents)
        assert list(zip(fds.tolist(), evs.tolist())) == self.refs[i].wait(maxevents)

    @precondition(lambda self: self._idle())
    @rule(i=EPS)
    def poll(self, i):
        got, want = self._both("poll", i)
        assert got == want

    @precondition(lambda self: self._idle())
    @rule(i=EPS)
    def scan_begin(self, i):
        self.eps[i].scan_begin()
        self.refs[i].scan_begin()

    @precondition(lambda self: not self._idle())
    @rule(maxevents=st.integers(1, 3))
    def scan_send(self, maxevents):
        i = 0 if self.eps[0].in_scan else 1
        fds, evs = self.eps[i].scan_send(maxevents)
        assert list(zip(fds.tolist(), evs.tolist())) == self.refs[i].scan_send(maxevents)

    @precondition(lambda self: not self._idle())
    @rule()
    def scan_end(self):
        i = 0 if self.eps[0].in_scan else 1
        self.eps[i].scan_end()
        self.refs[i].scan_end()

    @invariant()
    def same_state(self):
        for ep, ref in zip(self.eps, self.refs):
            assert ep.ready_list().tolist() == ref.rdllist
            if ref.ovflist is not None:
                assert ep.overflow_list().tolist() == ref.ovflist
                assert ep.transfer_list().tolist() == ref.txlist
            assert ep.waiters == ref.waiters
            assert ep.stats["wakeups"] == ref.wakeups
            assert ep.stats["delivered"] == ref.delivered
            fds, evs = ep.interest()
            assert dict(zip(fds.tolist(), evs.tolist())) == ref.events
            assert {fd: ep.mask_of(fd) for fd in fds.tolist()} == ref.mask
        for src, ref in zip(self.srcs, self.ref_srcs):
            assert [(id(e), f, x) for e, f, x in src.watchers] == [
                (id(self.eps[self.refs.index(e)]), f, x) for e, f, x in ref.queue]


TestReadyListMachine = ReadyListMachine.TestCase
TestReadyListMachine.settings = settings(stateful_step_count=80, deadline=None)


@given(watchers=st.lists(st.tuples(st.sampled_from([EPOLLIN, EPOLLOUT, EPOLLIN | EPOLLOUT]),
                                   st.sampled_from([0, EPOLLET, EPOLLEXCLUSIVE,
                                                    EPOLLEXCLUSIVE | EPOLLET]),
                                   st.integers(0, 2)),
                         min_size=1, max_size=5),
       ops=st.lists(st.tuples(st.sampled_from(["ready", "wake", "waiter", "wait"]),
                              st.sampled_from([EPOLLIN, EPOLLOUT, EPOLLIN | EPOLLOUT, 0]),
                              st.integers(0, 4)), max_size=15))
def test_exclusive_wakeups_agree_with_reference(watchers, ops):
    # Several instances on one source, some exclusive, some with tasks asleep.
    src, rsrc = Source(), RefSource()
    eps, refs = [], []
    for k, (events, flags, waiters) in enumerate(watchers):
        ep, ref = EventPoll(), RefEventPoll()
        ep.ctl_add(k, events, flags, source=src)
        ref.ctl_add(k, events, flags, source=rsrc)
        ep.add_waiter(waiters)
        ref.waiters += waiters
        eps.append(ep)
        refs.append(ref)
    for op, key, arg in ops:
        if op == "ready":
            assert src.ready(key) == rsrc.ready(key)
        elif op == "wake":
            nr = arg % 3
            assert src.wake(key, nr) == rsrc.wake(key, nr)
        elif op == "waiter":
            eps[arg % len(eps)].add_waiter()
            refs[arg % len(refs)].waiters += 1
        else:
            k = arg % len(eps)
            fds, evs = eps[k].wait(4)
            assert list(zip(fds.tolist(), evs.tolist())) == refs[k].wait(4)
        for ep, ref in zip(eps, refs):
            assert ep.ready_list().tolist() == ref.rdllist
            assert ep.waiters == ref.waiters
