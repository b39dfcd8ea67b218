namespace Mlx.Kernels.Tests;

[CollectionDefinition("Parallelism.MaxThreads", DisableParallelization = true)]
public sealed class MaxThreadsCollection;

/// <summary>Float sums (multi-stream kernel, dynamic blocks) against a double-precision scalar reference, 1-3 threads.</summary>
[Collection("Parallelism.MaxThreads")]
public unsafe class ReduceTests
{
    private static float[] Data(long n, int seed)
    {
        var rng = new System.Random(seed);
        var x = new float[n];
        for (long i = 0; i < n; i++)
        {
            x[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return x;
    }

    private static void WithThreads(int threads, Action body)
    {
        int saved = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try
        {
            body();
        }
        finally
        {
            Parallelism.MaxThreads = saved;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(17)]
    [InlineData(33)]
    [InlineData(64)]
    [InlineData(1023)]
    [InlineData((1 << 20) + 17)]
    [InlineData((3 << 18) + 5)]
    public void FullSumMatchesDouble(int n)
    {
        var x = Data(n, n);
        double exact = 0, abs = 0;
        foreach (var v in x)
        {
            exact += v;
            abs += Math.Abs(v);
        }
        for (int threads = 1; threads <= 3; threads++)
        {
            float got = 0;
            WithThreads(threads, () =>
            {
                fixed (float* px = x)
                {
                    float o;
                    Reduction.Run<float, SumReduce<float>>(px, 1, n, 1, &o);
                    got = o;
                }
            });
            Assert.True(Math.Abs(got - exact) <= 1e-6 * abs + 1e-6, $"n={n} threads={threads}: {got} vs {exact}");
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 17)]
    [InlineData(17, 33)]
    [InlineData(33, 1023)]
    [InlineData(1023, 7)]
    [InlineData(5, 1)]
    [InlineData(130, 4096)]
    [InlineData(203, 4096)] // blocks of 64 rows and one of 11: quarter streams of 2 rows plus 3 left over
    [InlineData(4, 0)]
    public void RowSumsMatchDouble(int rows, int len)
    {
        var x = Data((long)rows * len, rows * 31 + len);
        for (int threads = 1; threads <= 3; threads++)
        {
            var o = new float[rows];
            WithThreads(threads, () =>
            {
                fixed (float* px = x, po = o)
                {
                    Reduction.Run<float, SumReduce<float>>(px, rows, len, 1, po);
                }
            });
            for (int r = 0; r < rows; r++)
            {
                double exact = 0, abs = 0;
                for (int k = 0; k < len; k++)
                {
                    exact += x[(long)r * len + k];
                    abs += Math.Abs(x[(long)r * len + k]);
                }
                Assert.True(Math.Abs(o[r] - exact) <= 1e-6 * abs + 1e-6, $"rows={rows} len={len} threads={threads} row {r}: {o[r]} vs {exact}");
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(100)]
    [InlineData(1003)]
    [InlineData(4096)]
    public void MaxAndMinOfRowsPropagateNaNAndRankPlusZeroAboveMinusZero(int K)
    {
        // Rows: random, a NaN at the start / middle / last element (the tail), signed zeros only, infinities,
        // all equal, and a max (min) in the last element only.
        const int Rows = 10;
        var rng = new System.Random(K + 1);
        var x = new double[Rows * K];
        for (int i = 0; i < x.Length; i++) x[i] = rng.NextDouble() * 20 - 10;
        x[1 * K] = double.NaN;
        x[2 * K + K / 2] = double.NaN;
        x[3 * K + K - 1] = double.NaN;
        for (int k = 0; k < K; k++) x[4 * K + k] = k % 2 == 0 ? -0.0 : -1.0;               // +0 only at two places (max)
        for (int k = 0; k < K; k++) x[5 * K + k] = k == K / 2 ? -0.0 : k % 2 == 0 ? 0.0 : 1.0; // one -0 among +0 (min)
        x[4 * K + K / 3] = 0.0; x[4 * K + K - 1] = 0.0;
        x[6 * K + K / 3] = double.PositiveInfinity; x[6 * K + K - 1] = double.NegativeInfinity;
        for (int k = 0; k < K; k++) x[7 * K + k] = 3.5;
        x[8 * K + K - 1] = 99; x[9 * K + K - 1] = -99;
        foreach (bool max in new[] { true, false })
        {
            var want = new double[Rows];
            for (int r = 0; r < Rows; r++)
            {
                // The rule: NaN if any element is NaN; otherwise the extreme, +0 counting above -0.
                double best = x[r * K];
                for (int k = 0; k < K; k++)
                {
                    double v = x[r * K + k];
                    if (double.IsNaN(v)) { best = v; break; }
                    bool better = v == best ? (max ? !double.IsNegative(v) && double.IsNegative(best) : double.IsNegative(v) && !double.IsNegative(best))
                        : max ? v > best : v < best;
                    if (better) best = v;
                }
                want[r] = best;
            }
            var gotD = new double[Rows];
            var gotF = new float[Rows];
            var xf = x.Select(v => (float)v).ToArray();
            fixed (double* px = x) fixed (float* pf = xf) fixed (double* od = gotD) fixed (float* of = gotF)
            {
                if (max)
                {
                    Reduction.Run<double, MaxReduce<double>>(px, Rows, K, 1, od);
                    Reduction.Run<float, MaxReduce<float>>(pf, Rows, K, 1, of);
                }
                else
                {
                    Reduction.Run<double, MinReduce<double>>(px, Rows, K, 1, od);
                    Reduction.Run<float, MinReduce<float>>(pf, Rows, K, 1, of);
                }
            }
            for (int r = 0; r < Rows; r++)
            {
                Assert.True(want[r].Equals(gotD[r]) && BitConverter.DoubleToInt64Bits(want[r]) >> 63 == BitConverter.DoubleToInt64Bits(gotD[r]) >> 63, $"row {r} ({(max ? "max" : "min")}, K {K}) float64: {gotD[r]}, expected {want[r]}");
                float wf = (float)want[r];
                Assert.True(wf.Equals(gotF[r]) && float.IsNegative(wf) == float.IsNegative(gotF[r]), $"row {r} ({(max ? "max" : "min")}, K {K}) float32: {gotF[r]}, expected {wf}");
            }
        }
    }

    [Theory]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(100)]
    [InlineData(1003)]
    public void ArgMaxAndMinOfRowsFollowTheScalarRule(int K)
    {
        // Rows with planted ties (first wins), -0 before +0 (equal: first wins), NaNs (the first NaN wins), all equal.
        const int Rows = 9;
        var rng = new System.Random(K);
        var x = new double[Rows * K];
        for (int i = 0; i < x.Length; i++) x[i] = Math.Round(rng.NextDouble() * 20 - 10);
        x[1 * K + K / 3] = 50; x[1 * K + K - 1] = 50;                       // tie for the max
        x[2 * K + 5] = -50; x[2 * K + K / 2] = -50;                         // tie for the min
        for (int k = 0; k < K; k++) x[3 * K + k] = k % 2 == 0 ? -0.0 : 0.0; // signed zeros only
        x[4 * K + K / 2] = double.NaN; x[4 * K + K - 1] = double.NaN;       // NaNs
        x[5 * K] = double.NaN;
        for (int k = 0; k < K; k++) x[6 * K + k] = 7;                       // all equal
        x[7 * K + K - 1] = double.PositiveInfinity; x[8 * K + K - 1] = double.NegativeInfinity;
        foreach (bool max in new[] { true, false })
        {
            var want = new uint[Rows];
            for (int r = 0; r < Rows; r++)
            {
                double best = x[r * K];
                uint bi = 0;
                for (int k = 1; k < K && !double.IsNaN(best); k++)
                {
                    double v = x[r * K + k];
                    if (double.IsNaN(v)) { bi = (uint)k; break; }
                    if (max ? v > best : v < best) { best = v; bi = (uint)k; }
                }
                want[r] = bi;
            }
            var gotD = new uint[Rows];
            var gotF = new uint[Rows];
            var xf = x.Select(v => (float)v).ToArray();
            fixed (double* px = x) fixed (float* pf = xf) fixed (uint* od = gotD, of = gotF)
            {
                Reduction.ArgReduce(px, Rows, K, 1, od, max);
                Reduction.ArgReduce(pf, Rows, K, 1, of, max);
            }
            Assert.Equal(want, gotD);
            Assert.Equal(want, gotF);
        }
    }

    [Theory]
    [InlineData(17, 8)]
    [InlineData(16, 9)]
    [InlineData(100, 300)]
    [InlineData(3, 515)]
    public void ArgMaxAndMinOverANonLastAxisFollowTheScalarRule(int K, int B)
    {
        // (A, K, B) with the reduction over K: column b carries the pattern of row kind b % 9 of the test above.
        const int A = 2;
        var rng = new System.Random(K * 1000 + B);
        var x = new double[A * K * B];
        for (int a = 0; a < A; a++)
        {
            for (int b = 0; b < B; b++)
            {
                var col = new double[K];
                for (int k = 0; k < K; k++) col[k] = Math.Round(rng.NextDouble() * 20 - 10);
                switch ((b + a) % 9)
                {
                    case 1: col[K / 3] = 50; col[K - 1] = 50; break;
                    case 2: col[Math.Min(5, K - 1)] = -50; col[K / 2] = -50; break;
                    case 3: for (int k = 0; k < K; k++) col[k] = k % 2 == 0 ? -0.0 : 0.0; break;
                    case 4: col[K / 2] = double.NaN; col[K - 1] = double.NaN; break;
                    case 5: col[0] = double.NaN; break;
                    case 6: for (int k = 0; k < K; k++) col[k] = 7; break;
                    case 7: col[K - 1] = double.PositiveInfinity; break;
                    case 8: col[K - 1] = double.NegativeInfinity; break;
                }
                for (int k = 0; k < K; k++) x[(a * K + k) * B + b] = col[k];
            }
        }
        foreach (bool max in new[] { true, false })
        {
            var want = new uint[A * B];
            for (int a = 0; a < A; a++)
            {
                for (int b = 0; b < B; b++)
                {
                    double best = x[a * K * B + b];
                    uint bi = 0;
                    for (int k = 1; k < K && !double.IsNaN(best); k++)
                    {
                        double v = x[(a * K + k) * B + b];
                        if (double.IsNaN(v)) { bi = (uint)k; break; }
                        if (max ? v > best : v < best) { best = v; bi = (uint)k; }
                    }
                    want[a * B + b] = bi;
                }
            }
            var gotD = new uint[A * B];
            var gotF = new uint[A * B];
            var xf = x.Select(v => (float)v).ToArray();
            fixed (double* px = x) fixed (float* pf = xf) fixed (uint* od = gotD, of = gotF)
            {
                Reduction.ArgReduce(px, A, K, B, od, max);
                Reduction.ArgReduce(pf, A, K, B, of, max);
            }
            Assert.Equal(want, gotD);
            Assert.Equal(want, gotF);
        }
    }

    [Fact]
    public void EmptySumIsZero()
    {
        float o = 1;
        Reduction.Run<float, SumReduce<float>>(null, 1, 0, 1, &o);
        Assert.Equal(0f, o);
    }
}
