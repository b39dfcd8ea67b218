using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Trust;

/// <summary>
/// A private, anonymous copy of a file made while hashing it: the bytes that were hashed are the bytes that are
/// later parsed, whatever happens to the original afterwards (no window between check and use). The copy lives
/// in a fresh 0700 folder and is unlinked right after creation on Unix (deleted on close on Windows), so no other
/// process can open it by name; it disappears when the handle is closed.
/// </summary>
internal static class PrivateCopy
{
    /// <summary>Copies the already opened <paramref name="source"/> into a private file; returns its handle and the SHA-256 of the bytes copied.</summary>
    public static SafeFileHandle Create(string displayPath, SafeFileHandle source, long length, out byte[] sha256)
    {
        string folder = Path.Combine(Path.GetTempPath(), "mlx-private-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)));
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        string file = Path.Combine(folder, "copy");
        SafeFileHandle copy;
        try
        {
            copy = File.OpenHandle(file, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
            if (!OperatingSystem.IsWindows())
            {
                File.Delete(file);
                Directory.Delete(folder);
            }
        }
        catch
        {
            TryCleanup(folder);
            throw;
        }
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[(int)Math.Clamp(length, 1, 1 << 20)];
            long done = 0;
            while (true)
            {
                int n = RandomAccess.Read(source, buffer, done);
                if (n == 0)
                {
                    break;
                }
                hash.AppendData(buffer, 0, n);
                RandomAccess.Write(copy, buffer.AsSpan(0, n), done);
                done += n;
                if (done > length)
                {
                    throw new PathRefusedException(displayPath, "grew while being read");
                }
            }
            if (done != length)
            {
                throw new PathRefusedException(displayPath, "shrank while being read");
            }
            sha256 = hash.GetHashAndReset();
            return copy;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
        finally
        {
            if (OperatingSystem.IsWindows())
            {
                TryCleanup(folder);
            }
        }
    }

    private static void TryCleanup(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Parses a hex SHA-256 (64 hex digits, either case).</summary>
    public static byte[] ParseSha256(string hex, string what)
    {
        ArgumentNullException.ThrowIfNull(hex);
        string h = hex.Trim();
        if (h.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
        {
            h = h[7..];
        }
        if (h.Length != 64 || !h.All(char.IsAsciiHexDigit))
        {
            throw new ArgumentException($"{what}: '{hex}' is not a SHA-256 digest (64 hex digits)");
        }
        return Convert.FromHexString(h);
    }
}
