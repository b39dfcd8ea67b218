using Mlx.Kernels;
using Mlx.Kernels.Gpu;

namespace Mlx.Backends.Tests;

/// <summary>
/// The group kernels with the group size a GPU runs them at, on a CPU accelerator with 256-thread groups (the shared
/// suites run 2-thread groups): row sums and maxima (rows at multiples of four, read four at a time, and rows off that
/// alignment) and softmax rows (the one-pass kernel at its full group size), against double-precision references.
/// </summary>
[Collection(nameof(SerialCollection))]
public sealed class FullGroupTests
{
    [Theory]
    [InlineData(1000)]
    [InlineData(1001)]
    public void RowReductionsAndSoftmax(int n)
    {
        using var device = GpuDevice.Open(cpuAccelerator: true, cpuGroupSize: 256);
        const int Rows = 3;
        var rnd = new Random(n);
        float[] x = Enumerable.Range(0, Rows * n).Select(_ => (float)(rnd.NextDouble() * 6 - 3)).ToArray();
        var input = Upload(device, x);
        var operand = new GpuOperand(input, 0, new[] { Rows, n }, new long[] { n, 1 });
        foreach (var op in new[] { BinaryOp.Add, BinaryOp.Maximum })
        {
            var o = device.Allocate(Rows * 4L);
            device.Reduce(op, GpuType.Float32, operand, new[] { false, true }, o);
            var got = Download(device, o, Rows);
            for (int r = 0; r < Rows; r++)
            {
                var row = x.Skip(r * n).Take(n);
                double want = op == BinaryOp.Add ? row.Sum(v => (double)v) : row.Max();
                Assert.True(Math.Abs(got[r] - want) <= 1e-5 * (1 + Math.Abs(want)), $"{op} row {r}: {got[r]} vs {want}");
            }
        }
        var so = device.Allocate(Rows * n * 4L);
        device.Softmax(GpuType.Float32, operand, 1, so);
        var soft = Download(device, so, Rows * n);
        for (int r = 0; r < Rows; r++)
        {
            double max = x.Skip(r * n).Take(n).Max(), sum = x.Skip(r * n).Take(n).Sum(v => Math.Exp(v - max));
            for (int j = 0; j < n; j++)
            {
                double want = Math.Exp(x[r * n + j] - max) / sum;
                Assert.True(Math.Abs(soft[r * n + j] - want) <= 1e-5 * want + 1e-8, $"softmax ({r}, {j}): {soft[r * n + j]} vs {want}");
            }
        }
    }

    private static unsafe GpuMemory Upload(GpuDevice device, float[] values)
    {
        var memory = device.Allocate(values.Length * 4L);
        fixed (float* p = values)
        {
            device.Upload(memory, (nint)p, values.Length * 4L);
        }
        return memory;
    }

    private static unsafe float[] Download(GpuDevice device, GpuMemory memory, int count)
    {
        var values = new float[count];
        fixed (float* p = values)
        {
            device.Download(memory, (nint)p, count * 4L);
        }
        return values;
    }
}
