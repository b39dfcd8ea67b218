using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

public class PositionalEncodingTests
{
    private static double[] RopeByHand(double[] x, int rows, int t, int d, int dims, bool traditional, double @base, double scale, int offset)
    {
        var y = (double[])x.Clone();
        int half = dims / 2;
        for (int r = 0; r < rows; r++)
        for (int p = 0; p < t; p++)
        {
            int o = (r * t + p) * d;
            for (int j = 0; j < half; j++)
            {
                double theta = (offset + p) * scale * Math.Pow(@base, -(double)j / half);
                int a = traditional ? o + 2 * j : o + j;
                int b = traditional ? o + 2 * j + 1 : o + j + half;
                y[a] = x[a] * Math.Cos(theta) - x[b] * Math.Sin(theta);
                y[b] = x[a] * Math.Sin(theta) + x[b] * Math.Cos(theta);
            }
        }
        return y;
    }

    [Theory]
    [InlineData(false, 8, 10000.0, 1.0, 0)]
    [InlineData(true, 8, 10000.0, 1.0, 0)]
    [InlineData(false, 4, 500.0, 0.5, 3)]
    [InlineData(true, 6, 10000.0, 2.0, 7)]
    public void RoPERotatesFeaturePairsByPositionTimesFrequency(bool traditional, int dims, double @base, double scale, int offset)
    {
        int b = 2, h = 2, t = 5, d = 8;
        var x = H.Rand(b * h * t * d, 160);
        var rope = new RoPE(dims, traditional, @base, scale);
        Assert.Empty(rope.Parameters());
        var y = rope.Forward(L.A(x, b, h, t, d), offset);
        Assert.Equal(new[] { b, h, t, d }, y.Shape);
        H.Close(RopeByHand(x, b * h, t, d, dims, traditional, @base, scale, offset), y, 1e-5, 1e-5);
        // 3-D input (B, T, D) rotates along T as well.
        var y3 = rope.Forward(L.A(x, b * h, t, d), offset);
        H.Close(y.ToArray<double>(), y3, 0, 0);
    }

    [Fact]
    public void RoPEWithPerBatchOffsetsCustomFrequenciesAndFiveDims()
    {
        int b = 3, h = 2, t = 4, d = 6;
        var x = H.Rand(b * h * t * d, 161);
        var offsets = new[] { 0, 5, 2 };
        var y = new RoPE(4).Forward(L.A(x, b, h, t, d), Mx.Array(offsets));
        var expected = new List<double>();
        for (int n = 0; n < b; n++)
        {
            expected.AddRange(RopeByHand(x.Skip(n * h * t * d).Take(h * t * d).ToArray(), h, t, d, 4, false, 10000, 1, offsets[n]));
        }
        H.Close(expected, y, 1e-5, 1e-5);

        // freqs replaces base: theta = position / freq.
        var freqs = new[] { 1.0, 4.0 };
        var yf = Mlx.Nn.Nn.Rope(L.A(x, b * h, t, d), 4, traditional: true, @base: null, freqs: Mx.Array(freqs));
        var ef = (double[])x.Clone();
        for (int r = 0; r < b * h; r++)
        for (int p = 0; p < t; p++)
        for (int j = 0; j < 2; j++)
        {
            int o = (r * t + p) * d + 2 * j;
            double th = p / freqs[j];
            ef[o] = x[o] * Math.Cos(th) - x[o + 1] * Math.Sin(th);
            ef[o + 1] = x[o] * Math.Sin(th) + x[o + 1] * Math.Cos(th);
        }
        H.Close(ef, yf, 1e-5, 1e-5);
        Assert.Throws<ArgumentException>(() => Mlx.Nn.Nn.Rope(L.A(x, b * h, t, d), 4, freqs: Mx.Array(freqs)));

        // Five dims: the leading axes beyond the batch fold into heads.
        var y5 = Mlx.Nn.Nn.Rope(L.A(x, b, 1, h, t, d), 4, offset: 1);
        H.Close(RopeByHand(x, b * h, t, d, 4, false, 10000, 1, 1), y5, 1e-5, 1e-5);
        Assert.Equal(new[] { b, 1, h, t, d }, y5.Shape);
    }

    [Fact]
    public void RoPEKeepsNormsAndRejectsBadDims()
    {
        var x = Mx.Random.Normal(new[] { 1, 6, 4 });
        var y = Mlx.Nn.Nn.Rope(x, 4);
        H.Close(Mx.Sum(Mx.Square(x), -1).ToArray<double>(), Mx.Sum(Mx.Square(y), -1), 1e-5, 1e-5);
        Assert.Throws<ArgumentException>(() => Mlx.Nn.Nn.Rope(x, 3));
        Assert.Throws<ArgumentException>(() => Mlx.Nn.Nn.Rope(x, 6));
        Assert.Throws<ArgumentException>(() => Mlx.Nn.Nn.Rope(Mx.Ones(new[] { 4, 4 }), 4));
    }

    [Theory]
    [InlineData(8, false, false, null)]
    [InlineData(6, true, true, 1.0)]
    [InlineData(2, false, false, null)]
    public void SinusoidalEncodingMatchesTheFormula(int dims, bool cosFirst, bool fullTurns, double? scale)
    {
        var pe = new SinusoidalPositionalEncoding(dims, scale: scale, cosFirst: cosFirst, fullTurns: fullTurns);
        Assert.Empty(pe.Parameters());
        var x = new double[] { 0, 1, 2.5, 17, 300 };
        var y = pe.Forward(Mx.Array(x));
        Assert.Equal(new[] { x.Length, dims }, y.Shape);
        int half = dims / 2;
        double s = scale ?? Math.Sqrt(2.0 / dims);
        var expected = new List<double>();
        foreach (var v in x)
        {
            var sig = Enumerable.Range(0, half).Select(j =>
            {
                double oneZero = half == 1 ? 1 : 1 - (double)j / (half - 1);
                double f = Math.Exp(oneZero * (Math.Log(1) - Math.Log(1e-4)) + Math.Log(1e-4));
                return fullTurns ? f * 2 * Math.PI : f;
            }).ToArray();
            var sin = sig.Select(f => Math.Sin(v * f) * s);
            var cos = sig.Select(f => Math.Cos(v * f) * s);
            expected.AddRange(cosFirst ? cos.Concat(sin) : sin.Concat(cos));
        }
        H.Close(expected, y, 1e-4, 1e-4);
        Assert.Throws<ArgumentException>(() => new SinusoidalPositionalEncoding(5));
    }

    [Fact]
    public void ALiBiSlopesAndBiases()
    {
        H.Close(Enumerable.Range(1, 8).Select(i => Math.Pow(0.5, i)).ToArray(), ALiBi.CreateAlibiSlope(8), 1e-7, 0);
        Assert.Equal(new[] { 8, 1, 1 }, ALiBi.CreateAlibiSlope(8).Shape);
        // 6 heads: the 4-head slopes, then the even-indexed 8-head slopes.
        H.Close(new[] { 0.25, 1 / 16.0, 1 / 64.0, 1 / 256.0, 0.5, 0.125 }, ALiBi.CreateAlibiSlope(6), 1e-7, 0);

        int heads = 4, lq = 2, lk = 5, offset = 3;
        var scores = H.Rand(2 * heads * lq * lk, 170);
        var mask = H.Rand(lq * lk, 171);
        var y = new ALiBi().Forward(L.A(scores, 2, heads, lq, lk), offset, L.A(mask, lq, lk));
        Assert.Equal(new[] { 2, heads, lq, lk }, y.Shape);
        var expected = new double[scores.Length];
        for (int n = 0; n < 2; n++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < lq; i++)
        for (int j = 0; j < lk; j++)
        {
            int idx = ((n * heads + h) * lq + i) * lk + j;
            double slope = Math.Pow(2, -8.0 / heads * (h + 1));
            expected[idx] = scores[idx] - Math.Abs(offset + i - j) * slope + mask[i * lk + j];
        }
        H.Close(expected, y, 1e-12, 1e-12);
    }
}
