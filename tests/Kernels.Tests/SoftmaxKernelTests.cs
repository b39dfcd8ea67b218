namespace Mlx.Kernels.Tests;

/// <summary>Softmax.Rows against a scalar double loop: SIMD tails, in place, infinities, NaN.</summary>
public unsafe class SoftmaxKernelTests
{
    private static double[] Reference(float[] x, int rows, int n)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double m = double.NegativeInfinity;
            for (int j = 0; j < n; j++) m = Math.Max(m, x[r * n + j]);
            double s = 0;
            for (int j = 0; j < n; j++) s += Math.Exp(x[r * n + j] - m);
            for (int j = 0; j < n; j++) y[r * n + j] = Math.Exp(x[r * n + j] - m) / s;
        }
        return y;
    }

    private static float[] Random(int count, int seed, float lo, float hi)
    {
        var rng = new System.Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(2, 17)]
    [InlineData(5, 33)]
    [InlineData(4, 1023)]
    [InlineData(300, 64)]
    public void FloatMatchesScalarDouble(int rows, int n)
    {
        // A wide range exercises the exp's range reduction and its underflow to 0.
        var x = Random(rows * n, rows * 1000 + n, -100, 20);
        var expected = Reference(x, rows, n);
        var y = new float[x.Length];
        fixed (float* px = x, py = y)
        {
            Softmax.Rows(px, py, rows, n);
        }
        for (int i = 0; i < y.Length; i++)
        {
            // x - max rounds to float: an error of |x - max| * 2^-24 in the exponent, relative in the result.
            double tol = expected[i] * (2e-6 + 1.2e-7 * Math.Abs(Math.Log(expected[i]))) + 1e-37;
            Assert.True(Math.Abs(y[i] - expected[i]) <= tol, $"{i}: {y[i]} vs {expected[i]}");
        }
        // In place gives the same bits.
        fixed (float* px = x)
        {
            Softmax.Rows(px, px, rows, n);
        }
        Assert.Equal(y, x);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1023)]
    public void DoubleMatchesScalarDouble(int n)
    {
        var xf = Random(3 * n, n, -30, 30);
        var x = xf.Select(v => (double)v).ToArray();
        var expected = Reference(xf, 3, n);
        fixed (double* px = x)
        {
            Softmax.Rows(px, px, 3, n);
        }
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(expected[i], x[i], 1e-14);
        }
    }

    [Fact]
    public void InfinitiesAndNaN()
    {
        const int n = 40;
        var x = new float[4 * n];
        Array.Fill(x, float.NegativeInfinity);
        x[5] = 0;                                   // row 0: one finite entry -> exactly one 1
        x[n + 3] = float.PositiveInfinity;          // row 1: +inf -> NaN row (inf - inf)
        x[2 * n + 7] = float.NaN;                   // row 2: NaN -> NaN row
        // row 3: all -inf -> NaN row
        var y = new float[x.Length];
        fixed (float* px = x, py = y)
        {
            Softmax.Rows(px, py, 4, n);
        }
        for (int j = 0; j < n; j++)
        {
            Assert.Equal(j == 5 ? 1f : 0f, y[j]);
        }
        Assert.All(y.Skip(n), v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void EmptyDoesNothing()
    {
        Softmax.Rows((float*)null, (float*)null, 0, 5);
        Softmax.Rows((float*)null, (float*)null, 5, 0);
    }
}
