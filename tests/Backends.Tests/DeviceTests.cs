namespace Mlx.Backends.Tests;

/// <summary>MLX's unified-memory semantics on the GPU backend: arrays belong to no device; streams decide where ops run.</summary>
public sealed class DeviceTests
{
    private static readonly Device Gpu = Backends.Gpu;

    [Fact]
    public void DeviceInfoNamesTheBackend()
    {
        var info = Mx.DeviceInfo(Gpu);
        string expected = Environment.GetEnvironmentVariable("MLX_GPU_TESTS") == "gpu" ? "cuda" : "ilgpu-cpu";
        Assert.Equal(expected, info.Backend);
        Assert.False(string.IsNullOrEmpty(info.Name));
        Assert.True(info.MemoryBytes > 0);
        Assert.Equal("cpu", Mx.DeviceInfo(Device.Cpu).Backend);
    }

    [Fact]
    public void StreamsOnBothDevicesShareArraysInOrder()
    {
        var gpuStream = Mx.NewStream(Gpu);
        var cpuStream = Mx.NewStream(Device.Cpu);
        var a = Mx.Array(H.Rand(257, 3), new[] { 257 }, DType.Float64);
        var b = Mx.Multiply(a, a, gpuStream);          // GPU
        var c = Mx.Subtract(b, a, cpuStream);          // CPU, needs the GPU result
        var d = Mx.Maximum(c, b, gpuStream);           // GPU, needs both
        var e = Mx.Where(Mx.Greater(d, 0.5, cpuStream), d, -d, gpuStream);
        var av = a.ToArray<double>();
        var want = av.Select(v => { double bb = v * v, cc = bb - v, dd = Math.Max(cc, bb); return dd > 0.5 ? dd : -dd; }).ToArray();
        H.Close(want, e, 1e-15, 0, "mixed streams");
    }

    [Fact]
    public void DefaultDeviceAndPlacementScopes()
    {
        var x = Mx.Array(new[] { 1f, 2f, 3f });
        // An op's stream covers the sub-ops it builds: Softmax is composed on the GPU.
        var s = Mx.Softmax(x, axis: 0, stream: Gpu);
        var e = x.ToArray<float>().Select(v => Math.Exp(v)).ToArray();
        H.Close(e.Select(v => v / e.Sum()).ToArray(), s, 1e-6, 1e-7, "softmax");
        Assert.Equal(Device.Cpu, Mx.DefaultDevice);
    }

}

/// <summary>Tests of process-wide state (the memory limit, transfer counters): they run alone, no other test working meanwhile.</summary>
[Collection(nameof(SerialCollection))]
public sealed class GpuSerialTests
{
    private static readonly Device Gpu = Backends.Gpu;

    [Fact]
    public void KernelsCompileOncePerProcess()
    {
        var x = Mx.Array(H.RandF(100, 5));
        Mx.Eval(Mx.Tanh(x, Gpu));
        int compiled = GpuRuntime.Device.CompiledKernels;
        for (int i = 0; i < 3; i++)
        {
            Mx.Eval(Mx.Tanh(Mx.Add(x, i), Gpu));
        }
        Mx.Eval(Mx.Tanh(Mx.Array(H.RandF(7, 6)), Gpu));
        Assert.InRange(GpuRuntime.Device.CompiledKernels, compiled, compiled + 1);
    }

    [Fact]
    public void DataMovesLazilyAndOnce()
    {
        var x = Mx.Array(H.RandF(4099, 2));
        Mx.Eval(x);
        long up0 = GpuRuntime.Uploads, down0 = GpuRuntime.Downloads;
        var y = Mx.Exp(x, Gpu);
        var z = Mx.Multiply(y, x, Gpu);
        Mx.Eval(y, z);
        // x went up once (used twice); nothing came down yet.
        Assert.Equal(up0 + 1, GpuRuntime.Uploads);
        Assert.Equal(down0, GpuRuntime.Downloads);
        var host = z.ToArray<float>();
        var again = z.ToArray<float>();
        Assert.Equal(down0 + 1, GpuRuntime.Downloads);
        Assert.Equal(host, again);
        // A CPU op reading the GPU result uses the host copy already made; a GPU op reading it uploads only the literal 1.
        var w = Mx.Add(z, 1, Device.Cpu);
        var v = Mx.Add(z, 1, Gpu);
        Mx.Eval(w, v);
        Assert.Equal(up0 + 2, GpuRuntime.Uploads);
        Assert.Equal(down0 + 1, GpuRuntime.Downloads);
        var xs = x.ToArray<float>();
        H.Close(xs.Select(a => (double)(MathF.Exp(a) * a + 1)).ToArray(), v, 1e-5, 1e-6, "v");
        Assert.Equal(w.ToArray<float>(), v.ToArray<float>());
    }

    [Fact]
    public void GpuMemoryIsCountedAndLimited()
    {
        var x = Mx.Zeros(new[] { 1 << 20 });
        Mx.Eval(x);
        long before = Mx.Memory.DeviceActiveBytes;
        var y = Mx.Add(x, 1, Gpu);
        Mx.Eval(y);
        Assert.True(Mx.Memory.DeviceActiveBytes >= before + 2 * (4L << 20), "the input's device copy and the output are counted");
        try
        {
            // Garbage awaiting finalization would be freed by the limit check itself: free it first.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            // Freed device blocks sit in the GPU's cache, counted in CacheBytes until cleared.
            var scratch = Mx.Multiply(y, 3, Gpu);
            Mx.Eval(scratch);
            long cachedBefore = Mx.Memory.CacheBytes;
            scratch = null;
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Assert.True(Mx.Memory.CacheBytes > cachedBefore, "the freed device block is cached");
            Mx.Memory.ClearCache();
            Assert.Equal(0, GpuRuntime.CachedBytes);
            Mx.Memory.SetMemoryLimit(Mx.Memory.ActiveBytes + (1L << 20));
            var big = Mx.Multiply(y, 2, Gpu);
            Assert.Throws<MemoryLimitExceededException>(() => Mx.Eval(big));
        }
        finally
        {
            Mx.Memory.SetMemoryLimit(0);
        }
        // Both stay alive through the limit check (its own collection must not free them and make room).
        GC.KeepAlive(x);
        GC.KeepAlive(y);
    }
}

[CollectionDefinition(nameof(SerialCollection), DisableParallelization = true)]
public sealed class SerialCollection
{
}
