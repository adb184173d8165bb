"""pyapi.io model behaviour that the kernel comparison does not pin down."""
import errno

import pytest

from memcore.readylist import (EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLLET, EPOLLEXCLUSIVE, EPOLLIN,
                               EPOLLOUT)
from pyapi.io import PIPE_CAPACITY, Process


def _errno(fn, *args):
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


def test_pipe_holds_sixteen_pages():
    p = Process()
    r, w = p.pipe()
    assert PIPE_CAPACITY == 65536
    assert p.write(w, b"a" * 100_000) == 65536
    assert _errno(p.write, w, b"b") == errno.EAGAIN
    assert p.read(r, 4096) == b"a" * 4096          # frees one page
    assert p.write(w, b"b" * 5000) == 4096
    assert _errno(p.read, w, 1) == errno.EBADF
    assert _errno(p.write, r, b"x") == errno.EBADF
    p.close(w)
    assert len(p.read(r, 1 << 20)) == 65536 and p.read(r, 10) == b""


def test_fd_table_and_errors():
    p = Process(nr_open=4)
    r, w = p.pipe()
    ep = p.epoll_create()
    assert (r, w, ep) == (0, 1, 2)
    assert _errno(p.pipe) == errno.EMFILE
    assert _errno(p.epoll_create, 0) == errno.EINVAL
    assert _errno(p.read, 3, 1) == errno.EBADF
    assert _errno(p.epoll_ctl, r, EPOLL_CTL_ADD, w, EPOLLIN) == errno.EINVAL
    assert _errno(p.epoll_ctl, ep, EPOLL_CTL_ADD, ep, EPOLLIN) == errno.EINVAL
    assert _errno(p.read, ep, 1) == errno.EINVAL
    p.close(r)
    assert p.pipe() == (0, 3)                        # lowest free descriptor


def test_select_limit_and_user_copies():
    p = Process(nr_open=2048)
    fds = [p.pipe() for _ in range(600)]
    r_hi = fds[-1][0]
    assert r_hi >= 1024
    with pytest.raises(ValueError, match="FD_SETSIZE"):
        p.select([r_hi], [], [])
    p.write(fds[0][1], b"x")
    before = dict(p.stats)
    assert p.select([fds[0][0], fds[1][0]], [], []) == ([fds[0][0]], [], [])
    nfds = fds[1][0] + 1
    assert p.stats["bytes_from_user"] - before["bytes_from_user"] == 3 * 8 * (-(-nfds // 64))
    before = dict(p.stats)
    assert p.poll([(fds[0][0], EPOLLIN), (fds[1][0], EPOLLIN), (5000, EPOLLIN)]) == [
        (fds[0][0], EPOLLIN), (5000, 0x20)]
    assert p.stats["bytes_from_user"] - before["bytes_from_user"] == 3 * 8
    assert p.stats["bytes_to_user"] - before["bytes_to_user"] == 3 * 2


def test_epoll_accounting_and_close_of_instance():
    p = Process()
    r, w = p.pipe()
    ep = p.epoll_create1()
    p.epoll_ctl(ep, EPOLL_CTL_ADD, r, EPOLLIN | EPOLLET)
    p.epoll_ctl(ep, EPOLL_CTL_ADD, w, EPOLLOUT)
    before = dict(p.stats)
    assert p.epoll_wait(ep, 8) == [(w, EPOLLOUT)]
    assert p.stats["bytes_to_user"] - before["bytes_to_user"] == 12
    src = p.files[r].source
    assert len(src.watchers) == 1
    p.close(ep)                                     # its items leave the wait queues
    assert src.watchers == [] and p.files[w].source.watchers == []
    ep2 = p.epoll_create1()
    with pytest.raises(ValueError, match="timeout"):
        p.epoll_wait(ep2, 1, timeout=5)


def test_nested_epoll_reports_the_inner_instance_and_refuses_loops():
    # An epoll fd inside another: readable while its ready list holds a
    # ready item (tests/test_io_kernel.py checks the details on the host).
    p = Process()
    outer, inner = p.epoll_create(), p.epoll_create()
    r, w = p.pipe()
    p.epoll_ctl(inner, EPOLL_CTL_ADD, r, EPOLLIN)
    p.epoll_ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN)
    assert p.epoll_wait(outer, 8) == []
    p.write(w, b"x")
    assert p.epoll_wait(outer, 8) == [(inner, EPOLLIN)]
    assert p.poll([(inner, EPOLLIN)]) == [(inner, EPOLLIN)]
    p.read(r, 1)
    # The inner item is still queued but no longer ready: the outer's look
    # at the inner instance takes it off the inner ready list.
    assert p.files[inner].ep.ready_list().tolist() == [r]
    assert p.epoll_wait(outer, 8) == []
    assert p.files[inner].ep.ready_list().tolist() == []
    assert _errno(p.epoll_ctl, inner, EPOLL_CTL_ADD, outer, EPOLLIN) == errno.ELOOP
    assert _errno(p.epoll_ctl, outer, EPOLL_CTL_MOD, inner, EPOLLIN | EPOLLEXCLUSIVE) == errno.EINVAL
    chain = [inner] + [p.epoll_create() for _ in range(4)]
    for a, b in zip(chain[:3], chain[1:4]):
        p.epoll_ctl(a, EPOLL_CTL_ADD, b, EPOLLIN)        # outer > inner > 3 more: 4 links
    assert _errno(p.epoll_ctl, chain[3], EPOLL_CTL_ADD, chain[4], EPOLLIN) == errno.ELOOP