namespace Mlx.Kernels.Tests;

/// <summary>Cache sizes read from a sysfs-shaped tree, and the GEMM k block derived from them.</summary>
public sealed class CacheInfoTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mlx-cache-" + Guid.NewGuid().ToString("N"));

    private void Index(int i, string level, string type, string size)
    {
        string dir = Path.Combine(_root, "index" + i);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "level"), level + "\n");
        File.WriteAllText(Path.Combine(dir, "type"), type + "\n");
        File.WriteAllText(Path.Combine(dir, "size"), size + "\n");
    }

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void ReadsTheLevelTwoCacheAndSkipsInstructionCaches()
    {
        Index(0, "1", "Data", "48K");
        Index(1, "1", "Instruction", "64K");
        Index(2, "2", "Unified", "2048K");
        Index(3, "3", "Unified", "105M");
        Index(4, "2", "Instruction", "64K");
        Assert.Equal(2L << 20, CacheInfo.ReadL2(_root));
    }

    [Fact]
    public void MissingOrUnreadableEntriesKeepTheDefaults()
    {
        Assert.Equal(CacheInfo.DefaultL2, CacheInfo.ReadL2(_root));
        Index(0, "2", "Unified", "garbage");
        Index(1, "3", "Unified", "4M");
        Assert.Equal(CacheInfo.DefaultL2, CacheInfo.ReadL2(_root));
    }

    [Theory]
    [InlineData("32K", 32L << 10)]
    [InlineData("1024K", 1L << 20)]
    [InlineData("32M", 32L << 20)]
    [InlineData("65536", 65536L)]
    [InlineData(" 8k ", 8L << 10)]
    [InlineData("-1K", 0L)]
    [InlineData("99999999999999999999K", 0L)]
    [InlineData("K", 0L)]
    [InlineData(null, 0L)]
    public void ParsesSysfsSizes(string? text, long expected) => Assert.Equal(expected, CacheInfo.ParseSize(text));

    [Fact]
    public void ThisMachinesSizesMatchSysfsWhereItExists()
    {
        const string index2 = "/sys/devices/system/cpu/cpu0/cache/index2";
        if (!File.Exists(Path.Combine(index2, "size")) || File.ReadAllText(Path.Combine(index2, "level")).Trim() != "2")
        {
            return; // not Linux, or a sysfs laid out otherwise: the defaults are covered above
        }
        Assert.Equal(CacheInfo.ParseSize(File.ReadAllText(Path.Combine(index2, "size"))), CacheInfo.L2);
    }

    [Theory]
    [InlineData(1L << 20, 64, 4, 1024)]   // 1 MB L2, float, 4 vectors of 16: 256 KB of B panel + 192 KB of A block
    [InlineData(512L << 10, 64, 4, 512)]  // half the L2, half the block
    [InlineData(1L << 20, 32, 8, 768)]    // double
    [InlineData(64L << 10, 64, 4, 256)]   // never below 256
    [InlineData(64L << 20, 64, 4, 2048)]  // never above 2048
    public void TheKBlockFillsHalfTheL2(long l2, int panelWidth, int elementBytes, int expected) =>
        Assert.Equal(expected, Gemm.KcFor(l2, panelWidth, elementBytes));
}
