namespace Mlx.Core.Tests.Nn;

/// <summary>mx.fast.layer_norm and rms_norm against statistics computed by hand in double, finite differences and MLX's rules.</summary>
public class FastNormTests
{
    private static double[] Rand(int n, int seed, double offset = 0)
    {
        var r = new System.Random(seed);
        return Enumerable.Range(0, n).Select(_ => offset + r.NextDouble() * 4 - 2).ToArray();
    }

    private static double[] LayerNormByHand(double[] x, int n, double[]? w, double[]? b, double eps, bool rms = false)
    {
        var y = new double[x.Length];
        for (int r = 0; r * n < x.Length; r++)
        {
            var row = x.Skip(r * n).Take(n).ToArray();
            double mean = rms ? 0 : row.Average();
            double var = row.Average(v => (v - mean) * (v - mean));
            for (int i = 0; i < n; i++)
                y[r * n + i] = (row[i] - mean) / Math.Sqrt(var + eps) * (w?[i] ?? 1) + (b?[i] ?? 0);
        }
        return y;
    }

    private static void Close(double[] want, float[] got, double tol)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) <= tol * (1 + Math.Abs(want[i])), $"element {i}: {got[i]} vs {want[i]}");
    }

    public static TheoryData<int, int, bool, bool> Shapes() => new()
    {
        { 3, 1, true, true }, { 5, 7, true, true }, { 4, 33, false, false }, { 9, 1031, true, false }, { 2, 64, false, true }, { 0, 5, true, true },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LayerNormMatchesStatisticsByHand(int rows, int n, bool weight, bool bias)
    {
        var x = Rand(rows * n, 1);
        var w = weight ? Rand(n, 2) : null;
        var b = bias ? Rand(n, 3) : null;
        var y = Mx.Fast.LayerNorm(Mx.Array(x.Select(v => (float)v).ToArray(), new[] { rows, n }),
            w is null ? null : Mx.Array(w.Select(v => (float)v).ToArray()), b is null ? null : Mx.Array(b.Select(v => (float)v).ToArray()), 1e-5);
        Assert.Equal(DType.Float32, y.DType);
        Assert.Equal(new[] { rows, n }, y.Shape);
        Close(LayerNormByHand(x, n, w, b, 1e-5), y.ToArray<float>(), 2e-6);
        var r = Mx.Fast.RmsNorm(Mx.Array(x.Select(v => (float)v).ToArray(), new[] { rows, n }), w is null ? null : Mx.Array(w.Select(v => (float)v).ToArray()), 1e-5);
        Close(LayerNormByHand(x, n, w, null, 1e-5, rms: true), r.ToArray<float>(), 2e-6);
    }

    [Fact]
    public void ALargeMeanDoesNotCancelTheVariance()
    {
        // Values near 1e4 with spread 1: a one-pass E[x^2] - E[x]^2 in float32 loses every digit of the variance.
        var x = Rand(2 * 257, 4, offset: 1e4);
        var y = Mx.Fast.LayerNorm(Mx.Array(x.Select(v => (float)v).ToArray(), new[] { 2, 257 }), null, null);
        // The input itself is rounded to float32 (ulp 1e-3 at 1e4): compare with the statistics of the rounded values.
        Close(LayerNormByHand(x.Select(v => (double)(float)v).ToArray(), 257, null, null, 1e-5), y.ToArray<float>(), 2e-5);
    }

    [Fact]
    public void ViewsHigherRanksHalfTypesAndDouble()
    {
        var x = Rand(6 * 5 * 11, 5);
        var w = Rand(6, 6);
        var b = Rand(6, 7);
        // A transposed view (11, 5, 6) of a (6, 5, 11) array, normalized over its last axis.
        var a = Mx.Transpose(Mx.Array(x, new[] { 6, 5, 11 }));
        var rowMajor = Mx.Contiguous(a).ToArray<double>();
        var want = LayerNormByHand(rowMajor, 6, w, b, 1e-6);
        var y = Mx.Fast.LayerNorm(a, Mx.Array(w), Mx.Array(b), 1e-6);
        Assert.Equal(DType.Float64, y.DType);
        Assert.Equal(new[] { 11, 5, 6 }, y.Shape);
        var got = y.ToArray<double>();
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-12 * (1 + Math.Abs(want[i])));
        foreach (var dt in new[] { DType.Float16, DType.BFloat16 })
        {
            var h = Mx.Fast.LayerNorm(Mx.AsType(a, dt), Mx.AsType(Mx.Array(w), dt), Mx.AsType(Mx.Array(b), dt), 1e-6);
            Assert.Equal(dt, h.DType);
            Close(want, Mx.AsType(h, DType.Float32).ToArray<float>(), dt == DType.Float16 ? 4e-3 : 3e-2);
        }
        // A float32 input with a float64 weight promotes, as MLX's result type does.
        Assert.Equal(DType.Float64, Mx.Fast.RmsNorm(Mx.AsType(a, DType.Float32), Mx.Array(w)).DType);
    }

    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        int rows = 3, n = 7;
        var x0 = Rand(rows * n, 8);
        var w0 = Rand(n, 9);
        var b0 = Rand(n, 10);
        var cot = Mx.Array(Rand(rows * n, 11), new[] { rows, n });
        // f(x, w, b) = sum(norm(x) * c) for a fixed random c, in float64.
        Func<MxArray[], MxArray>[] fs =
        {
            a => Mx.Sum(Mx.Multiply(Mx.Fast.LayerNorm(a[0], a[1], a[2], 1e-3), cot)),
            a => Mx.Sum(Mx.Multiply(Mx.Fast.RmsNorm(a[0], a[1], 1e-3), cot)),
            a => Mx.Sum(Mx.Multiply(Mx.Fast.LayerNorm(a[0], null, null, 1e-3), cot)),
        };
        foreach (var f in fs)
        {
            var inputs = new[] { Mx.Array(x0, new[] { rows, n }), Mx.Array(w0), Mx.Array(b0) };
            for (int k = 0; k < 3; k++)
            {
                int which = k;
                L.CheckGrad(v => f(inputs.Select((a, j) => j == which ? v : a).ToArray()), inputs[k].ToArray<double>(), inputs[k].Shape);
            }
        }
    }

    [Fact]
    public void ForwardModeVmapAndSecondOrder()
    {
        var x = Mx.Array(Rand(4 * 9, 12), new[] { 4, 9 });
        var w = Mx.Array(Rand(9, 13));
        var b = Mx.Array(Rand(9, 14));
        var t = Mx.Array(Rand(4 * 9, 15), new[] { 4, 9 });
        MxArray Composed(MxArray a) =>
            Mx.Add(Mx.Multiply(Mx.Divide(Mx.Subtract(a, Mx.Mean(a, -1, keepDims: true)), Mx.Sqrt(Mx.Add(Mx.Var(a, -1, keepDims: true), 1e-5))), w), b);
        var (_, fast) = Mx.Jvp(a => new[] { Mx.Fast.LayerNorm(a[0], w, b) }, new[] { x }, new[] { t });
        var (_, slow) = Mx.Jvp(a => new[] { Composed(a[0]) }, new[] { x }, new[] { t });
        Close(slow[0].ToArray<double>(), fast[0].AsType(DType.Float32).ToArray<float>(), 1e-6);
        // vmap over a leading axis equals the op on the stacked input.
        var mapped = Mx.Vmap(a => Mx.Fast.LayerNorm(a, w, b))(Mx.Reshape(x, new[] { 2, 2, 9 }));
        Close(Mx.Fast.LayerNorm(x, w, b).ToArray<double>(), Mx.Reshape(mapped, new[] { 4, 9 }).AsType(DType.Float32).ToArray<float>(), 1e-6);
        // The gradient is itself differentiable: d/dx of sum(grad) matches the composed function's.
        Func<MxArray, MxArray> gf = a => Mx.Sum(Mx.Square(Mx.Grad(z => Mx.Sum(Mx.Square(Mx.Fast.RmsNorm(z, w))))(a)));
        Func<MxArray, MxArray> gs = a => Mx.Sum(Mx.Square(Mx.Grad(z => Mx.Sum(Mx.Square(Mx.Multiply(Mx.Multiply(z, Mx.Rsqrt(Mx.Add(Mx.Mean(Mx.Square(z), -1, keepDims: true), 1e-5))), w))))(a)));
        Close(Mx.Grad(gs)(x).ToArray<double>(), Mx.Grad(gf)(x).AsType(DType.Float32).ToArray<float>(), 1e-5);
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        var x = Mx.Zeros(new[] { 2, 3 });
        Assert.Throws<ArgumentException>(() => Mx.Fast.LayerNorm(Mx.Array(1f), null, null));
        Assert.Throws<ArgumentException>(() => Mx.Fast.LayerNorm(x, Mx.Zeros(new[] { 1, 3 }), null));
        Assert.Throws<ArgumentException>(() => Mx.Fast.RmsNorm(x, Mx.Zeros(new[] { 4 })));
        Assert.Throws<ArgumentException>(() => Mx.Fast.RmsNorm(Mx.Zeros(new[] { 2, 3 }, DType.Int32), null));
    }

    [Fact]
    public void LayersUseTheFusedOps()
    {
        var ln = new Mlx.Nn.LayerNorm(5);
        var x = Mx.Array(Rand(15, 16).Select(v => (float)v).ToArray(), new[] { 3, 5 });
        Assert.Equal("LayerNorm", ln.Forward(x).Primitive!.Name);
        Assert.Equal("RMSNorm", new Mlx.Nn.RMSNorm(5).Forward(x).Primitive!.Name);
        Close(LayerNormByHand(x.ToArray<float>().Select(v => (double)v).ToArray(), 5, null, null, 1e-5), new Mlx.Nn.LayerNorm(5, affine: false).Forward(x).ToArray<float>(), 2e-6);
    }
}
