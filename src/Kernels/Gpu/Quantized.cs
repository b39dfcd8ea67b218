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

    // The value of code c of a floating-point mode: E2M1 (bits 4) or E4M3 (bits 8, its 7 magnitude bits moved into
    // float32's fields and rescaled by 2^120; 0x7F / 0xFF NaN).
    private static float FloatCode(uint c, int bits)
    {
        if (bits == 4)
        {
            uint e = (c >> 1) & 3, m = c & 1;
            float mag = e == 0 ? m * 0.5f : (1f + m * 0.5f) * (1 << (int)(e - 1));
            return (c & 8) != 0 ? -mag : mag;
        }
        uint magnitude = c & 0x7F;
        float v = magnitude == 0x7F ? float.NaN : Interop.IntAsFloat(magnitude << 20) * 1.329228e36f;
        return (c & 0x80) != 0 ? -v : v;
    }

    // A group's scale: E4M3 times the global decode factor for groups of 16 (nvfp4), else E8M0 (2^(s - 127); 0xFF NaN).
    private static float FloatScale(byte s, int groupSize, float scaleDecode) =>
        groupSize == 16 ? FloatCode(s, 8) * scaleDecode : s == 0xFF ? float.NaN : s == 0 ? Interop.IntAsFloat(0x00400000u) : Interop.IntAsFloat((uint)s << 23);

    private static uint FloatCodeAt(ArrayView<byte> codes, long i, int bits) =>
        bits == 8 ? codes[i] : (uint)(codes[i >> 1] >> (int)(4 * (i & 1))) & 0xF;

    public static void DequantizeFloat(ArrayView<byte> codes, ArrayView<byte> scales, ArrayView<float> o, long n, int groupSize, int bits, float scaleDecode)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            o[i] = FloatCode(FloatCodeAt(codes, i, bits), bits) * FloatScale(scales[i / groupSize], groupSize, scaleDecode);
        }
    }

    public static void GemvFloat(ArrayView<float> x, ArrayView<byte> codes, ArrayView<byte> scales, ArrayView<float> o,
        long m, long n, int k, int groupSize, int bits, F32Ops ops)
    {
        var shared = SharedMemory.Allocate<float>(ReduceKernels.MaxGroupSize);
        int tid = Group.IdxX, size = Group.DimX;
        long groups = k / groupSize;
        for (long r = Grid.IdxX; r < m * n; r += Grid.DimX)
        {
            long row = r % n, i = r / n;
            float acc = 0;
            for (int j = tid; j < k; j += size)
            {
                float scale = FloatScale(scales[row * groups + j / groupSize], groupSize, 1f);
                acc += x[i * k + j] * FloatCode(FloatCodeAt(codes, row * k + j, bits), bits) * scale;
            }
            acc = ReduceKernels.GroupReduce(shared, acc, (int)BinaryOp.Add, ops);
            if (tid == 0) o[i * n + row] = acc;
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

    /// <summary><paramref name="n"/> float32 values of E2M1 (bits 4) or E4M3 (bits 8) codes times their groups' uint8 scales.</summary>
    public void DequantizeFloat(GpuMemory codes, GpuMemory scales, GpuMemory o, long n, int groupSize, int bits, float scaleDecode)
    {
        if (n == 0) return;
        var k = Kernel("quantized.dequantize-float", a => a.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<float>, long, int, int, float>(QuantizedKernels.DequantizeFloat));
        k(GridFor(n), codes.View<byte>(), scales.View<byte>(), o.View<float>(), n, groupSize, bits, scaleDecode);
    }

    /// <summary><see cref="QuantizedGemvTransposed"/> for weights in a floating-point mode (uint8 scales).</summary>
    public void QuantizedGemvTransposedFloat(GpuMemory x, GpuMemory codes, GpuMemory scales, GpuMemory o, long m, long n, int k, int groupSize, int bits)
    {
        if (m * n == 0) return;
        var kernel = Kernel("quantized.gemv-float", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, long, long, int, int, int, F32Ops>(QuantizedKernels.GemvFloat));
        kernel(GroupsFor(m * n, ReduceGroupSize), x.View<float>(), codes.View<byte>(), scales.View<byte>(), o.View<float>(), m, n, k, groupSize, bits, default);
    }

    /// <summary>o (m, n) = x (m, k, row-major) times the transpose of a packed (n, k) weight, without expanding it.</summary>
    public void QuantizedGemvTransposed(GpuMemory x, GpuMemory codes, GpuMemory scales, GpuMemory biases, GpuMemory o, long m, long n, int k, int groupSize, int bits)
    {
        if (m * n == 0) return;
        var kernel = Kernel("quantized.gemv", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>, ArrayView<float>, long, long, int, int, int, F32Ops>(QuantizedKernels.GemvTransposed));
        kernel(GroupsFor(m * n, ReduceGroupSize), x.View<float>(), codes.View<uint>(), scales.View<float>(), biases.View<float>(), o.View<float>(), m, n, k, groupSize, bits, default);
    }
}
