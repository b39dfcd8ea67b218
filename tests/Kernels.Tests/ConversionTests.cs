namespace Mlx.Kernels.Tests;

/// <summary>The vectorized 16-bit float conversions against the scalar ones (System.Half, our BFloat16), bit for bit.</summary>
public unsafe class ConversionTests
{
    // Random bit patterns (NaNs with payloads, subnormals, infinities included) plus rounding ties, on a length with a SIMD tail.
    private static uint[] FloatBits(int n, int seed)
    {
        var rng = new System.Random(seed);
        var bits = new uint[n];
        for (int i = 0; i < n; i++) bits[i] = (uint)rng.NextInt64(0, 1L << 32);
        uint[] special = { 0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0x7F80_0001, 0xFFFF_FFFF, 0x0000_0001, 0x3F80_8000, 0x3F81_8000, 0x3F80_7FFF, 0x7F7F_FFFF, 0x477F_F000, 0x3380_0000 };
        special.CopyTo(bits, 0);
        special.CopyTo(bits, n - special.Length);
        return bits;
    }

    [Theory]
    [InlineData(14)]
    [InlineData(1_000_003)]
    public void SingleToBFloat16RoundsLikeTheScalarConversion(int n)
    {
        var bits = FloatBits(n, n);
        var got = new ushort[n];
        fixed (uint* s = bits) fixed (ushort* d = got) Conversions.SingleToBFloat16((float*)s, d, n);
        for (int i = 0; i < n; i++)
        {
            ushort want = ((BFloat16)BitConverter.UInt32BitsToSingle(bits[i])).Bits;
            Assert.True(want == got[i], $"0x{bits[i]:X8}: 0x{got[i]:X4}, want 0x{want:X4}");
        }
    }

    [Fact]
    public void EveryBFloat16WidensExactly()
    {
        var all = Enumerable.Range(0, 65536).Select(i => (ushort)i).Concat(new ushort[] { 1, 2, 3 }).ToArray();
        var got = new float[all.Length];
        fixed (ushort* s = all) fixed (float* d = got) Conversions.BFloat16ToSingle(s, d, all.Length);
        for (int i = 0; i < all.Length; i++)
        {
            Assert.Equal((uint)all[i] << 16, BitConverter.SingleToUInt32Bits(got[i]));
        }
    }

    [Fact]
    public void EveryHalfWidensInRegistersLikeSystemHalf()
    {
        for (uint start = 0; start < 65536; start += 8)
        {
            var lanes = System.Runtime.Intrinsics.Vector256.Create(start, start + 1, start + 2, start + 3, start + 4, start + 5, start + 6, start + 7);
            var got = Conversions.WidenHalf(lanes);
            for (int i = 0; i < 8; i++)
            {
                uint want = BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf((ushort)(start + i)));
                uint bits = BitConverter.SingleToUInt32Bits(got[i]);
                Assert.True(want == bits, $"0x{start + i:X4}: 0x{bits:X8}, want 0x{want:X8}");
            }
        }
    }

    [Fact]
    public void EveryHalfWidensLikeSystemHalf()
    {
        // In order, whole 32-value blocks of finite halves take the fast path and the blocks holding the infinities
        // and NaNs (0x7C00-0x7FFF, 0xFC00-0xFFFF) the full one; then shifted by 7 so every block mixes both.
        for (int shift = 0; shift < 8; shift += 7)
        {
            var all = Enumerable.Range(0, 65536).Select(i => (Half)BitConverter.UInt16BitsToHalf((ushort)((i + shift * 0x1FF) & 0xFFFF))).Concat(new[] { (Half)1, (Half)(-2) }).ToArray();
            var got = new float[all.Length];
            fixed (Half* s = all) fixed (float* d = got) Conversions.HalfToSingle(s, d, all.Length);
            for (int i = 0; i < all.Length; i++)
            {
                uint want = BitConverter.SingleToUInt32Bits((float)all[i]);
                uint bits = BitConverter.SingleToUInt32Bits(got[i]);
                Assert.True(want == bits, $"0x{BitConverter.HalfToUInt16Bits(all[i]):X4}: 0x{bits:X8}, want 0x{want:X8}");
            }
        }
    }

    [Fact]
    public void FloatsInTheHalfRangeRoundLikeSystemHalf()
    {
        // Random bit patterns are mostly far outside float16's range; these have exponents from below its smallest
        // subnormal to above its largest normal, with ties and near-ties in the 13 dropped bits, and no NaN (the
        // fast path), except one block with a NaN at its end.
        var rng = new System.Random(5);
        int n = 200_003;
        var bits = new uint[n];
        uint[] low = { 0x0000, 0x1000, 0x0FFF, 0x1001, 0x1FFF, 0x0001, 0x1FFF };
        for (int i = 0; i < n; i++)
        {
            uint exponent = (uint)rng.Next(127 - 27, 127 + 17);
            uint mantissa = (uint)rng.Next(0, 1 << 23);
            if (i % 3 == 0) mantissa = (mantissa & ~0x1FFFu) | low[rng.Next(low.Length)];
            bits[i] = (uint)(rng.Next(2) << 31) | exponent << 23 | mantissa;
        }
        bits[4000] = 0x7FC0_1234;
        var halves = new Half[n];
        fixed (uint* s = bits) fixed (Half* d = halves) Conversions.SingleToHalf((float*)s, d, n);
        for (int i = 0; i < n; i++)
        {
            ushort want = BitConverter.HalfToUInt16Bits((Half)BitConverter.UInt32BitsToSingle(bits[i]));
            ushort got = BitConverter.HalfToUInt16Bits(halves[i]);
            Assert.True(want == got, $"0x{bits[i]:X8}: 0x{got:X4} want 0x{want:X4}");
        }
    }

    [Theory]
    [InlineData(14)]
    [InlineData(1_000_003)]
    public void HalfConversionsMatchSystemHalf(int n)
    {
        var bits = FloatBits(n, n + 1);
        var halves = new Half[n];
        fixed (uint* s = bits) fixed (Half* d = halves) Conversions.SingleToHalf((float*)s, d, n);
        var back = new float[n];
        fixed (Half* s = halves) fixed (float* d = back) Conversions.HalfToSingle(s, d, n);
        for (int i = 0; i < n; i++)
        {
            float f = BitConverter.UInt32BitsToSingle(bits[i]);
            Half want = (Half)f;
            // Bit for bit: signed zeros, ties to even, subnormals, infinities and NaN sign and payload.
            Assert.True(BitConverter.HalfToUInt16Bits(want) == BitConverter.HalfToUInt16Bits(halves[i]), $"0x{bits[i]:X8}: 0x{BitConverter.HalfToUInt16Bits(halves[i]):X4} want 0x{BitConverter.HalfToUInt16Bits(want):X4}");
            float wantBack = (float)halves[i];
            Assert.True(BitConverter.SingleToUInt32Bits(wantBack) == BitConverter.SingleToUInt32Bits(back[i]), $"{halves[i]}: {back[i]} want {wantBack}");
        }
    }
}
