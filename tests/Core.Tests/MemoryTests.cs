namespace Mlx.Core.Tests;

[CollectionDefinition("Memory", DisableParallelization = true)]
public sealed class MemoryCollection
{
}

[Collection("Memory")]
public class MemoryTests
{
    private const int N = 1 << 18; // 1 MB of float32

    private static MxArray Step(MxArray x, MxArray y)
    {
        // 20 ops: elementwise arithmetic, views (reshape, transpose, slice, broadcast), a cast and reductions.
        var a = x * 0.5f + y;                                  // 2
        var b = Mx.Maximum(a, y) - Mx.Minimum(a, x);           // 3
        var m = Mx.Reshape(b, new[] { 512, 512 });             // 1 (view)
        var t = Mx.Transpose(m);                               // 1 (view)
        var r = Mx.Sum(t, 1, keepDims: true);                  // 1
        var c = t - r;                                         // 2 (broadcast + subtract)
        var d = c[Idx.Slice(null, null, -1), ..];              // 1 (view)
        var e = Mx.Abs(d) * 2.0f;                              // 2
        var f = Mx.AsType(e, DType.Int32);                     // 1
        var g = Mx.Sum(f, 0);                                  // 1
        var h = Mx.Max(e, 0) + Mx.AsType(g, DType.Float32);    // 3
        return Mx.Sum(Mx.Sqrt(h));                             // 2
    }

    [Fact]
    public void LoopOfEvaluatedGraphsKeepsActiveMemoryBounded()
    {
        var x = Mx.Array(H.RandF(N, 3));
        var y = Mx.Array(H.RandF(N, 4));
        Mx.Eval(x, y);
        long baseline = Mx.Memory.ActiveBytes;
        long maxSeen = 0;
        double first = Step(x, y).Item<float>();
        for (int i = 0; i < 10_000; i++)
        {
            var s = Step(x, y);
            Mx.Eval(s);
            if (i % 1000 == 0)
            {
                Assert.Equal(first, s.Item<float>(), 3);
            }
            maxSeen = Math.Max(maxSeen, Mx.Memory.ActiveBytes - baseline);
        }
        Assert.True(maxSeen < 64L << 20, $"active memory grew by {maxSeen:N0} bytes over the loop");
        GC.KeepAlive(x);
        GC.KeepAlive(y);
    }

    [Fact]
    public void MemoryLimitMakesEvalThrowAndTheProcessRecovers()
    {
        var x = Mx.Array(H.RandF(N, 5));
        Mx.Eval(x);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        MxArray big;
        try
        {
            Mx.Memory.SetMemoryLimit(Mx.Memory.ActiveBytes + (N * 4L) / 2);
            big = Mx.Exp(x) + Mx.Sin(x);
            var ex = Assert.Throws<MemoryLimitExceededException>(() => Mx.Eval(big));
            Assert.True(ex.Limit > 0 && ex.Requested > 0);
            Assert.Contains("memory limit", ex.Message);
        }
        finally
        {
            Mx.Memory.SetMemoryLimit(0);
        }
        Assert.Equal(long.MaxValue, Mx.Memory.MemoryLimit);
        // Works again afterwards, and the graph that failed can be rebuilt and evaluated.
        var again = Mx.Sum(Mx.Exp(x) + Mx.Sin(x));
        var xs = x.ToArray<float>();
        double expected = xs.Sum(v => Math.Exp(v) + Math.Sin(v));
        Assert.Equal(expected, again.Item<float>(), expected * 1e-5);
        // The array whose evaluation failed evaluates now, to the right values.
        Assert.Equal(expected, Mx.Sum(big).Item<float>(), expected * 1e-5);
    }

    [Fact]
    public void SmallAllocationsUnderTheLimitStillWork()
    {
        try
        {
            Mx.Memory.SetMemoryLimit(Mx.Memory.ActiveBytes + (64L << 20));
            var a = Mx.Arange(0, 100) * 2;
            Assert.Equal(9900, Mx.Sum(a).Item<int>());
        }
        finally
        {
            Mx.Memory.SetMemoryLimit(0);
        }
    }

    [Fact]
    public void PeakAndResetPeak()
    {
        Mx.Memory.ResetPeak();
        long before = Mx.Memory.PeakBytes;
        var a = Mx.Zeros(new[] { N }) + 1.0f;
        Mx.Eval(a);
        Assert.True(Mx.Memory.PeakBytes >= before);
        Assert.True(Mx.Memory.PeakBytes >= Mx.Memory.ActiveBytes);
        GC.KeepAlive(a);
    }

    [Fact]
    public void CacheKeepsFreedBuffersUntilCleared()
    {
        try
        {
            for (int i = 0; i < 4; i++)
            {
                Mx.Eval(Mx.Ones(new[] { N }) * 2.0f);
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Assert.True(Mx.Memory.CacheBytes > 0);
            Mx.Memory.ClearCache();
            Assert.Equal(0, Mx.Memory.CacheBytes);
            Mx.Memory.SetCacheLimit(0);
            Mx.Eval(Mx.Ones(new[] { N }) * 2.0f);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Assert.Equal(0, Mx.Memory.CacheBytes);
        }
        finally
        {
            Mx.Memory.SetCacheLimit(8L << 30);
        }
    }

    [Fact]
    public void EnsureAvailableChecksTheLimit()
    {
        try
        {
            Mx.Memory.SetMemoryLimit(Mx.Memory.ActiveBytes + 1024);
            Assert.Throws<MemoryLimitExceededException>(() => Mx.Memory.EnsureAvailable(1L << 30));
            Mx.Memory.EnsureAvailable(16);
        }
        finally
        {
            Mx.Memory.SetMemoryLimit(0);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => Mx.Memory.SetMemoryLimit(-1));
    }
}
