using Mlx.Kernels.Gpu;

namespace Mlx.Backends.Tests;

/// <summary>
/// The float32 product kernel for 256-thread groups (what a GPU runs) on a CPU accelerator with 256-thread groups:
/// edges in every dimension (sizes large enough to skip the one-output-per-thread kernel), k not a multiple of the 8-deep slices, transposed operands read in place, a batch with
/// a broadcast operand, and accumulation, against a double-precision reference.
/// </summary>
[Collection(nameof(SerialCollection))]
public sealed class Gemm128Tests
{
    [Theory]
    [InlineData(128, 128, 16, false, false, 1)]
    [InlineData(131, 70, 13, false, false, 1)]
    [InlineData(5, 300, 50, true, false, 1)]
    [InlineData(67, 129, 24, false, true, 1)]
    [InlineData(40, 70, 30, true, true, 2)]
    public void MatchesReference(int m, int n, int k, bool transA, bool transB, int batch)
    {
        using var device = GpuDevice.Open(cpuAccelerator: true, cpuGroupSize: 256);
        Assert.True(device.UseGemm128);
        var rnd = new Random(m * 7 + n * 3 + k);
        float[] av = Enumerable.Range(0, batch * m * k).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        float[] bv = Enumerable.Range(0, k * n).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray(); // shared by the batch
        float[] start = Enumerable.Range(0, batch * m * n).Select(_ => (float)rnd.NextDouble()).ToArray();
        foreach (bool accumulate in new[] { false, true })
        {
            var a = Upload(device, av);
            var b = Upload(device, bv);
            var o = Upload(device, start);
            // a stored (batch, m, k) row-major or (batch, k, m) when transposed; b (k, n) or (n, k).
            var ga = transA ? new GemmOperand(a, 0, 1, m, new long[] { (long)m * k }) : new GemmOperand(a, 0, k, 1, new long[] { (long)m * k });
            var gb = transB ? new GemmOperand(b, 0, 1, k, new long[] { 0 }) : new GemmOperand(b, 0, n, 1, new long[] { 0 });
            device.Matmul(GpuType.Float32, new[] { batch }, m, n, k, ga, gb, o, accumulate: accumulate);
            var got = new float[start.Length];
            unsafe
            {
                fixed (float* p = got)
                {
                    device.Download(o, (nint)p, got.Length * 4L);
                }
            }
            for (int bi = 0; bi < batch; bi++)
            {
                for (int i = 0; i < m; i++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        double want = accumulate ? start[(bi * m + i) * n + j] : 0;
                        for (int p = 0; p < k; p++)
                        {
                            double x = transA ? av[bi * m * k + p * m + i] : av[bi * m * k + i * k + p];
                            double y = transB ? bv[j * k + p] : bv[p * n + j];
                            want += x * y;
                        }
                        float g = got[(bi * m + i) * n + j];
                        Assert.True(Math.Abs(g - want) <= 1e-5 * (1 + Math.Abs(want)), $"({bi},{i},{j}) accumulate={accumulate}: {g} vs {want}");
                    }
                }
            }
        }
    }

    private static unsafe GpuMemory Upload(GpuDevice device, float[] values)
    {
        var memory = device.Allocate(Math.Max(1, values.Length) * 4L);
        fixed (float* p = values)
        {
            device.Upload(memory, (nint)p, values.Length * 4L);
        }
        return memory;
    }
}
