#!/usr/bin/python3
"""
lazyfs.py: a FUSE filesystem that can lose power, in the spirit of LazyFS (github.com/dsrhaslab/lazyfs).

    /usr/bin/python3 lazyfs.py BACKING_DIR MOUNTPOINT

It exposes BACKING_DIR at MOUNTPOINT. File DATA written through it stays in this process's memory, a per-file
page cache of dirty 4 KiB pages (and the file's logical size), and reaches the backing file only when that file is
fsync'd or fdatasync'd; close() does not persist it, as with a real page cache. Reads return the dirty pages merged
over the backing file, and getattr reports the logical size. Signals:

    SIGUSR1  power cut: every dirty page of every file is dropped, later requests fail with EIO, and the
             filesystem unmounts itself (lazily) and exits. Prints {"event": "cut", ...} with what it dropped.
    SIGTERM / SIGINT / SIGHUP
             clean shutdown: writes every dirty page back (as an OS does at shutdown), then unmounts and exits.
    SIGUSR2  prints {"event": "stats", ...} (dirty bytes per file) and goes on.

If the process that started it exits, it drops what is unsynced and unmounts, so no mount outlives a killed test.

It prints {"event": "ready"} once the kernel has mounted it. Every line on stdout is one JSON object.

Simplifications, stated so that nobody reads more into a result than it shows:
- Metadata operations (create, mkdir, unlink, rmdir, rename, link, symlink, chmod, chown, utimens, and truncate,
  which changes the size) reach the backing directory at once and are never lost, as if every directory and
  inode change were journaled synchronously. So this filesystem catches unsynced file DATA (a commit that was
  written but not fsync'd), not a missing fsync of a directory after creating or renaming a file.
- A cut loses ALL unsynced data, the worst case; a real disk may have written some of it back before the cut.
  Pages are not torn: a page fsync'd is whole.
- `*-shm` files (SQLite's WAL index: shared memory that SQLite rebuilds from the WAL after a crash, never data
  that must survive) pass straight through to the backing file, so SQLite's shared mmap of them needs no help.
- Shared writable mmap of other files works through the kernel's page cache (files are opened with keep_cache,
  safe because nothing else writes the backing directory while it is mounted); what the kernel writes back from a
  mapping arrives here as ordinary writes and stays dirty until an fsync.
- POSIX locks (fcntl) are left to the kernel (no `lock` operation is registered), which is right for one mount
  on one machine: SQLite's readers and writers in several processes lock each other as on a local disk.
"""
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import threading

import fusepy

PAGE = 4096
CUT_SIGNALS = {signal.SIGUSR1}
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
STATS_SIGNALS = {signal.SIGUSR2}


def say(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Cached:
    """The page cache of one inode: dirty pages and the logical size. Holds a writable fd for write-back."""

    def __init__(self, fd, size, name):
        self.fd = fd
        self.size = size
        self.pages = {}
        self.name = name

    def dirty_bytes(self):
        return sum(min(PAGE, max(0, self.size - p * PAGE)) for p in self.pages)


class LazyFS:
    use_ns = True

    def __init__(self, backing):
        self.backing = os.path.realpath(backing)
        self._mutex = threading.RLock()
        self.cache = {}  # backing inode -> Cached
        self.dead = False

    def __call__(self, op, *args):
        fn = getattr(self, op, None)
        if fn is None:
            raise fusepy.FuseOSError(errno.ENOSYS)
        with self._mutex:
            if self.dead and op not in ("destroy", "release", "releasedir"):
                raise fusepy.FuseOSError(errno.EIO)
            return fn(*args)

    def _p(self, path):
        return os.path.join(self.backing, path.lstrip("/"))

    @staticmethod
    def _volatile(path):
        return path.endswith("-shm")

    # --- the page cache ---

    def _entry(self, fd, path):
        ino = os.fstat(fd).st_ino
        e = self.cache.get(ino)
        if e is None:
            wfd = os.dup(fd)
            e = Cached(wfd, os.fstat(wfd).st_size, path)
            self.cache[ino] = e
        return e

    def _page(self, e, p):
        page = e.pages.get(p)
        if page is None:
            page = bytearray(os.pread(e.fd, PAGE, p * PAGE).ljust(PAGE, b"\0"))
            # Bytes past the logical size are zeros whatever the backing file holds there.
            keep = max(0, min(PAGE, e.size - p * PAGE))
            page[keep:] = bytes(PAGE - keep)
            e.pages[p] = page
        return page

    def _write_back(self, ino, datasync):
        e = self.cache.get(ino)
        if e is None:
            return
        for p in sorted(e.pages):
            n = min(PAGE, e.size - p * PAGE)
            if n > 0:
                os.pwrite(e.fd, bytes(e.pages[p][:n]), p * PAGE)
        if os.fstat(e.fd).st_size != e.size:
            os.ftruncate(e.fd, e.size)
        (os.fdatasync if datasync else os.fsync)(e.fd)
        e.pages.clear()
        del self.cache[ino]
        os.close(e.fd)

    def _forget_if_unlinked(self, ino):
        e = self.cache.get(ino)
        if e is not None and os.fstat(e.fd).st_nlink == 0:
            del self.cache[ino]
            os.close(e.fd)

    def _ino(self, path):
        try:
            return os.lstat(self._p(path)).st_ino
        except OSError:
            return None

    def cut(self):
        with self._mutex:
            self.dead = True
            dropped = {e.name: e.dirty_bytes() for e in self.cache.values() if e.pages}
            for e in self.cache.values():
                os.close(e.fd)
            self.cache.clear()
        return dropped

    def sync_all(self):
        with self._mutex:
            for ino in list(self.cache):
                self._write_back(ino, False)

    def stats(self):
        with self._mutex:
            return {e.name: e.dirty_bytes() for e in self.cache.values() if e.pages}

    # --- FUSE operations ---

    def init(self, path):
        say("ready")

    def destroy(self, path):
        pass

    def getattr(self, path, fh=None):
        st = os.fstat(fh.fh) if fh else os.lstat(self._p(path))
        attrs = {k: getattr(st, k) for k in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino", "st_blocks")}
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        e = self.cache.get(st.st_ino) if stat.S_ISREG(st.st_mode) else None
        if e is not None:
            attrs["st_size"] = e.size
            attrs["st_blocks"] = (e.size + 511) // 512
        return attrs

    def access(self, path, amode):
        if not os.access(self._p(path), amode):
            raise fusepy.FuseOSError(errno.EACCES)

    def statfs(self, path):
        sv = os.statvfs(self._p(path))
        return {k: getattr(sv, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._p(path))

    def readlink(self, path):
        return os.readlink(self._p(path))

    def mkdir(self, path, mode):
        os.mkdir(self._p(path), mode)

    def rmdir(self, path):
        os.rmdir(self._p(path))

    def mknod(self, path, mode, dev):
        os.mknod(self._p(path), mode, dev)

    def symlink(self, target, source):
        os.symlink(source, self._p(target))

    def link(self, target, source):
        os.link(self._p(source), self._p(target))

    def unlink(self, path):
        ino = self._ino(path)
        os.unlink(self._p(path))
        if ino is not None:
            self._forget_if_unlinked(ino)

    def rename(self, old, new):
        replaced = self._ino(new)
        os.rename(self._p(old), self._p(new))
        if replaced is not None:
            self._forget_if_unlinked(replaced)
        e = self.cache.get(self._ino(new))
        if e is not None:
            e.name = new

    def chmod(self, path, mode):
        os.chmod(self._p(path), mode)

    def chown(self, path, uid, gid):
        os.lchown(self._p(path), uid, gid)

    def utimens(self, path, times=None):
        if times:
            os.utime(self._p(path), ns=times, follow_symlinks=False)
        else:
            os.utime(self._p(path), follow_symlinks=False)

    def truncate(self, path, length, fh=None):
        if fh:
            os.ftruncate(fh.fh, length)
            ino = os.fstat(fh.fh).st_ino
        else:
            os.truncate(self._p(path), length)
            ino = self._ino(path)
        e = self.cache.get(ino)
        if e is None:
            return
        e.size = length
        for p in [p for p in e.pages if p * PAGE >= length]:
            del e.pages[p]
        last = e.pages.get(length // PAGE)
        if last is not None:
            cut_at = length % PAGE
            last[cut_at:] = bytes(PAGE - cut_at)

    def _open_backing(self, path, flags, mode=None):
        # Opened read-write where allowed, so that any handle can write dirty pages back; O_APPEND is left to the
        # kernel (it turns appends into writes at the size getattr reports), O_TRUNC is done as a truncate.
        strip = os.O_APPEND | os.O_TRUNC | os.O_ACCMODE
        base = flags & ~strip
        try:
            fd = os.open(self._p(path), base | os.O_RDWR, *([] if mode is None else [mode]))
        except PermissionError:
            fd = os.open(self._p(path), base | (flags & os.O_ACCMODE), *([] if mode is None else [mode]))
        return fd

    def open(self, path, fi):
        fd = self._open_backing(path, fi.flags)
        fi.fh = fd
        fi.keep_cache = 1
        if fi.flags & os.O_TRUNC:
            self.truncate(path, 0, fi)
        return 0

    def create(self, path, mode, fi):
        fd = self._open_backing(path, fi.flags | os.O_CREAT, mode)
        fi.fh = fd
        fi.keep_cache = 1
        if fi.flags & os.O_TRUNC:
            self.truncate(path, 0, fi)
        return 0

    def read(self, path, size, offset, fh):
        fd = fh.fh
        if self._volatile(path):
            return os.pread(fd, size, offset)
        e = self.cache.get(os.fstat(fd).st_ino)
        if e is None:
            return os.pread(fd, size, offset)
        end = min(offset + size, e.size)
        if end <= offset:
            return b""
        out = bytearray()
        pos = offset
        while pos < end:
            p, at = divmod(pos, PAGE)
            n = min(PAGE - at, end - pos)
            page = e.pages.get(p)
            if page is not None:
                out += page[at:at + n]
            else:
                out += os.pread(fd, n, pos).ljust(n, b"\0")
            pos += n
        return bytes(out)

    def write(self, path, data, offset, fh):
        fd = fh.fh
        if self._volatile(path):
            return os.pwrite(fd, data, offset)
        e = self._entry(fd, path)
        pos = 0
        while pos < len(data):
            p, at = divmod(offset + pos, PAGE)
            n = min(PAGE - at, len(data) - pos)
            page = self._page(e, p)
            page[at:at + n] = data[pos:pos + n]
            pos += n
        e.size = max(e.size, offset + len(data))
        return len(data)

    def flush(self, path, fh):
        return 0  # close() persists nothing: the data stays in the page cache

    def release(self, path, fh):
        os.close(fh.fh)

    def fsync(self, path, datasync, fh):
        if self._volatile(path):
            return
        self._write_back(os.fstat(fh.fh).st_ino, bool(datasync))

    def opendir(self, path):
        return 0

    def releasedir(self, path, fh):
        return 0

    def fsyncdir(self, path, datasync, fh):
        fd = os.open(self._p(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def unmount(mountpoint):
    for cmd in (["fusermount3", "-u", "-z", mountpoint], ["fusermount", "-u", "-z", mountpoint], ["umount", "-l", mountpoint]):
        try:
            if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10).returncode == 0:
                return True
        except (OSError, subprocess.TimeoutExpired):
            pass
    return False


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: lazyfs.py BACKING_DIR MOUNTPOINT\n")
        sys.exit(2)
    backing, mountpoint = sys.argv[1], os.path.realpath(sys.argv[2])
    fs = LazyFS(backing)
    handled = CUT_SIGNALS | STOP_SIGNALS | STATS_SIGNALS
    # Blocked here, so in every thread FUSE starts: the main thread takes them with sigtimedwait.
    signal.pthread_sigmask(signal.SIG_BLOCK, handled)
    failure = []

    def serve():
        try:
            fusepy.FUSE(fs, mountpoint, raw_fi=True, foreground=True, nothreads=False, big_writes=True,
                        fsname="lazyfs", subtype="lazyfs", default_permissions=True)
        except BaseException as e:  # noqa: BLE001 - reported, then the process exits
            failure.append(repr(e))

    server = threading.Thread(target=serve, daemon=True)
    parent = os.getppid()
    server.start()
    while server.is_alive():
        info = signal.sigtimedwait(handled, 0.2)
        if info is None:
            if os.getppid() != parent:
                # The harness died without cleaning up: never leave a mount behind.
                fs.cut()
                say("orphaned")
                break
            continue
        if info.si_signo in CUT_SIGNALS:
            dropped = fs.cut()
            biggest = sorted(dropped.items(), key=lambda kv: -kv[1])[:10]
            say("cut", droppedBytes=sum(dropped.values()), droppedFiles=len(dropped), largest=dict(biggest))
            break
        if info.si_signo in STATS_SIGNALS:
            say("stats", dirty=fs.stats())
            continue
        unmount(mountpoint)
        server.join(5)
        fs.sync_all()
        say("stopped")
        break
    if server.is_alive():
        unmount(mountpoint)
        server.join(5)
    if failure:
        say("failed", error=failure[0])
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
