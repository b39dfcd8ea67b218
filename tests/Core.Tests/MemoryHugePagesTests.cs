namespace Mlx.Core.Tests;

/// <summary>Large buffers ask Linux for transparent huge pages (where the kernel serves them on request).</summary>
[Collection("Memory")]
public sealed class MemoryHugePagesTests
{
    [Fact]
    public void LargeBuffersGetHugePages()
    {
        const string thp = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!OperatingSystem.IsLinux() || !File.Exists(thp) || File.ReadAllText(thp).Contains("[never]") || !HugePages.Supported)
        {
            return; // nothing to check where huge pages cannot be had
        }
        Allocator.ClearCache(); // fresh blocks, not cached ones already counted
        long before = AnonHugeKb();
        var a = Mx.Add(Mx.Zeros(new[] { 16 << 20 }), 1.0f); // 64 MB, written by the kernel
        Mx.Eval(a);
        long after = AnonHugeKb();
        Assert.Equal(1f, a.ToArray<float>()[(16 << 20) - 1]);
        Assert.True(after - before >= 32 << 10, $"AnonHugePages grew by {after - before} kB for a 64 MB buffer");
        GC.KeepAlive(a);
    }

    private static long AnonHugeKb() => File.ReadLines("/proc/self/smaps_rollup")
        .Where(l => l.StartsWith("AnonHugePages:")).Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1])).Sum();
}
