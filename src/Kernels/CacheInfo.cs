using System.Globalization;

namespace Mlx.Kernels;

/// <summary>
/// The data cache sizes of the CPU the process starts on, as Linux reports them in sysfs, so that blocked kernels
/// (GEMM's k blocks, the convolutions' row blocks) size their working sets from the cache they must fit in. Where
/// the OS says nothing (other systems, containers without sysfs), sizes typical of current x64 server cores.
/// </summary>
public static class CacheInfo
{
    private const string SysfsRoot = "/sys/devices/system/cpu/cpu0/cache";

    private static readonly (long L1, long L2, long L3) s_sizes = Read(SysfsRoot);

    /// <summary>Bytes of level-1 data cache per core.</summary>
    public static long L1Data => s_sizes.L1;

    /// <summary>Bytes of level-2 cache per core.</summary>
    public static long L2 => s_sizes.L2;

    /// <summary>Bytes of the last-level cache the core sees.</summary>
    public static long L3 => s_sizes.L3;

    internal const long DefaultL1 = 32 << 10, DefaultL2 = 1 << 20, DefaultL3 = 32 << 20;

    /// <summary>Reads index*/{level,type,size} under <paramref name="root"/>; a size not found keeps its default.</summary>
    internal static (long L1, long L2, long L3) Read(string root)
    {
        long l1 = DefaultL1, l2 = DefaultL2, l3 = DefaultL3;
        try
        {
            if (!Directory.Exists(root))
            {
                return (l1, l2, l3);
            }
            foreach (var dir in Directory.EnumerateDirectories(root, "index*"))
            {
                string? level = ReadLine(Path.Combine(dir, "level")), type = ReadLine(Path.Combine(dir, "type"));
                long size = ParseSize(ReadLine(Path.Combine(dir, "size")));
                if (size <= 0 || type == "Instruction")
                {
                    continue;
                }
                switch (level)
                {
                    case "1": l1 = size; break;
                    case "2": l2 = size; break;
                    case "3": l3 = size; break;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unreadable sysfs: the defaults stand.
        }
        return (l1, l2, l3);
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
