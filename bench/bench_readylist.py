"""asv benchmarks for memcore.readylist: one wait with 10 ready descriptors
among many watched (epoll flat, poll and select linear), and the rate of
ready events delivered through a batched ``wait``."""
import numpy as np

from memcore.readylist import EPOLLIN, FD_SETSIZE, EventPoll, PollSet, SelectSet

N_READY = 10


def _ready_fds(n):
    return np.linspace(0, n - 1, N_READY).astype(np.int64)


def make_epoll(n):
    """An instance watching fds 0..n-1, level-triggered, 10 of them ready."""
    ep = EventPoll(nr_open=max(n, 1024))
    ep.ctl_add_batch(np.arange(n), EPOLLIN)
    ep.ready_batch(_ready_fds(n), EPOLLIN)
    return ep


def make_poll(n):
    """A pollfd array of fds 0..n-1, 10 of them readable."""
    ps = PollSet(nr_open=max(n, 1024))
    ps.open_batch(np.arange(n))
    ps.add_batch(np.arange(n), EPOLLIN)
    ps.ready_batch(_ready_fds(n), EPOLLIN)
    return ps


def make_select(n):
    """fd_sets naming fds 0..n-1 (n <= FD_SETSIZE), 10 of them readable."""
    ss = SelectSet()
    ss.open_batch(np.arange(n))
    ss.add_batch(np.arange(n))
    ss.ready_batch(_ready_fds(n), EPOLLIN)
    return ss


class WaitCost:
    """One wait, 10 ready among n watched."""

    params = ([100, 10_000, 1_000_000], ["epoll", "poll"])
    param_names = ["watched", "mechanism"]

    def setup(self, n, mech):
        if mech == "epoll":
            self.obj = make_epoll(n)
            self.out_f = np.empty(64, np.int32)
            self.out_e = np.empty(64, np.uint32)
            self.call = lambda: self.obj.wait_into(self.out_f, self.out_e)
        else:
            self.obj = make_poll(n)
            self.call = self.obj.poll_into

    def time_wait(self, n, mech):
        self.call()

    def track_ready_returned(self, n, mech):
        return self.call()

    def track_descriptors_examined(self, n, mech):
        self.obj.reset_stats()
        self.call()
        s = self.obj.stats
        return s["examined"] if mech == "epoll" else s["scanned"]

    def track_bytes_copied(self, n, mech):
        self.obj.reset_stats()
        self.call()
        return self.obj.stats["bytes_to_user"] + self.obj.stats["bytes_from_user"]


class SelectCost:
    """One select, 10 ready among n < FD_SETSIZE watched."""

    params = [100, 500, FD_SETSIZE - 1]
    param_names = ["watched"]

    def setup(self, n):
        self.ss = make_select(n)

    def time_select(self, n):
        self.ss.select_into()

    def track_bytes_copied(self, n):
        self.ss.reset_stats()
        self.ss.select_into()
        return self.ss.stats["bytes_to_user"] + self.ss.stats["bytes_from_user"]


class Throughput:
    """Ready events through a batched wait: 1 000 000 level-triggered items
    stay ready, each wait hands out (and re-queues) all of them."""

    params = [1_000_000]
    param_names = ["ready"]

    def setup(self, n):
        self.ep = EventPoll()
        self.ep.ctl_add_batch(np.arange(n), EPOLLIN)
        self.ep.ready_batch(np.arange(n), EPOLLIN)
        self.out_f = np.empty(n, np.int32)
        self.out_e = np.empty(n, np.uint32)

    def time_wait_into(self, n):
        self.ep.wait_into(self.out_f, self.out_e)

    def track_delivered_per_wait(self, n):
        return self.ep.wait_into(self.out_f, self.out_e)


class InstancePoll:
    """``->poll()`` of an epoll instance watched by another (nested epoll):
    `stale` items queued by unkeyed wake-ups but not ready sit ahead of one
    ready item; the first call drops them, later calls find the ready one
    at the head."""

    params = [0, 10, 1000]
    param_names = ["stale"]

    def setup(self, stale):
        self.ep = EventPoll(nr_open=max(stale + 1, 1024))
        self.ep.ctl_add_batch(np.arange(stale + 1), EPOLLIN)
        for fd in range(stale):
            self.ep.callback(fd)
        self.ep.ready(stale, EPOLLIN)

    def time_poll(self, stale):
        self.ep.poll()

    def track_ready_list_after_first_poll(self, stale):
        self.ep.poll()
        return len(self.ep.ready_list())
