using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Trust;

/// <summary>
/// A folder the application trusts, through which names given by users or by files (a shard name in
/// <c>model.safetensors.index.json</c>) are resolved: relative names only, no <c>..</c>, no absolute paths,
/// symbolic links resolved and required to stay inside the root, regular files only (a FIFO, a device, a folder
/// or a socket is refused before it is opened), and a size limit.
/// </summary>
public sealed class ModelRoot
{
    /// <summary>Opens a root. The folder's own path may contain links (it is canonicalised once, here).</summary>
    /// <exception cref="PathRefusedException">The folder does not exist or is not a folder.</exception>
    public ModelRoot(string folder, long maxFileBytes = 1L << 40)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string real = SafeFile.RealPath(folder);
        if (SafeFile.Lstat(real).Kind != FileKind.Directory)
        {
            throw new PathRefusedException(folder, "is not a folder");
        }
        FullPath = real;
        MaxFileBytes = maxFileBytes;
    }

    /// <summary>The canonical absolute path of the root.</summary>
    public string FullPath { get; }

    /// <summary>Largest file that may be opened through this root.</summary>
    public long MaxFileBytes { get; }

    /// <summary>
    /// Checks a name without touching the file system: not empty, relative, components separated by '/', none
    /// empty, "." or "..", no backslash, drive letter, colon or NUL. <paramref name="allowSubfolders"/> false also
    /// refuses any separator (a shard name must be a bare file name).
    /// </summary>
    /// <exception cref="PathRefusedException">The name is refused, with the reason.</exception>
    public static void ValidateName(string name, bool allowSubfolders = true)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            throw new PathRefusedException(name, "an empty name");
        }
        if (name.Contains('\0'))
        {
            throw new PathRefusedException(name, "the name contains a NUL character");
        }
        if (name.StartsWith('/') || name.StartsWith('\\') || Path.IsPathRooted(name) || (name.Length >= 2 && name[1] == ':'))
        {
            throw new PathRefusedException(name, "an absolute path; only names relative to the model folder are accepted");
        }
        if (name.Contains('\\'))
        {
            throw new PathRefusedException(name, "a backslash in a name (only '/' separates folders)");
        }
        string[] parts = name.Split('/');
        if (parts.Contains(".."))
        {
            throw new PathRefusedException(name, "'..' would leave the model folder");
        }
        if (!allowSubfolders && parts.Length > 1)
        {
            throw new PathRefusedException(name, "a path separator in a name that must be a plain file name");
        }
        if (parts.Any(p => p.Length == 0 || p == "."))
        {
            throw new PathRefusedException(name, "an empty or '.' path component");
        }
    }

    /// <summary>
    /// Resolves a relative name to the canonical path of a regular file inside the root (links followed and
    /// checked), without opening it.
    /// </summary>
    /// <exception cref="PathRefusedException">The name, a link, the file type or the size is refused.</exception>
    public string Resolve(string name, bool allowSubfolders = true)
    {
        ValidateName(name, allowSubfolders);
        string joined = FullPath == "/" ? "/" + name : FullPath + "/" + name;
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            joined = Path.Combine(FullPath, name.Replace('/', Path.DirectorySeparatorChar));
        }
        string real;
        try
        {
            real = SafeFile.RealPath(joined);
        }
        catch (PathRefusedException e)
        {
            throw new PathRefusedException(name, e.Reason);
        }
        if (!IsInside(real))
        {
            throw new PathRefusedException(name, $"resolves to '{real}', outside the model folder '{FullPath}' (a symbolic link leads out)");
        }
        FileStat st = SafeFile.Lstat(real);
        if (st.Kind != FileKind.Regular)
        {
            throw new PathRefusedException(name, $"is {FileStat.Describe(st.Kind)}, not a regular file");
        }
        if (st.Size > MaxFileBytes)
        {
            throw new PathRefusedException(name, $"is {st.Size} bytes, over the limit of {MaxFileBytes}");
        }
        return real;
    }

    /// <summary>Opens a canonical path inside the root, race-free where the platform allows (see <see cref="SafeFile.OpenBeneath"/>).</summary>
    internal SafeFileHandle OpenResolved(string real, long maxBytes, out long length)
    {
        string prefix = FullPath.EndsWith('/') ? FullPath : FullPath + "/";
        if ((OperatingSystem.IsLinux()) && real.StartsWith(prefix, StringComparison.Ordinal))
        {
            return SafeFile.OpenBeneath(FullPath, real[prefix.Length..], maxBytes, out length);
        }
        return SafeFile.OpenRegular(real, maxBytes, out length);
    }

    /// <summary>Whether a canonical path is the root or below it.</summary>
    public bool IsInside(string canonicalPath)
    {
        StringComparison cmp = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        string root = FullPath.EndsWith(Path.DirectorySeparatorChar) ? FullPath : FullPath + Path.DirectorySeparatorChar;
        return string.Equals(canonicalPath, FullPath, cmp) || canonicalPath.StartsWith(root, cmp);
    }

    /// <summary>Opens a regular file inside the root for reading (see <see cref="Resolve"/>).</summary>
    public SafeFileHandle OpenRead(string name, out long length, bool allowSubfolders = true)
    {
        string real = Resolve(name, allowSubfolders);
        try
        {
            return OpenResolved(real, MaxFileBytes, out length);
        }
        catch (PathRefusedException e)
        {
            throw new PathRefusedException(name, e.Reason);
        }
    }

    /// <summary>Reads a whole file inside the root, at most <paramref name="maxBytes"/> bytes.</summary>
    public byte[] ReadAllBytes(string name, long maxBytes = 64L << 20, bool allowSubfolders = true)
    {
        string real = Resolve(name, allowSubfolders);
        try
        {
            return SafeFile.ReadAll(OpenResolved(real, Math.Min(maxBytes, MaxFileBytes), out _), real);
        }
        catch (PathRefusedException e)
        {
            throw new PathRefusedException(name, e.Reason);
        }
    }

    /// <summary>Reads a whole regular file (not a FIFO, device or folder; a final symbolic link is refused) of at most <paramref name="maxBytes"/>.</summary>
    /// <exception cref="PathRefusedException">Refused, with the reason.</exception>
    public static byte[] ReadRegularFile(string path, long maxBytes = 1L << 20) => SafeFile.ReadAllBytes(path, maxBytes);

    /// <summary>Opens and validates a model file inside the root.</summary>
    /// <exception cref="PathRefusedException">The name or the file is refused.</exception>
    /// <exception cref="ModelFormatException">The file is malformed.</exception>
    public ModelFile OpenModelFile(string name, LoadLimits? limits = null, bool allowSubfolders = true)
    {
        SafeFileHandle handle = OpenRead(name, out long length, allowSubfolders);
        return ModelFile.OpenOwnedHandle(Path.Combine(FullPath, name), handle, length, limits ?? LoadLimits.Default);
    }

    /// <summary>Opens a model file inside the root only if its SHA-256 is <paramref name="expectedSha256"/>; see <see cref="ModelFile.OpenPinned"/>.</summary>
    public ModelFile OpenModelFilePinned(string name, string expectedSha256, LoadLimits? limits = null, bool allowSubfolders = true)
    {
        limits ??= LoadLimits.Default;
        SafeFileHandle handle = OpenRead(name, out long length, allowSubfolders);
        return ModelFile.OpenPinned(Path.Combine(FullPath, name), handle, length, expectedSha256, limits);
    }
}
