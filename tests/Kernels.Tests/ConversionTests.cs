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
