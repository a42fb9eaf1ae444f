#!/usr/bin/env python3
"""A passthrough FUSE file system that adds a delay to every fsync, for benchmarks: the
kernel here has no dm-delay, and etcd (a Go binary) makes its system calls directly, so
neither a device-mapper target nor an LD_PRELOAD shim could slow its fsyncs. Both systems'
slow member keeps its data directory on this mount instead.

    python3 bench/fsdelay.py BACKING MOUNTPOINT DELAY_FILE

Every fsync and fdatasync first sleeps for the number of milliseconds in DELAY_FILE (read on
each call, so a benchmark can switch the delay on and off; missing or empty means 0), then
syncs the backing file. Needs fusepy (PyPI) and libfuse2 (Debian).
"""

import errno
import os
import sys
import time

from fuse import FUSE, FuseOSError, Operations


class Delayed(Operations):
    def __init__(self, root, delay_file):
        self.root = root
        self.delay_file = delay_file

    def _full(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _delay(self):
        try:
            with open(self.delay_file) as f:
                millis = int(f.read().strip() or 0)
        except (OSError, ValueError):
            millis = 0
        if millis > 0:
            time.sleep(millis / 1000)

    # Metadata.
    def access(self, path, mode):
        if not os.access(self._full(path), mode):
            raise FuseOSError(errno.EACCES)

    def chmod(self, path, mode):
        return os.chmod(self._full(path), mode)

    def chown(self, path, uid, gid):
        return os.chown(self._full(path), uid, gid)

    def getattr(self, path, fh=None):
        st = os.lstat(self._full(path))
        return {key: getattr(st, key) for key in (
            "st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size",
            "st_uid", "st_blocks")}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._full(path))

    def readlink(self, path):
        return os.readlink(self._full(path))

    def mknod(self, path, mode, dev):
        return os.mknod(self._full(path), mode, dev)

    def rmdir(self, path):
        return os.rmdir(self._full(path))

    def mkdir(self, path, mode):
        return os.mkdir(self._full(path), mode)

    def statfs(self, path):
        st = os.statvfs(self._full(path))
        return {key: getattr(st, key) for key in (
            "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files",
            "f_flag", "f_frsize", "f_namemax")}

    def unlink(self, path):
        return os.unlink(self._full(path))

    def symlink(self, name, target):
        return os.symlink(target, self._full(name))

    def rename(self, old, new):
        return os.rename(self._full(old), self._full(new))

    def link(self, target, name):
        return os.link(self._full(name), self._full(target))

    def utimens(self, path, times=None):
        return os.utime(self._full(path), times)

    # Files.
    def open(self, path, flags):
        return os.open(self._full(path), flags)

    def create(self, path, mode, fi=None):
        return os.open(self._full(path), os.O_WRONLY | os.O_CREAT, mode)

    def read(self, path, length, offset, fh):
        return os.pread(fh, length, offset)

    def write(self, path, buf, offset, fh):
        return os.pwrite(fh, buf, offset)

    def truncate(self, path, length, fh=None):
        with open(self._full(path), "r+") as f:
            f.truncate(length)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        return os.close(fh)

    def fsync(self, path, datasync, fh):
        self._delay()
        if datasync:
            return os.fdatasync(fh)
        return os.fsync(fh)

    def fsyncdir(self, path, datasync, fh):
        self._delay()
        return 0


def main():
    backing, mountpoint, delay_file = sys.argv[1:4]
    FUSE(Delayed(backing, delay_file), mountpoint, foreground=True, nothreads=False,
         allow_other=False)


if __name__ == "__main__":
    main()
