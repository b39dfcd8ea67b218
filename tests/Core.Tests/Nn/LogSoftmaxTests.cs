namespace Mlx.Core.Tests.Nn;

/// <summary>The fused log softmax against the formula in double, over sizes, axes, special rows, dtypes and transforms.</summary>
public class LogSoftmaxTests
{
    private static double[] ByHand(double[] row)
    {
        double max = row.Max();
        double lse = Math.Log(row.Sum(v => Math.Exp(v - max)));
        return row.Select(v => v - max - lse).ToArray();
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(5, 17)]
    [InlineData(4, 1031)]
    [InlineData(0, 9)]
    public void MatchesTheFormulaOverEitherAxis(int rows, int n)
    {
        var r = new System.Random(rows * 100 + n);
        var x = Enumerable.Range(0, rows * n).Select(_ => r.NextDouble() * 20 - 10 + 1e3).ToArray();
        var a = Mx.Array(x.Select(v => (float)v).ToArray(), new[] { rows, n });
        Assert.Equal("LogSoftmax", Mlx.Nn.Nn.LogSoftmax(a).Primitive!.Name);
        var y = Mlx.Nn.Nn.LogSoftmax(a).ToArray<float>();
        var y0 = Mx.Contiguous(Mx.Transpose(Mlx.Nn.Nn.LogSoftmax(Mx.Transpose(a), 0))).ToArray<float>();
        for (int i = 0; i < rows; i++)
        {
            var want = ByHand(x.Skip(i * n).Take(n).Select(v => (double)(float)v).ToArray());
            for (int j = 0; j < n; j++)
            {
                Assert.True(Math.Abs(want[j] - y[i * n + j]) <= 2e-6 * (1 + Math.Abs(want[j])), $"[{i},{j}] {y[i * n + j]} vs {want[j]}");
                Assert.Equal(y[i * n + j], y0[i * n + j]);
            }
        }
    }

    [Fact]
    public void SpecialRowsDtypesAndTransforms()
    {
        // A masked row (-inf entries) keeps -inf there; a NaN row is NaN; an all -inf row is NaN, as the formula.
        var a = Mx.Array(new[] { 0f, float.NegativeInfinity, 2f, float.NaN, 1f, 1f, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity }, new[] { 3, 3 });
        var y = Mlx.Nn.Nn.LogSoftmax(a).ToArray<float>();
        var lse = Math.Log(1 + Math.Exp(-2));
        Assert.Equal(-2 - lse, y[0], 5);
        Assert.Equal(float.NegativeInfinity, y[1]);
        Assert.Equal(-lse, y[2], 5);
        Assert.All(y.Skip(3), v => Assert.True(float.IsNaN(v)));
        // float64 and the half types (computed in float32).
        var x = Mx.Array(new[] { 0.5, -1.0, 3.0, 2.0, 0.0, -0.25 }, new[] { 2, 3 });
        var want = ByHand(new[] { 0.5, -1.0, 3.0 }).Concat(ByHand(new[] { 2.0, 0.0, -0.25 })).ToArray();
        var d = Mlx.Nn.Nn.LogSoftmax(x).ToArray<double>();
        for (int i = 0; i < 6; i++) Assert.Equal(want[i], d[i], 12);
        foreach (var dt in new[] { DType.Float16, DType.BFloat16 })
        {
            var h = Mlx.Nn.Nn.LogSoftmax(Mx.AsType(x, dt));
            Assert.Equal(dt, h.DType);
            var hv = Mx.AsType(h, DType.Float64).ToArray<double>();
            for (int i = 0; i < 6; i++) Assert.True(Math.Abs(want[i] - hv[i]) <= 2e-2 * (1 + Math.Abs(want[i])));
        }
        // Gradient against central differences (float64), JVP against the composed formula, vmap.
        var c = Mx.Array(new[] { 1.0, -2.0, 0.5, 0.25, 3.0, -1.0 }, new[] { 2, 3 });
        Func<MxArray, MxArray> f = v => Mx.Sum(Mx.Multiply(Mlx.Nn.Nn.LogSoftmax(v), c));
        L.CheckGrad(f, x.ToArray<double>(), new[] { 2, 3 });
        var t = Mx.Array(new[] { 0.1, 0.2, -0.3, 1.0, -1.0, 0.5 }, new[] { 2, 3 });
        var (_, fast) = Mx.Jvp(v => new[] { Mlx.Nn.Nn.LogSoftmax(v[0]) }, new[] { x }, new[] { t });
        var (_, slow) = Mx.Jvp(v => new[] { Mx.Subtract(v[0], Mx.Logsumexp(v[0], -1, keepDims: true)) }, new[] { x }, new[] { t });
        Assert.Equal(slow[0].ToArray<double>().Select(v => Math.Round(v, 12)), fast[0].ToArray<double>().Select(v => Math.Round(v, 12)));
        var mapped = Mx.Vmap(v => Mlx.Nn.Nn.LogSoftmax(v))(x).ToArray<double>();
        for (int i = 0; i < 6; i++) Assert.Equal(want[i], mapped[i], 12);
    }
}

/// <summary>The one-kernel logsumexp against the formula in double, special rows, dtypes, axes and transforms.</summary>
public class LogSumExpTests
{
    private static double ByHand(IEnumerable<double> row)
    {
        var v = row.ToArray();
        if (v.Any(double.IsNaN)) return double.NaN;
        double max = v.Max();
        return double.IsInfinity(max) ? max : max + Math.Log(v.Sum(t => Math.Exp(t - max)));
    }

    [Theory]
    [InlineData(3, 1)]
    [InlineData(5, 17)]
    [InlineData(2, 1031)]
    public void MatchesTheFormula(int rows, int n)
    {
        var r = new System.Random(rows + n);
        var x = Enumerable.Range(0, rows * n).Select(_ => (float)(r.NextDouble() * 40 - 20 + 1e4)).ToArray();
        var a = Mx.Array(x, new[] { rows, n });
        var got = Mx.Logsumexp(a, 1).ToArray<float>();
        var got0 = Mx.Logsumexp(Mx.Transpose(a), 0, keepDims: true);
        Assert.Equal(new[] { 1, rows }, got0.Shape);
        for (int i = 0; i < rows; i++)
        {
            double want = ByHand(x.Skip(i * n).Take(n).Select(v => (double)v));
            Assert.True(Math.Abs(want - got[i]) <= 2e-7 * Math.Abs(want), $"row {i}: {got[i]} vs {want}");
            Assert.Equal(got[i], got0.ToArray<float>()[i]);
        }
    }

    [Fact]
    public void SpecialRowsDtypesAndTransforms()
    {
        float ninf = float.NegativeInfinity, inf = float.PositiveInfinity;
        var a = Mx.Array(new[] { ninf, ninf, ninf, 1f, inf, 2f, 1f, float.NaN, 3f, ninf, 0f, ninf }, new[] { 4, 3 });
        var got = Mx.Logsumexp(a, -1).ToArray<float>();
        Assert.Equal(new[] { ninf, inf }, got.Take(2));
        Assert.True(float.IsNaN(got[2]));
        Assert.Equal(0f, got[3]);
        var x = Mx.Array(new[] { 0.5, -1.0, 3.0, 2.0, 0.0, -0.25 }, new[] { 2, 3 });
        var want = new[] { ByHand(new[] { 0.5, -1.0, 3.0 }), ByHand(new[] { 2.0, 0.0, -0.25 }) };
        Assert.Equal(want, Mx.Logsumexp(x, 1).ToArray<double>().Select(v => Math.Round(v, 12)).Zip(want, (g, w) => Math.Abs(g - w) < 1e-12 ? w : g));
        foreach (var dt in new[] { DType.Float16, DType.BFloat16 })
        {
            var h = Mx.Logsumexp(Mx.AsType(x, dt), 1);
            Assert.Equal(dt, h.DType);
            var hv = Mx.AsType(h, DType.Float64).ToArray<double>();
            for (int i = 0; i < 2; i++) Assert.True(Math.Abs(hv[i] - want[i]) <= 3e-2);
        }
        // Gradient (softmax) against central differences, JVP, vmap; int input promotes.
        var c = Mx.Array(new[] { 1.0, -2.0 });
        Func<MxArray, MxArray> f = v => Mx.Sum(Mx.Multiply(Mx.Logsumexp(v, 1), c));
        L.CheckGrad(f, x.ToArray<double>(), new[] { 2, 3 });
        var t = Mx.Array(new[] { 0.1, 0.2, -0.3, 1.0, -1.0, 0.5 }, new[] { 2, 3 });
        var (_, jvp) = Mx.Jvp(v => new[] { Mx.Logsumexp(v[0], 1) }, new[] { x }, new[] { t });
        var sm = Mx.Softmax(x, 1).ToArray<double>();
        var tv = t.ToArray<double>();
        var jv = jvp[0].ToArray<double>();
        for (int i = 0; i < 2; i++) Assert.Equal(Enumerable.Range(0, 3).Sum(j => sm[i * 3 + j] * tv[i * 3 + j]), jv[i], 12);
        Assert.Equal(Mx.Logsumexp(x, 1).ToArray<double>(), Mx.Vmap(v => Mx.Logsumexp(v, 0))(x).ToArray<double>());
        Assert.Equal(DType.Float32, Mx.Logsumexp(Mx.Array(new[] { 1, 2 }), 0).DType);
    }
}
