namespace Mlx.Kernels.Tests;

/// <summary>Gemm.Run against a scalar double triple loop: edge tiles, k blocks, layouts, alpha/beta, threads.</summary>
public unsafe class GemmTests
{
    private static double[] Random(int count, int seed)
    {
        var rng = new System.Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
    }

    // A (M x K) and B (K x N) are stored row-major or transposed (column-major), each with a leading dimension padded by 3.
    private static void Check<T>(int M, int N, int K, bool ta, bool tb, double alpha, double beta, int threads, double tol)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        long ldA = (ta ? M : K) + 3, ldB = (tb ? K : N) + 3, ldc = N + 5;
        var a = Random((int)(ldA * (ta ? K : M)), M * 31 + K);
        var b = Random((int)(ldB * (tb ? N : K)), N * 17 + K);
        var c0 = Random((int)(ldc * M), M + N);
        var at = a.Select(T.CreateTruncating).ToArray();
        var bt = b.Select(T.CreateTruncating).ToArray();
        var ct = c0.Select(T.CreateTruncating).ToArray();
        if (beta == 0)
        {
            Array.Fill(ct, T.NaN); // beta = 0 must ignore C, NaN included
        }
        long rsA = ta ? 1 : ldA, csA = ta ? ldA : 1, rsB = tb ? 1 : ldB, csB = tb ? ldB : 1;
        fixed (T* pa = at, pb = bt, pc = ct)
        {
            Gemm.Run(M, N, K, pa, rsA, csA, pb, rsB, csB, pc, ldc, T.CreateTruncating(alpha), T.CreateTruncating(beta), threads);
        }
        for (int i = 0; i < M; i++)
        {
            for (int j = 0; j < N; j++)
            {
                double s = 0, sabs = 0;
                for (int k = 0; k < K; k++)
                {
                    double p = double.CreateTruncating(at[i * rsA + k * csA]) * double.CreateTruncating(bt[k * rsB + j * csB]);
                    s += p;
                    sabs += Math.Abs(p);
                }
                double old = beta == 0 ? 0 : double.CreateTruncating(T.CreateTruncating(c0[i * ldc + j]));
                double expected = alpha * s + beta * old;
                double got = double.CreateTruncating(ct[i * ldc + j]);
                Assert.True(Math.Abs(got - expected) <= tol * (Math.Abs(alpha) * sabs + Math.Abs(beta * old) + 1),
                    $"({i},{j}) of {M}x{N}x{K}: {got} vs {expected}");
            }
            // Padding past N is untouched.
            for (long j = N; j < ldc && beta != 0; j++)
            {
                Assert.Equal(T.CreateTruncating(c0[i * ldc + j]), ct[i * ldc + j]);
            }
        }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 17, 33)]
    [InlineData(17, 33, 7)]
    [InlineData(33, 7, 1023)]
    [InlineData(13, 1100, 5)]     // N over one column block
    [InlineData(100, 300, 50)]    // large enough to run on several threads
    [InlineData(301, 65, 2100)]   // three k blocks
    [InlineData(5, 400, 300)]     // few rows: threads take column slices
    [InlineData(200, 1088, 1100)] // row slices sharing packed B: two column blocks, two k blocks (double buffer)
    [InlineData(12, 16, 40)]      // one vector of columns: the narrow tile, full
    [InlineData(30, 10, 37)]      // fewer columns than a vector: the narrow tile, partial
    [InlineData(12, 80, 2100)]    // a narrow last panel accumulating over three k blocks
    [InlineData(48, 24, 9)]       // a wide panel of 24 columns (over one vector, under four)
    [InlineData(12, 32, 40)]      // two vectors of columns (AVX-512): the two-vector tile, full
    [InlineData(18, 96, 1100)]    // a full panel, then a two-vector one, over two k blocks
    [InlineData(1, 37, 1000)]     // one row: dot products (B transposed) or row updates (B row-major), no packing
    [InlineData(3, 1100, 77)]     // a few rows, several column blocks of the row updates
    [InlineData(4, 300, 513)]     // the most rows that skip packing
    [InlineData(2, 5, 3)]
    [InlineData(1, 1100, 700)]    // one row on several threads
    [InlineData(5, 300, 513)]     // one more row: packed panels again
    public void FloatAllLayouts(int M, int N, int K)
    {
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            foreach (int threads in new[] { 1, 2, 3 })
            {
                Check<float>(M, N, K, ta, tb, 1, 0, threads, 1e-5);
            }
        }
        Check<float>(M, N, K, false, true, -0.5, 1, 2, 1e-5);
        Check<float>(M, N, K, true, false, 2, 0.25, 2, 1e-5);
    }

    [Theory]
    [InlineData(7, 17, 33)]
    [InlineData(100, 300, 50)]
    public void Double(int M, int N, int K)
    {
        Check<double>(M, N, K, false, false, 1, 0, 2, 1e-13);
        Check<double>(M, N, K, true, true, 0.5, 2, 2, 1e-13);
    }

    [Theory]
    [InlineData(1, 33, 1000, false)]
    [InlineData(2, 7, 37, true)]
    [InlineData(3, 65, 515, false)]
    [InlineData(4, 40, 16, true)]
    [InlineData(4, 1100, 700, false)] // several threads
    [InlineData(3, 20, 50, false)] // 32 at a time, then 16, then 2
    [InlineData(2, 20, 50, true)]
    [InlineData(1, 30, 96, false, true)] // subnormal, infinite and NaN weights in some columns
    [InlineData(4, 30, 96, true, true)]
    public void SixteenBitWeightsReadAsTheirTranspose(int M, int N, int K, bool bfloat16, bool specials = false)
    {
        var a = Random(M * K, M + K).Select(v => (float)v).ToArray();
        long ldw = K + 3; // column j of B at j * ldw, K contiguous 16-bit values
        var w = Random((int)(N * ldw), N + K).Select(v => bfloat16 ? ((BFloat16)(float)v).Bits : BitConverter.HalfToUInt16Bits((Half)v)).ToArray();
        if (specials)
        {
            // Column 1 has a subnormal, column 3 an infinity, column 5 a NaN, column 7 -infinity and a subnormal:
            // each in a different 32-weight block, so the blocks around them keep the fast conversion.
            ushort Bits(float f) => bfloat16 ? ((BFloat16)f).Bits : BitConverter.HalfToUInt16Bits((Half)f);
            ushort subnormal = bfloat16 ? (ushort)0x0003 : (ushort)0x0203;
            w[1 * ldw + 40] = subnormal;
            w[3 * ldw + 5] = Bits(float.PositiveInfinity);
            w[5 * ldw + 70] = Bits(float.NaN);
            w[7 * ldw + 33] = Bits(float.NegativeInfinity);
            w[7 * ldw + 90] = (ushort)(subnormal | 0x8000);
        }
        float Wide(ushort b) => bfloat16 ? BitConverter.UInt32BitsToSingle((uint)b << 16) : (float)BitConverter.UInt16BitsToHalf(b);
        var c = new float[M * (N + 2)];
        fixed (float* pa = a, pc = c) fixed (ushort* pw = w)
        {
            Gemm.Gemv16(M, N, K, pa, K, pw, ldw, bfloat16, pc, N + 2);
        }
        for (int i = 0; i < M; i++)
        {
            for (int j = 0; j < N; j++)
            {
                double s = 0, sabs = 0;
                for (int k = 0; k < K; k++)
                {
                    double p = (double)a[i * K + k] * Wide(w[j * ldw + k]);
                    s += p;
                    sabs += Math.Abs(p);
                }
                float got = c[i * (N + 2) + j];
                if (!double.IsFinite(s)) Assert.True(double.IsNaN(s) ? float.IsNaN(got) : got == s, $"({i},{j}): {got} vs {s}");
                else Assert.True(Math.Abs(got - s) <= 1e-5 * sabs + 1e-6, $"({i},{j}): {got} vs {s}");
            }
        }
    }

    [Fact]
    public void EmptyAndZeroK()
    {
        var c = new float[] { 1, 2, 3, 4 };
        fixed (float* pc = c)
        {
            Gemm.Run<float>(0, 2, 3, null, 3, 1, null, 2, 1, pc, 2, 1f, 0f);
            Gemm.Run<float>(2, 0, 3, null, 3, 1, null, 2, 1, pc, 2, 1f, 0f);
            Assert.Equal(new float[] { 1, 2, 3, 4 }, c);
            Gemm.Run<float>(2, 2, 0, null, 0, 1, null, 2, 1, pc, 2, 1f, 2f);
            Assert.Equal(new float[] { 2, 4, 6, 8 }, c);
            Gemm.Run<float>(2, 2, 0, null, 0, 1, null, 2, 1, pc, 2, 1f, 0f);
            Assert.Equal(new float[4], c);
        }
    }
}
