namespace Mlx.Core.Tests;

/// <summary>Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual in every dtype, NaN rules, broadcasting.</summary>
public class ComparisonTests
{
    public static IEnumerable<object[]> RealTypes() => Enum.GetValues<DType>().Where(t => t != DType.Complex64).Select(t => new object[] { t });

    [Theory]
    [MemberData(nameof(RealTypes))]
    public void AllComparisonsInEachType(DType t)
    {
        double[] a = { 0, 1, 1, 0, 1, 0, 1 };
        double[] b = { 0, 0, 1, 1, 1, 0, 0 };
        if (t != DType.Bool)
        {
            a = new double[] { 1, 5, 3, 2, 7, 0, 4, 6, 9, 8, 3, 1, 2, 5, 6, 7, 0 };
            b = new double[] { 2, 5, 1, 2, 8, 1, 4, 5, 9, 9, 2, 1, 3, 5, 7, 6, 0 };
        }
        var x = Mx.Array(a).AsType(t);
        var y = Mx.Array(b).AsType(t);
        Assert.Equal(DType.Bool, Mx.Equal(x, y).DType);
        Assert.Equal(a.Zip(b, (p, q) => p == q), Mx.Equal(x, y).ToArray<bool>());
        Assert.Equal(a.Zip(b, (p, q) => p != q), Mx.NotEqual(x, y).ToArray<bool>());
        Assert.Equal(a.Zip(b, (p, q) => p < q), (x < y).ToArray<bool>());
        Assert.Equal(a.Zip(b, (p, q) => p <= q), (x <= y).ToArray<bool>());
        Assert.Equal(a.Zip(b, (p, q) => p > q), (x > y).ToArray<bool>());
        Assert.Equal(a.Zip(b, (p, q) => p >= q), (x >= y).ToArray<bool>());
        // Against a reversed view.
        var ry = y[Idx.Slice(null, null, -1)];
        var rb = b.Reverse().ToArray();
        Assert.Equal(a.Zip(rb, (p, q) => p < q), (x < ry).ToArray<bool>());
    }

    [Fact]
    public void NaNComparesFalseExceptNotEqual()
    {
        foreach (var t in new[] { DType.Float32, DType.Float64, DType.Float16, DType.BFloat16 })
        {
            var n = Mx.Array(new[] { double.NaN, double.NaN, 1 }).AsType(t);
            var o = Mx.Array(new[] { double.NaN, 1, 1 }).AsType(t);
            Assert.Equal(new[] { false, false, true }, Mx.Equal(n, o).ToArray<bool>());
            Assert.Equal(new[] { true, true, false }, Mx.NotEqual(n, o).ToArray<bool>());
            Assert.Equal(new[] { false, false, false }, (n < o).ToArray<bool>());
            Assert.Equal(new[] { false, false, true }, (n >= o).ToArray<bool>());
        }
    }

    [Fact]
    public void WideIntegersCompareExactly()
    {
        var a = Mx.Array(new[] { (1L << 53) + 1, long.MaxValue });
        var b = Mx.Array(new[] { 1L << 53, long.MaxValue - 1 });
        Assert.Equal(new[] { true, true }, (a > b).ToArray<bool>());
        var u = Mx.Array(new[] { ulong.MaxValue });
        Assert.Equal(new[] { false }, Mx.Equal(u, Mx.Array(new[] { ulong.MaxValue - 1 })).ToArray<bool>());
    }

    [Fact]
    public void ScalarsAndBroadcasting()
    {
        var a = Mx.Array(new[] { 1, 2, 3 });
        Assert.Equal(new[] { false, true, true }, (a > 1).ToArray<bool>());
        Assert.Equal(new[] { true, false, false }, (a < 1.5).ToArray<bool>());
        Assert.Equal(new[] { false, true, false }, Mx.Equal(a, 2).ToArray<bool>());
        var m = Mx.Reshape(Mx.Arange(0, 6), new[] { 2, 3 });
        Assert.Equal(new[] { true, false, false, true, true, true }, (m >= Mx.Array(new[] { 0, 2, 3 })).ToArray<bool>());
        Assert.Equal(new[] { false, false, true, true, true, true }, (m > Mx.Array(new[] { 2, 3 }, new[] { 2, 1 }) - 1).ToArray<bool>());
        Assert.Empty(Mx.Equal(Mx.Zeros(new[] { 0 }), 1.0f).ToArray<bool>());
    }

    [Fact]
    public void ComplexEquality()
    {
        var a = Mx.Array(new[] { new Complex64(1, 2), new Complex64(1, 2) });
        var b = Mx.Array(new[] { new Complex64(1, 2), new Complex64(1, -2) });
        Assert.Equal(new[] { true, false }, Mx.Equal(a, b).ToArray<bool>());
        Assert.Equal(new[] { false, true }, Mx.NotEqual(a, b).ToArray<bool>());
    }
}
