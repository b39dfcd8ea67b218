using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

public class UpsampleTests
{
    [Fact]
    public void NearestRepeatsPixelsForIntegerScales()
    {
        var x = H.Rand(2 * 3 * 2, 180);
        var y = new Upsample(new[] { 2.0, 3.0 }).Forward(L.A(x, 1, 2, 3, 2));
        Assert.Equal(new[] { 1, 4, 9, 2 }, y.Shape);
        var expected = new List<double>();
        for (int i = 0; i < 4; i++) for (int j = 0; j < 9; j++) for (int c = 0; c < 2; c++) expected.Add(x[((i / 2) * 3 + j / 3) * 2 + c]);
        H.Close(expected, y, 0, 0);
    }

    [Fact]
    public void NearestForFractionalScalesPicksMlxIndices()
    {
        var x = new double[] { 10, 20 };
        // 2 -> 3: round((i + 0.5) * 2/3 - 0.5) with ties to even: 0, 0, 1.
        H.Close(new double[] { 10, 10, 20 }, new Upsample(1.5).Forward(L.A(x, 1, 2, 1)), 0, 0);
        // 4 -> 2: i * 2.
        H.Close(new double[] { 1, 3 }, new Upsample(0.5).Forward(L.A(new double[] { 1, 2, 3, 4 }, 1, 4, 1)), 0, 0);
        // 3 -> 7 (scale 7/3 is not an integer): floor-like nearest, each source index used in order.
        var y = new Upsample(7 / 3.0).Forward(L.A(new double[] { 0, 1, 2 }, 1, 3, 1)).ToArray<double>();
        Assert.Equal(7, y.Length);
        for (int i = 0; i < 7; i++) Assert.Equal(Math.Round((i + 0.5) * 3 / 7 - 0.5, MidpointRounding.ToEven), y[i]);
    }

    private static (int, int, double)[] LinearTaps(int n, int m, double scale, bool alignCorners)
    {
        var taps = new (int, int, double)[m];
        for (int i = 0; i < m; i++)
        {
            // MLX centers the m samples on the input: (i + 0.5) / scale - 0.5 when m = scale * n exactly.
            double p = alignCorners ? i * (n - 1.0) / Math.Max(m - 1, 1) : i / scale - ((m - 1) / scale - n + 1) / 2;
            p = Math.Clamp(p, 0, n - 1);
            int l = (int)Math.Floor(p);
            taps[i] = (l, (int)Math.Ceiling(p), p - l);
        }
        return taps;
    }

    [Theory]
    [InlineData(false, 2.0, 2.0)]
    [InlineData(true, 2.0, 2.0)]
    [InlineData(false, 1.5, 3.0)]
    [InlineData(true, 2.5, 1.0)]
    public void BilinearMatchesTheFormula(bool alignCorners, double sh, double sw)
    {
        int h = 3, w = 4, c = 2;
        var x = H.Rand(h * w * c, 181);
        var y = new Upsample(new[] { sh, sw }, "linear", alignCorners).Forward(L.A(x, 1, h, w, c));
        int mh = (int)(sh * h), mw = (int)(sw * w);
        Assert.Equal(new[] { 1, mh, mw, c }, y.Shape);
        var th = LinearTaps(h, mh, sh, alignCorners);
        var tw = LinearTaps(w, mw, sw, alignCorners);
        var expected = new List<double>();
        double X(int i, int j, int ch) => x[(i * w + j) * c + ch];
        for (int i = 0; i < mh; i++)
        for (int j = 0; j < mw; j++)
        for (int ch = 0; ch < c; ch++)
        {
            var (i0, i1, a) = th[i];
            var (j0, j1, b) = tw[j];
            expected.Add((1 - a) * (1 - b) * X(i0, j0, ch) + (1 - a) * b * X(i0, j1, ch) + a * (1 - b) * X(i1, j0, ch) + a * b * X(i1, j1, ch));
        }
        H.Close(expected, y, 1e-6, 1e-6);
    }

    [Fact]
    public void CubicWithAlignedCornersUsesTheKeysKernel()
    {
        int n = 5, m = 9;
        var x = H.Rand(n, 182);
        var y = new Upsample(m / (double)n, "cubic", alignCorners: true).Forward(L.A(x, 1, n, 1));
        Assert.Equal(new[] { 1, m, 1 }, y.Shape);
        double K(double d)
        {
            const double a = -0.75;
            d = Math.Abs(d);
            return d <= 1 ? ((a + 2) * d - (a + 3)) * d * d + 1 : d < 2 ? (((d - 5) * d + 8) * d - 4) * a : 0;
        }
        var expected = new double[m];
        for (int i = 0; i < m; i++)
        {
            double p = i * (n - 1.0) / (m - 1);
            int f = (int)Math.Floor(p);
            for (int k = f - 1; k <= f + 2; k++) expected[i] += K(p - k) * x[Math.Clamp(k, 0, n - 1)];
        }
        H.Close(expected, y, 1e-5, 1e-5);
    }

    [Fact]
    public void AntialiasedLinearDownscalingAveragesWithATriangleFilter()
    {
        // Scale 0.5 with antialiasing: each output is a normalized triangle-weighted average over a widened window.
        var x = Enumerable.Range(0, 8).Select(i => (double)i).ToArray();
        var y = new Upsample(0.5, "linear", antialias: true).Forward(L.A(x, 1, 8, 1)).ToArray<double>();
        Assert.Equal(4, y.Length);
        for (int i = 0; i < 4; i++)
        {
            double p = (i + 0.5) * 2 - 0.5, sw = 0, s = 0;
            for (int k = 0; k < 8; k++)
            {
                double wgt = Math.Max(0, 1 - Math.Abs(p - k) / 2);
                sw += wgt;
                s += wgt * x[k];
            }
            Assert.Equal(s / sw, y[i], 5);
        }
        Assert.Throws<ArgumentException>(() => new Upsample(2, "nearest", antialias: true));
        Assert.Throws<ArgumentException>(() => new Upsample(2, "linear", alignCorners: true, antialias: true));
        Assert.Throws<ArgumentException>(() => new Upsample(2, "area"));
        Assert.Throws<ArgumentException>(() => new Upsample(new[] { 2.0 }).Forward(Mx.Ones(new[] { 1, 2, 2, 1 })));
    }

    [Fact]
    public void LinearUpsampleGradientMatchesFiniteDifferences()
    {
        var up = new Upsample(new[] { 1.5, 2.0 }, "linear");
        var w = Mx.Array(H.Rand(1 * 3 * 6 * 2, 183), new[] { 1, 3, 6, 2 });
        L.CheckGrad(x => Mx.Sum(Mx.Multiply(up.Forward(x), w)), H.Rand(12, 184), new[] { 1, 2, 3, 2 });
    }
}
