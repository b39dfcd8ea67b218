using System.Globalization;

namespace Mlx.Kernels;

/// <summary>
/// The level-2 cache size of the CPU the process starts on, as Linux reports it in sysfs, so that blocked kernels
/// (GEMM's k blocks, the convolutions' row blocks) size their working sets from the cache they must fit in. Where
/// the OS says nothing (other systems, containers without sysfs), 1 MB, typical of current x64 server cores.
/// </summary>
public static class CacheInfo
{
    private const string SysfsRoot = "/sys/devices/system/cpu/cpu0/cache";

    /// <summary>Bytes of level-2 cache per core.</summary>
    public static long L2 { get; } = ReadL2(SysfsRoot);

    internal const long DefaultL2 = 1 << 20;

    /// <summary>Reads index*/{level,type,size} under <paramref name="root"/> for the level-2 data or unified cache.</summary>
    internal static long ReadL2(string root)
    {
        long l2 = DefaultL2;
        try
        {
            if (!Directory.Exists(root))
            {
                return l2;
            }
            foreach (var dir in Directory.EnumerateDirectories(root, "index*"))
            {
                string? level = ReadLine(Path.Combine(dir, "level")), type = ReadLine(Path.Combine(dir, "type"));
                long size = ParseSize(ReadLine(Path.Combine(dir, "size")));
                if (size > 0 && level == "2" && type != "Instruction")
                {
                    l2 = size;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unreadable sysfs: the default stands.
        }
        return l2;
    }

    /// <summary>sysfs sizes: "32K", "1024K", "32M", or plain bytes; 0 when unreadable.</summary>
    internal static long ParseSize(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return 0;
        }
        text = text.Trim();
        long unit = char.ToUpperInvariant(text[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        string digits = unit == 1 ? text : text[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n <= (1L << 40) / unit ? n * unit : 0;
    }

    private static string? ReadLine(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;
}
