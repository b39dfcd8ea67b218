using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using Mlx.Formats.Trust;

namespace Mlx.Formats;

public sealed partial class ModelFile
{
    /// <summary>
    /// Opens a model file only if the SHA-256 of its bytes is <paramref name="expectedSha256"/> (hex). The file is
    /// read once into a private anonymous copy while being hashed, and the copy is what is parsed: the digest
    /// covers exactly the bytes parsed. The path must name a regular file (a FIFO or device is refused before it
    /// is opened; a final symbolic link is refused).
    /// </summary>
    /// <exception cref="DigestMismatchException">The digest differs; nothing was parsed.</exception>
    /// <exception cref="PathRefusedException">Not a regular file, or over <see cref="LoadLimits.MaxFileBytes"/>.</exception>
    /// <exception cref="ModelFormatException">The (matching) file is malformed.</exception>
    public static ModelFile OpenPinned(string path, string expectedSha256, LoadLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        limits ??= LoadLimits.Default;
        byte[] expected = PrivateCopy.ParseSha256(expectedSha256, path);
        SafeFileHandle copy = OpenPrivateCopy(path, limits.MaxFileBytes, out long length, out byte[] actual);
        return OpenCopyIfMatches(path, copy, length, expected, actual, limits);
    }

    /// <summary>Pins an already opened source (e.g. from a <see cref="ModelRoot"/>): copies it privately while hashing, then parses the copy.</summary>
    internal static ModelFile OpenPinned(string path, SafeFileHandle source, long sourceLength, string expectedSha256, LoadLimits limits)
    {
        using (source)
        {
            byte[] expected = PrivateCopy.ParseSha256(expectedSha256, path);
            SafeFileHandle copy = PrivateCopy.Create(path, source, sourceLength, out byte[] actual);
            return OpenCopyIfMatches(path, copy, sourceLength, expected, actual, limits);
        }
    }

    private static ModelFile OpenCopyIfMatches(string path, SafeFileHandle copy, long length, byte[] expected, byte[] actual, LoadLimits limits)
    {
        if (!CryptographicOperations.FixedTimeEquals(expected, actual))
        {
            copy.Dispose();
            throw new DigestMismatchException(path, Convert.ToHexStringLower(expected), Convert.ToHexStringLower(actual));
        }
        return OpenOwnedHandle(path, copy, length, limits);
    }

    /// <summary>Opens <paramref name="path"/> as a regular file and copies it privately while hashing (see <see cref="OpenPinned"/>).</summary>
    internal static SafeFileHandle OpenPrivateCopy(string path, long maxBytes, out long length, out byte[] sha256)
    {
        using SafeFileHandle source = SafeFile.OpenRegular(path, maxBytes, out length);
        return PrivateCopy.Create(path, source, length, out sha256);
    }

    /// <summary>Validates a file from an already opened handle, which the result owns (disposed on failure).</summary>
    internal static ModelFile OpenOwnedHandle(string path, SafeFileHandle handle, long length, LoadLimits limits)
    {
        try
        {
            return OpenHandle(path, handle, length, ModelFileFormats.FromExtension(System.IO.Path.GetExtension(path)), limits);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}
