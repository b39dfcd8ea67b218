using ILGPU;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// Affine dequantization on the GPU, one thread per value: the codes of consecutive rows form one little-endian bit
/// stream (rows hold whole groups and groups whole uint32 words), so value i is bits [i * bits, (i + 1) * bits).
/// </summary>
internal static class QuantizedKernels
{
    public static void DequantizeAffine(ArrayView<uint> codes, ArrayView<float> scales, ArrayView<float> biases, ArrayView<float> o, long n, int groupSize, int bits)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        uint mask = (1u << bits) - 1;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            long bit = i * bits;
            long word = bit >> 5;
            int shift = (int)(bit & 31);
            uint v = codes[word] >> shift;
            if (shift + bits > 32) v |= codes[word + 1] << (32 - shift);
            long g = i / groupSize;
            o[i] = scales[g] * (v & mask) + biases[g];
        }
    }

    // A few rows of x times W^T read from the packed codes: a group per output (row of x, row of W), its threads
    // striding over the row's codes (neighbours share words), then a tree sum in shared memory.
    public static void GemvTransposed(ArrayView<float> x, ArrayView<uint> codes, ArrayView<float> scales, ArrayView<float> biases, ArrayView<float> o,
        long m, long n, int k, int groupSize, int bits, F32Ops ops)
    {
        var shared = SharedMemory.Allocate<float>(ReduceKernels.MaxGroupSize);
        int tid = Group.IdxX, size = Group.DimX;
        uint mask = (1u << bits) - 1;
        long rowWords = (long)k * bits / 32, groups = k / groupSize;
        for (long r = Grid.IdxX; r < m * n; r += Grid.DimX)
        {
            long row = r % n, i = r / n;
            float acc = 0;
            for (int j = tid; j < k; j += size)
            {
                long bit = (long)j * bits;
                long word = row * rowWords + (bit >> 5);
                int shift = (int)(bit & 31);
                uint v = codes[word] >> shift;
                if (shift + bits > 32) v |= codes[word + 1] << (32 - shift);
                long g = row * groups + j / groupSize;
                acc += x[i * k + j] * (scales[g] * (v & mask) + biases[g]);
            }
            acc = ReduceKernels.GroupReduce(shared, acc, (int)BinaryOp.Add, ops);
            if (tid == 0) o[i * n + row] = acc;
        }
    }
}

public sealed partial class GpuDevice
{
    /// <summary><paramref name="n"/> float32 values scales[g] * q + biases[g] from packed codes (groups of <paramref name="groupSize"/>).</summary>
    public void DequantizeAffine(GpuMemory codes, GpuMemory scales, GpuMemory biases, GpuMemory o, long n, int groupSize, int bits)
    {
        if (n == 0) return;
        var k = Kernel("quantized.dequantize", a => a.LoadStreamKernel<ArrayView<uint>, ArrayView<float>, ArrayView<float>, ArrayView<float>, long, int, int>(QuantizedKernels.DequantizeAffine));
        k(GridFor(n), codes.View<uint>(), scales.View<float>(), biases.View<float>(), o.View<float>(), n, groupSize, bits);
    }

    /// <summary>o (m, n) = x (m, k, row-major) times the transpose of a packed (n, k) weight, without expanding it.</summary>
    public void QuantizedGemvTransposed(GpuMemory x, GpuMemory codes, GpuMemory scales, GpuMemory biases, GpuMemory o, long m, long n, int k, int groupSize, int bits)
    {
        if (m * n == 0) return;
        var kernel = Kernel("quantized.gemv", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, ArrayView<float>, long, long, int, int, int, F32Ops>(QuantizedKernels.GemvTransposed));
        kernel(GroupsFor(m * n, ReduceGroupSize), x.View<float>(), codes.View<uint>(), scales.View<float>(), biases.View<float>(), o.View<float>(), m, n, k, groupSize, bits, default);
    }
}
