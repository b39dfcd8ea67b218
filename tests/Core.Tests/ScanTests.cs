namespace Mlx.Core.Tests;

/// <summary>Cumsum, Cumprod, Cummax, Cummin, Logcumsumexp: inclusive, exclusive, reversed, along axes.</summary>
public class ScanTests
{
    private static double[] Prefix(double[] v, Func<double, double, double> op, bool reverse = false, bool inclusive = true, double init = 0)
    {
        var x = reverse ? v.Reverse().ToArray() : v;
        var r = new double[x.Length];
        double acc = init;
        for (int i = 0; i < x.Length; i++)
        {
            if (inclusive)
            {
                acc = i == 0 ? x[i] : op(acc, x[i]);
                r[i] = acc;
            }
            else
            {
                r[i] = i == 0 ? init : acc;
                acc = i == 0 ? x[i] : op(acc, x[i]);
            }
        }
        return reverse ? r.Reverse().ToArray() : r;
    }

    [Theory]
    [MemberData(nameof(H.OddSizeData), MemberType = typeof(H))]
    public void CumsumOverOddSizes(int n)
    {
        var v = H.Rand(n, 31);
        var a = Mx.Array(v);
        H.Close(Prefix(v, (p, q) => p + q), Mx.Cumsum(a), 1e-10, 1e-10);
        H.Close(Prefix(v, (p, q) => p + q, reverse: true), Mx.Cumsum(a, reverse: true), 1e-10, 1e-10);
        H.Close(Prefix(v, (p, q) => p + q, inclusive: false), Mx.Cumsum(a, inclusive: false), 1e-10, 1e-10);
        H.Close(Prefix(v, (p, q) => p + q, reverse: true, inclusive: false), Mx.Cumsum(a, reverse: true, inclusive: false), 1e-10, 1e-10);
        H.Close(Prefix(v, Math.Max), Mx.Cummax(a), 0, 0);
        H.Close(Prefix(v, Math.Min), Mx.Cummin(H.ReversedView(v)), 0, 0);
        var ints = v.Select(x => (int)(x * 10)).ToArray();
        Assert.Equal(Prefix(ints.Select(i => (double)i).ToArray(), (p, q) => p + q).Select(d => (int)d).ToArray(), Mx.Cumsum(Mx.Array(ints)).ToArray<int>());
    }

    [Fact]
    public void KnownValues()
    {
        var a = Mx.Array(new[] { 1, 2, 3, 4 });
        Assert.Equal(new[] { 1, 3, 6, 10 }, Mx.Cumsum(a).ToArray<int>());
        Assert.Equal(new[] { 0, 1, 3, 6 }, Mx.Cumsum(a, inclusive: false).ToArray<int>());
        Assert.Equal(new[] { 10, 9, 7, 4 }, Mx.Cumsum(a, reverse: true).ToArray<int>());
        Assert.Equal(new[] { 9, 7, 4, 0 }, Mx.Cumsum(a, reverse: true, inclusive: false).ToArray<int>());
        Assert.Equal(new[] { 1, 2, 6, 24 }, Mx.Cumprod(a).ToArray<int>());
        Assert.Equal(new[] { 1, 1, 2, 6 }, Mx.Cumprod(a, inclusive: false).ToArray<int>());
        Assert.Equal(new[] { 3, 3, 4, 4 }, Mx.Cummax(Mx.Array(new[] { 3, 1, 4, 1 })).ToArray<int>());
        Assert.Equal(new[] { 3, 1, 1, 1 }, Mx.Cummin(Mx.Array(new[] { 3, 1, 4, 1 })).ToArray<int>());
    }

    [Fact]
    public void AlongAxesAndFlattened()
    {
        var m = Mx.Reshape(Mx.Arange(1, 7), new[] { 2, 3 });
        Assert.Equal(new[] { 1, 3, 6, 4, 9, 15 }, Mx.Cumsum(m, 1).ToArray<int>());
        Assert.Equal(new[] { 1, 2, 3, 5, 7, 9 }, Mx.Cumsum(m, 0).ToArray<int>());
        Assert.Equal(new[] { 1, 3, 6, 10, 15, 21 }, Mx.Cumsum(m).ToArray<int>());
        H.Shape(new[] { 6 }, Mx.Cumsum(m));
        Assert.Equal(new[] { 1, 5, 2, 7, 3, 9 }, Mx.Cumsum(Mx.Transpose(m), 1).ToArray<int>());
        Assert.Equal(new[] { 1, 2, 3, 5, 7, 9 }, Mx.Cumsum(m, -2).ToArray<int>());
    }

    [Fact]
    public void ScanTypes()
    {
        Assert.Equal(DType.Int32, Mx.Cumsum(Mx.Array(new[] { true, true })).DType);
        Assert.Equal(new[] { 1, 2 }, Mx.Cumsum(Mx.Array(new[] { true, true })).ToArray<int>());
        Assert.Equal(DType.Int32, Mx.Cumsum(Mx.Array(new sbyte[] { 100, 100 })).DType);
        Assert.Equal(new[] { 100, 200 }, Mx.Cumsum(Mx.Array(new sbyte[] { 100, 100 })).ToArray<int>());
        Assert.Equal(DType.UInt32, Mx.Cumsum(Mx.Array(new byte[] { 200, 100 })).DType);
        Assert.Equal(DType.Float16, Mx.Cumsum(Mx.Array(new[] { (Half)1, (Half)2 })).DType);
        H.Close(new double[] { 1, 3 }, Mx.Cumsum(Mx.Array(new[] { (BFloat16)1f, (BFloat16)2f })));
        Assert.Equal(DType.Int8, Mx.Cummax(Mx.Array(new sbyte[] { 1, 2 })).DType);
    }

    [Fact]
    public void CummaxCumminPropagateNaN()
    {
        var a = Mx.Array(new[] { 1f, float.NaN, 3f, 0f });
        var cmax = Mx.Cummax(a).ToArray<float>();
        Assert.Equal(1f, cmax[0]);
        Assert.True(cmax.Skip(1).All(float.IsNaN));
        var cmin = Mx.Cummin(a).ToArray<float>();
        Assert.True(cmin.Skip(1).All(float.IsNaN));
        var rev = Mx.Cummax(a, reverse: true).ToArray<float>();
        Assert.True(float.IsNaN(rev[0]) && float.IsNaN(rev[1]));
        Assert.Equal(new[] { 3f, 0f }, rev.Skip(2).ToArray());
    }

    [Fact]
    public void ExclusiveMaxMinStartFromInfinityForFloats()
    {
        // MLX's CPU scan: init is -inf (max) / +inf (min) for floating inputs, the type's limits for integers.
        var x = Mx.Array(new[] { 2f, 1f, 3f });
        Assert.Equal(new[] { float.NegativeInfinity, 2f, 2f }, Mx.Cummax(x, inclusive: false).ToArray<float>());
        Assert.Equal(new[] { float.PositiveInfinity, 2f, 1f }, Mx.Cummin(x, inclusive: false).ToArray<float>());
        Assert.Equal(new[] { double.NegativeInfinity, 2 }, Mx.Cummax(Mx.Array(new[] { 2.0, 1 }), inclusive: false).ToArray<double>());
        Assert.Equal(new[] { int.MinValue, 2, 2 }, Mx.Cummax(Mx.Array(new[] { 2, 1, 3 }), inclusive: false).ToArray<int>());
        Assert.Equal(new[] { int.MaxValue, 2, 1 }, Mx.Cummin(Mx.Array(new[] { 2, 1, 3 }), inclusive: false).ToArray<int>());
    }

    [Fact]
    public void BoolScansStayCanonical()
    {
        var b = Mx.Array(new[] { true, false, true });
        Assert.Equal(new[] { true, true, false }, Mx.Cummin(b, inclusive: false).ToArray<bool>());
        Assert.Equal(new[] { false, true, true }, Mx.Cummax(b, inclusive: false).ToArray<bool>());
        Assert.Equal(new[] { true, true, true }, Mx.Cummax(b).ToArray<bool>());
        Assert.Equal(new[] { true, false, false }, Mx.Cummin(b).ToArray<bool>());
    }

    [Fact]
    public void Logcumsumexp()
    {
        var v = new[] { 0.0, 1, -2, 1000, 3 };
        var expected = new double[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            double m = v.Take(i + 1).Max();
            expected[i] = m + Math.Log(v.Take(i + 1).Sum(x => Math.Exp(x - m)));
        }
        H.Close(expected, Mx.Logcumsumexp(Mx.Array(v)), 1e-12, 1e-12);
        Assert.Equal(DType.Float32, Mx.Logcumsumexp(Mx.Array(new[] { 1, 2 })).DType);
        H.Close(new[] { 1.0, 2 + Math.Log(1 + Math.Exp(-1)) }, Mx.Logcumsumexp(Mx.Array(new[] { 1, 2 })));
    }

    [Fact]
    public void EmptyScans()
    {
        Assert.Empty(Mx.Cumsum(Mx.Zeros(new[] { 0 })).ToArray<float>());
        H.Shape(new[] { 3, 0 }, Mx.Cumprod(Mx.Zeros(new[] { 3, 0 }), 1));
        H.Shape(new[] { 0, 4 }, Mx.Cummax(Mx.Zeros(new[] { 0, 4 }), 1));
        Assert.Empty(Mx.Cummax(Mx.Zeros(new[] { 0, 4 }), 1).ToArray<float>());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void EveryFiberOfA3DArrayMatchesThePrefixByHand(int axis)
    {
        // Large enough that the threads split the trailing rows mid-way (columns of (3, 37, 700) along axis 1).
        int[] shape = { 3, 37, 700 };
        var v = H.Rand(shape.Aggregate(1, (p, q) => p * q), 35, -1.5, 1.5);
        var a = Mx.Array(v, shape);
        var ops = new (Func<MxArray, bool, bool, MxArray> Mx, Func<double, double, double> Op, double Init)[]
        {
            ((x, r, i) => Mx.Cumsum(x, axis, r, i), (p, q) => p + q, 0),
            ((x, r, i) => Mx.Cumprod(x, axis, r, i), (p, q) => p * q, 1),
            ((x, r, i) => Mx.Cummax(x, axis, r, i), Math.Max, double.NegativeInfinity),
            ((x, r, i) => Mx.Logcumsumexp(x, axis, r, i), (p, q) => Math.Max(p, q) + Math.Log(1 + Math.Exp(-Math.Abs(p - q))), double.NegativeInfinity),
        };
        int n = shape[axis];
        int inner = shape.Skip(axis + 1).Aggregate(1, (p, q) => p * q), outer = v.Length / n / inner;
        foreach (var (op, f, init) in ops)
        {
            foreach (var (reverse, inclusive) in new[] { (false, true), (true, true), (false, false), (true, false) })
            {
                var got = op(a, reverse, inclusive).ToArray<double>();
                for (int o = 0; o < outer; o += 2)
                {
                    for (int c = 0; c < inner; c += 97)
                    {
                        var fiber = Enumerable.Range(0, n).Select(i => v[(o * n + i) * inner + c]).ToArray();
                        var want = Prefix(fiber, f, reverse, inclusive, init);
                        for (int i = 0; i < n; i++)
                        {
                            double g = got[(o * n + i) * inner + c];
                            Assert.True(want[i] == g || Math.Abs(want[i] - g) <= 1e-9 * (1 + Math.Abs(want[i])), $"axis {axis}, reverse {reverse}, inclusive {inclusive}, fiber ({o}, {c}) [{i}]: {g} vs {want[i]}");
                        }
                    }
                }
            }
        }
        // int32 and float16 along the same axis.
        var ints = Mx.AsType(Mx.Multiply(a, 10), DType.Int32);
        var iv = ints.ToArray<int>();
        var isum = Mx.Cumsum(ints, axis, inclusive: false).ToArray<int>();
        var h = Mx.Cumsum(Mx.AsType(a, DType.Float16), axis, reverse: true);
        Assert.Equal(DType.Float16, h.DType);
        var hv = Mx.AsType(h, DType.Float64).ToArray<double>();
        var hx = Mx.AsType(Mx.AsType(a, DType.Float16), DType.Float64).ToArray<double>();
        for (int o = 0; o < outer; o++)
        {
            int c = (o * 31) % inner;
            var fiber = Enumerable.Range(0, n).Select(i => (double)iv[(o * n + i) * inner + c]).ToArray();
            var want = Prefix(fiber, (p, q) => p + q, inclusive: false);
            for (int i = 0; i < n; i++) Assert.Equal((int)want[i], isum[(o * n + i) * inner + c]);
            var hf = Enumerable.Range(0, n).Select(i => hx[(o * n + i) * inner + c]).ToArray();
            var hw = Prefix(hf, (p, q) => p + q, reverse: true);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(hw[i] - hv[(o * n + i) * inner + c]) <= 0.05 * (1 + Math.Abs(hw[i])));
        }
    }

    [Fact]
    public void InclusiveExclusiveAndReverseRelations()
    {
        // After MLX's test_scans: exclusive is inclusive shifted by one; reverse equals scanning the reversed input.
        var a = Mx.Array(H.RandF(6 * 7 * 8, 33), new[] { 6, 7, 8 });
        Func<MxArray, int, bool, bool, MxArray>[] ops =
        {
            (x, ax, rev, inc) => Mx.Cumsum(x, ax, rev, inc),
            (x, ax, rev, inc) => Mx.Cumprod(x, ax, rev, inc),
            (x, ax, rev, inc) => Mx.Cummax(x, ax, rev, inc),
            (x, ax, rev, inc) => Mx.Cummin(x, ax, rev, inc),
        };
        foreach (var op in ops)
        {
            for (int ax = 0; ax < 3; ax++)
            {
                int n = a.Shape[ax];
                Idx All() => ..;
                Idx[] Sel(Idx s) => Enumerable.Range(0, 3).Select(k => k == ax ? s : All()).ToArray();
                var inc = op(a, ax, false, true);
                var exc = op(a, ax, false, false);
                Assert.True(Mx.ArrayEqual(inc[Sel(..(n - 1))], exc[Sel(1..)]).Item<bool>());
                var rev = Mx.Arange(n - 1, -1, -1);
                var viaFlip = op(a[Sel(rev)], ax, false, true)[Sel(rev)];
                Assert.True(Mx.ArrayEqual(viaFlip, op(a, ax, true, true)).Item<bool>());
                var excRev = op(a, ax, true, false);
                Assert.True(Mx.ArrayEqual(viaFlip[Sel(1..)], excRev[Sel(..(n - 1))]).Item<bool>());
            }
        }
    }
}
