using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Trust;

/// <summary>What a path names, without following a final symbolic link.</summary>
internal enum FileKind
{
    Missing,
    Regular,
    Directory,
    Symlink,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Other,
}

/// <summary>lstat/fstat results that matter here: the kind, identity (device, inode) and size.</summary>
internal readonly record struct FileStat(FileKind Kind, ulong Device, ulong Inode, long Size)
{
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Missing => "does not exist",
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a folder",
        FileKind.Symlink => "a symbolic link",
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.CharDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Socket => "a socket",
        _ => "not a regular file",
    };
}

/// <summary>
/// File-type checks made before a file is opened for reading (a FIFO would block, /dev/zero never ends), and an
/// open that cannot follow a swapped-in link or hang on a FIFO. On Linux this uses statx/open from libc (fixed
/// struct layout on every architecture); elsewhere it falls back to the BCL's attributes.
/// </summary>
internal static unsafe class SafeFile
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;
    private const int ONonblock = 0x800;
    private const int OCloexec = 0x80000;
    private static int? s_linuxOk;

    [DllImport("libc.so.6", EntryPoint = "statx", SetLastError = true)]
    private static extern int StatxNative(int dirfd, byte* path, int flags, uint mask, byte* buffer);

    [DllImport("libc.so.6", EntryPoint = "open", SetLastError = true)]
    private static extern int OpenNative(byte* path, int flags, int mode);

    [DllImport("libc.so.6", EntryPoint = "close", SetLastError = true)]
    private static extern int CloseNative(int fd);

    [DllImport("libc.so.6", EntryPoint = "syscall", SetLastError = true)]
    private static extern long Openat2Native(long number, int dirfd, byte* path, ulong* how, nuint size);

    private const long SysOpenat2 = 437; // the same number on every Linux architecture
    private const int OPath = 0x200000;
    private const ulong ResolveNoMagicLinks = 0x02;
    private const ulong ResolveNoSymlinks = 0x04;
    private const ulong ResolveBeneath = 0x08;
    private static int s_openat2 = -1; // -1 unknown, 0 unavailable (old kernel, seccomp), 1 available

    private static bool Linux
    {
        get
        {
            if (s_linuxOk is { } ok)
            {
                return ok == 1;
            }
            bool result = false;
            if (OperatingSystem.IsLinux())
            {
                try
                {
                    byte* root = stackalloc byte[2] { (byte)'/', 0 };
                    byte* buffer = stackalloc byte[256];
                    result = StatxNative(AtFdCwd, root, AtSymlinkNoFollow, StatxBasicStats, buffer) == 0;
                }
                catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
                {
                    result = false;
                }
            }
            s_linuxOk = result ? 1 : 0;
            return result;
        }
    }

    private static int ONoFollow => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;

    private static byte[] CPath(string path)
    {
        if (path.Contains('\0'))
        {
            throw new PathRefusedException(path, "the name contains a NUL character");
        }
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(path) + 1];
        Encoding.UTF8.GetBytes(path, bytes);
        return bytes;
    }

    private static FileStat FromStatx(byte* b)
    {
        ushort mode = *(ushort*)(b + 28);
        ulong ino = *(ulong*)(b + 32);
        long size = *(long*)(b + 40);
        ulong dev = ((ulong)*(uint*)(b + 136) << 32) | *(uint*)(b + 140);
        FileKind kind = (mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0xA000 => FileKind.Symlink,
            0x1000 => FileKind.Fifo,
            0x2000 => FileKind.CharDevice,
            0x6000 => FileKind.BlockDevice,
            0xC000 => FileKind.Socket,
            _ => FileKind.Other,
        };
        return new FileStat(kind, dev, ino, size);
    }

    /// <summary>Describes what <paramref name="path"/> leads to, following links (Linux; elsewhere as <see cref="Lstat"/>).</summary>
    public static FileStat Stat(string path) => Linux ? StatLinux(path, 0) : Lstat(path);

    /// <summary>Describes <paramref name="path"/> without following a final symbolic link.</summary>
    public static FileStat Lstat(string path)
    {
        if (Linux)
        {
            return StatLinux(path, AtSymlinkNoFollow);
        }
        return LstatBcl(path);
    }

    private static FileStat StatLinux(string path, int flags)
    {
        {
            byte[] c = CPath(path);
            byte* buffer = stackalloc byte[256];
            fixed (byte* p = c)
            {
                if (StatxNative(AtFdCwd, p, flags, StatxBasicStats, buffer) != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno is 2 or 20) // ENOENT, ENOTDIR
                    {
                        return new FileStat(FileKind.Missing, 0, 0, 0);
                    }
                    throw new IOException($"cannot stat '{path}' (errno {errno})");
                }
            }
            return FromStatx(buffer);
        }
    }

    private static FileStat LstatBcl(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists && !Directory.Exists(path))
        {
            return info.LinkTarget is not null ? new FileStat(FileKind.Symlink, 0, 0, 0) : new FileStat(FileKind.Missing, 0, 0, 0);
        }
        FileAttributes a = File.GetAttributes(path);
        if ((a & FileAttributes.ReparsePoint) != 0)
        {
            return new FileStat(FileKind.Symlink, 0, 0, 0);
        }
        if ((a & FileAttributes.Directory) != 0)
        {
            return new FileStat(FileKind.Directory, 0, 0, 0);
        }
        if ((a & FileAttributes.Device) != 0)
        {
            return new FileStat(FileKind.CharDevice, 0, 0, 0);
        }
        return new FileStat(FileKind.Regular, 0, 0, info.Length);
    }

    /// <summary>
    /// Opens an existing regular file for reading: refused (before any read) when the final component is a symbolic
    /// link, a FIFO, a device, a socket or a folder, or when it is larger than <paramref name="maxBytes"/>.
    /// On Linux the open uses O_NOFOLLOW|O_NONBLOCK and the opened file's type and identity are checked again (fstat).
    /// </summary>
    public static SafeFileHandle OpenRegular(string path, long maxBytes, out long length)
    {
        FileStat before = Lstat(path);
        if (before.Kind != FileKind.Regular)
        {
            throw new PathRefusedException(path, before.Kind == FileKind.Missing ? "does not exist" : $"is {FileStat.Describe(before.Kind)}, not a regular file");
        }
        if (before.Size > maxBytes)
        {
            throw new PathRefusedException(path, $"is {before.Size} bytes, over the limit of {maxBytes}");
        }
        SafeFileHandle handle;
        if (Linux)
        {
            byte[] c = CPath(path);
            int fd;
            fixed (byte* p = c)
            {
                fd = OpenNative(p, OCloexec | ONonblock | ONoFollow, 0);
            }
            if (fd < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new PathRefusedException(path, errno == 40 ? "became a symbolic link while being opened" : $"cannot be opened (errno {errno})");
            }
            byte* buffer = stackalloc byte[256];
            byte empty = 0;
            if (StatxNative(fd, &empty, AtEmptyPath, StatxBasicStats, buffer) != 0)
            {
                CloseNative(fd);
                throw new PathRefusedException(path, "cannot be examined after opening");
            }
            FileStat after = FromStatx(buffer);
            if (after.Kind != FileKind.Regular || after.Device != before.Device || after.Inode != before.Inode)
            {
                CloseNative(fd);
                throw new PathRefusedException(path, "was replaced while being opened");
            }
            handle = new SafeFileHandle(fd, ownsHandle: true);
        }
        else
        {
            try
            {
                handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new PathRefusedException(path, $"cannot be opened: {e.Message}");
            }
        }
        try
        {
            length = RandomAccess.GetLength(handle);
        }
        catch (Exception e) when (e is IOException or NotSupportedException or UnauthorizedAccessException)
        {
            handle.Dispose();
            throw new PathRefusedException(path, $"cannot be read: {e.Message}");
        }
        if (length > maxBytes)
        {
            handle.Dispose();
            throw new PathRefusedException(path, $"is {length} bytes, over the limit of {maxBytes}");
        }
        return handle;
    }

    /// <summary>
    /// Opens <paramref name="relative"/> (a path without links, as <see cref="RealPath"/> leaves it) below
    /// <paramref name="root"/> race-free on Linux: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so a folder
    /// swapped for a link after the check fails instead of leading out. Elsewhere (or on kernels without openat2)
    /// it is <see cref="OpenRegular"/> on the joined path, whose final component cannot be a link.
    /// </summary>
    public static SafeFileHandle OpenBeneath(string root, string relative, long maxBytes, out long length)
    {
        string full = root.EndsWith('/') ? root + relative : root + "/" + relative;
        if (!Linux || Volatile.Read(ref s_openat2) == 0)
        {
            return OpenRegular(full, maxBytes, out length);
        }
        FileStat before = Lstat(full);
        if (before.Kind != FileKind.Regular)
        {
            throw new PathRefusedException(full, before.Kind == FileKind.Missing ? "does not exist" : $"is {FileStat.Describe(before.Kind)}, not a regular file");
        }
        byte[] rootC = CPath(root);
        byte[] relC = CPath(relative);
        int dirfd;
        fixed (byte* r = rootC)
        {
            dirfd = OpenNative(r, OPath | OCloexec, 0);
        }
        if (dirfd < 0)
        {
            throw new PathRefusedException(root, $"the model folder cannot be opened (errno {Marshal.GetLastPInvokeError()})");
        }
        int fd;
        try
        {
            ulong* how = stackalloc ulong[3];
            how[0] = (ulong)(OCloexec | ONonblock);
            how[1] = 0;
            how[2] = ResolveBeneath | ResolveNoSymlinks | ResolveNoMagicLinks;
            fixed (byte* p = relC)
            {
                fd = (int)Openat2Native(SysOpenat2, dirfd, p, how, 24);
            }
            if (fd < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is 38 or 1) // ENOSYS, EPERM (seccomp): fall back
                {
                    Volatile.Write(ref s_openat2, 0);
                    return OpenRegular(full, maxBytes, out length);
                }
                throw new PathRefusedException(full, errno switch
                {
                    40 => "a component became a symbolic link while being opened",
                    18 => "resolves outside the model folder",
                    _ => $"cannot be opened (errno {errno})",
                });
            }
            Volatile.Write(ref s_openat2, 1);
        }
        finally
        {
            CloseNative(dirfd);
        }
        byte* buffer = stackalloc byte[256];
        byte empty = 0;
        if (StatxNative(fd, &empty, AtEmptyPath, StatxBasicStats, buffer) != 0)
        {
            CloseNative(fd);
            throw new PathRefusedException(full, "cannot be examined after opening");
        }
        FileStat after = FromStatx(buffer);
        if (after.Kind != FileKind.Regular || after.Device != before.Device || after.Inode != before.Inode)
        {
            CloseNative(fd);
            throw new PathRefusedException(full, "was replaced while being opened");
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        length = RandomAccess.GetLength(handle);
        if (length > maxBytes)
        {
            handle.Dispose();
            throw new PathRefusedException(full, $"is {length} bytes, over the limit of {maxBytes}");
        }
        return handle;
    }

    /// <summary>Reads a whole (small) regular file through <see cref="OpenRegular"/>.</summary>
    public static byte[] ReadAllBytes(string path, long maxBytes) => ReadAll(OpenRegular(path, maxBytes, out _), path);

    /// <summary>Reads all of an opened file and closes it.</summary>
    public static byte[] ReadAll(SafeFileHandle opened, string path)
    {
        using SafeFileHandle handle = opened;
        long length = RandomAccess.GetLength(handle);
        byte[] bytes = new byte[length];
        int done = 0;
        while (done < bytes.Length)
        {
            int n = RandomAccess.Read(handle, bytes.AsSpan(done), done);
            if (n == 0)
            {
                throw new PathRefusedException(path, "changed size while being read");
            }
            done += n;
        }
        return bytes;
    }

    /// <summary>
    /// The canonical absolute path: every symbolic link resolved (at most 40), "." and ".." applied to the resolved
    /// path, as realpath(3) does. A missing component is refused.
    /// </summary>
    public static string RealPath(string path)
    {
        string full = Path.GetFullPath(path);
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            return full;
        }
        var pending = new Stack<string>();
        foreach (string part in full.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
        {
            pending.Push(part);
        }
        string current = "/";
        int hops = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }
            string next = current == "/" ? "/" + part : current + "/" + part;
            FileStat st = Lstat(next);
            if (st.Kind == FileKind.Missing)
            {
                throw new PathRefusedException(path, $"'{next}' does not exist");
            }
            if (st.Kind == FileKind.Symlink)
            {
                if (++hops > 40)
                {
                    throw new PathRefusedException(path, "too many levels of symbolic links");
                }
                string target = new FileInfo(next).LinkTarget ?? throw new PathRefusedException(path, $"cannot read the link '{next}'");
                if (target.StartsWith('/'))
                {
                    current = "/";
                }
                foreach (string t in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
                {
                    pending.Push(t);
                }
                continue;
            }
            if (pending.Count > 0 && st.Kind != FileKind.Directory)
            {
                throw new PathRefusedException(path, $"'{next}' is not a folder");
            }
            current = next;
        }
        return current;
    }
}
