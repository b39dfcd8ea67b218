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
}
