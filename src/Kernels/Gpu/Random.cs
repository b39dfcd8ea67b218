using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// Threefry-2x32 random bits with the CPU's (MLX's) counter layout: the output's W 32-bit words, H = W / 2, are
/// filled in pairs (w[j], w[j + H + odd]) = hash(key, (j, j + H + odd)); with W odd, w[H] = hash(key, (H, 0)).x0.
/// One thread per word; the last word keeps only the bytes that remain.
/// </summary>
internal static class RandomKernels
{
    public static void Bits(ArrayView<uint> key, ArrayView<uint> words, ArrayView<byte> bytes, long nbytes)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        long w = (nbytes + 3) / 4;
        uint k0 = key[0], k1 = key[1];
        for (long i = Grid.GlobalIndex.X; i < w; i += stride)
        {
            uint v = Word(k0, k1, (uint)i, (uint)w);
            if (4 * i + 4 <= nbytes)
            {
                words[i] = v;
            }
            else
            {
                for (long b = 4 * i; b < nbytes; b++)
                {
                    bytes[b] = (byte)(v >> (int)(8 * (b - 4 * i)));
                }
            }
        }
    }

    // Float32 uniform in [0, 1) (normal == 0) or MLX's normal from n 32-bit draws, as Threefry.Uniform / Normal.
    public static void Floats(ArrayView<uint> key, ArrayView<float> o, long n, int normal, float low, float range, float applied, int hasLoc, float loc)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        uint k0 = key[0], k1 = key[1];
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float u = (float)Word(k0, k1, (uint)i, (uint)n) / 4294967296f;
            u = u < 0.99999994f ? u : 0.99999994f;
            if (normal == 0)
            {
                o[i] = u;
                continue;
            }
            float product = range * u;
            float x = applied * ErfInv(product + low);
            o[i] = hasLoc != 0 ? loc + x : x;
        }
    }

    private static uint Word(uint k0, uint k1, uint i, uint w)
    {
        uint half = w / 2, odd = w & 1;
        if (i < half)
        {
            Hash(k0, k1, i, i + half + odd, out uint a, out _);
            return a;
        }
        if (odd != 0 && i == half)
        {
            Hash(k0, k1, half, 0, out uint a, out _);
            return a;
        }
        Hash(k0, k1, i - half - odd, i, out _, out uint b);
        return b;
    }

    private static void Hash(uint k0, uint k1, uint x0, uint x1, out uint y0, out uint y1)
    {
        uint ks2 = k0 ^ k1 ^ 0x1BD11BDA;
        x0 += k0;
        x1 += k1;
        Rounds(ref x0, ref x1, 13, 15, 26, 6);
        x0 += k1; x1 += ks2 + 1u;
        Rounds(ref x0, ref x1, 17, 29, 16, 24);
        x0 += ks2; x1 += k0 + 2u;
        Rounds(ref x0, ref x1, 13, 15, 26, 6);
        x0 += k0; x1 += k1 + 3u;
        Rounds(ref x0, ref x1, 17, 29, 16, 24);
        x0 += k1; x1 += ks2 + 4u;
        Rounds(ref x0, ref x1, 13, 15, 26, 6);
        x0 += ks2; x1 += k0 + 5u;
        y0 = x0;
        y1 = x1;
    }

    private static void Rounds(ref uint x0, ref uint x1, int r0, int r1, int r2, int r3)
    {
        Mix(ref x0, ref x1, r0);
        Mix(ref x0, ref x1, r1);
        Mix(ref x0, ref x1, r2);
        Mix(ref x0, ref x1, r3);
    }

    private static void Mix(ref uint x0, ref uint x1, int r)
    {
        x0 += x1;
        x1 = (x1 << r) | (x1 >> (32 - r));
        x1 ^= x0;
    }

    // The CPU's erfinv polynomial (Threefry.ErfInv); fused multiply-adds through double, log in double: within an ulp or two.
    private static float ErfInv(float a)
    {
        float t = (float)XMath.Log((double)Fma(a, -a, 1.0f));
        float p;
        if (XMath.Abs(t) > 6.125f)
        {
            p = 3.03697567e-10f;
            p = Fma(p, t, 2.93243101e-8f);
            p = Fma(p, t, 1.22150334e-6f);
            p = Fma(p, t, 2.84108955e-5f);
            p = Fma(p, t, 3.93552968e-4f);
            p = Fma(p, t, 3.02698812e-3f);
            p = Fma(p, t, 4.83185798e-3f);
            p = Fma(p, t, -2.64646143e-1f);
            p = Fma(p, t, 8.40016484e-1f);
        }
        else
        {
            p = 5.43877832e-9f;
            p = Fma(p, t, 1.43285448e-7f);
            p = Fma(p, t, 1.22774793e-6f);
            p = Fma(p, t, 1.12963626e-7f);
            p = Fma(p, t, -5.61530760e-5f);
            p = Fma(p, t, -1.47697632e-4f);
            p = Fma(p, t, 2.31468678e-3f);
            p = Fma(p, t, 1.15392581e-2f);
            p = Fma(p, t, -2.32015476e-1f);
            p = Fma(p, t, 8.86226892e-1f);
        }
        return a * p;
    }

    private static float Fma(float a, float b, float c) => (float)((double)a * b + c);
}

public sealed partial class GpuDevice
{
    /// <summary>Fills <paramref name="nbytes"/> bytes of <paramref name="dst"/> with the random bits of the uint32 key pair at <paramref name="key"/>.</summary>
    public void RandomBits(GpuMemory key, GpuMemory dst, long nbytes)
    {
        if (nbytes == 0)
        {
            return;
        }
        var k = Kernel("random.bits", a => a.LoadStreamKernel<ArrayView<uint>, ArrayView<uint>, ArrayView<byte>, long>(RandomKernels.Bits));
        k(GridFor((nbytes + 3) / 4), key.View<uint>(), dst.View<uint>(), dst.View<byte>(), nbytes);
    }

    /// <summary>
    /// <paramref name="n"/> float32 draws: uniform in [0, 1), or MLX's normal
    /// <c>[loc +] applied * erfinv(range * u + low)</c>.
    /// </summary>
    public void RandomFloats(GpuMemory key, GpuMemory dst, long n, bool normal, float low, float range, float applied, float? loc)
    {
        if (n == 0)
        {
            return;
        }
        var k = Kernel("random.floats", a => a.LoadStreamKernel<ArrayView<uint>, ArrayView<float>, long, int, float, float, float, int, float>(RandomKernels.Floats));
        k(GridFor(n), key.View<uint>(), dst.View<float>(), n, normal ? 1 : 0, low, range, applied, loc.HasValue ? 1 : 0, loc.GetValueOrDefault());
    }
}
