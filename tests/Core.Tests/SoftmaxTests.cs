namespace Mlx.Core.Tests;

/// <summary>Softmax and Logsumexp against double-precision formulas.</summary>
public class SoftmaxTests
{
    private static double[] SoftmaxRef(double[] x)
    {
        double m = x.Max();
        var e = x.Select(v => Math.Exp(v - m)).ToArray();
        double s = e.Sum();
        return e.Select(v => v / s).ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(17)]
    [InlineData(33)]
    [InlineData(1023)]
    public void RowSoftmax(int n)
    {
        var v = H.Rand(3 * n, 51, -5, 5);
        var a = Mx.Array(v, new[] { 3, n }, DType.Float32);
        var expected = v.Chunk(n).SelectMany(r => SoftmaxRef(r.Select(x => (double)(float)x).ToArray())).ToArray();
        H.Close(expected, Mx.Softmax(a, -1), 1e-5, 1e-7);
        H.Close(v.Chunk(n).SelectMany(SoftmaxRef).ToArray(), Mx.Softmax(Mx.Array(v, new[] { 3, n }, DType.Float64), 1), 1e-12, 1e-15);
        // Along axis 0 of the transpose (a strided axis).
        H.Close(expected, Mx.Transpose(Mx.Softmax(Mx.Transpose(a), 0)), 1e-5, 1e-7);
        // Last axis of a transposed (non-contiguous) array, and of a middle axis of a 3-d array.
        var perCol = Enumerable.Range(0, n).Select(r => SoftmaxRef(Enumerable.Range(0, 3).Select(c => (double)(float)v[c * n + r]).ToArray())).ToArray();
        var colsT = Enumerable.Range(0, 3).SelectMany(c => Enumerable.Range(0, n).Select(r => perCol[r][c])).ToArray();
        H.Close(colsT, Mx.Transpose(Mx.Softmax(Mx.Transpose(Mx.Reshape(a, new[] { 3, n })), -1)), 1e-5, 1e-7);
        H.Close(expected, Mx.Reshape(Mx.Softmax(Mx.Reshape(a, new[] { 3, n, 1 }), 1), new[] { 3, n }), 1e-5, 1e-7);
        foreach (var t in new[] { DType.Float16, DType.BFloat16 })
        {
            var r = Mx.Softmax(Mx.Array(v, new[] { 3, n }, t), -1);
            Assert.Equal(t, r.DType);
            var (rt, at) = H.Tol(t);
            H.Close(v.Chunk(n).SelectMany(row => SoftmaxRef(H.RoundTo(row, t))).ToArray(), r, rt, at);
        }
    }

    [Fact]
    public void LargeAndInfiniteInputs()
    {
        H.Close(new[] { 0.5, 0.5 }, Mx.Softmax(Mx.Array(new[] { 1000f, 1000f }), -1));
        H.Close(SoftmaxRef(new[] { -1000.0, 0, 1000 }), Mx.Softmax(Mx.Array(new[] { -1000f, 0f, 1000f }), -1));
        H.Close(new[] { 0.0, 1.0 }, Mx.Softmax(Mx.Array(new[] { float.NegativeInfinity, 0f }), -1));
        Assert.Equal(DType.Float32, Mx.Softmax(Mx.Array(new[] { 1, 2 }), -1).DType);
    }

    [Fact]
    public void AllAxesAndMultipleAxes()
    {
        var v = H.Rand(12, 52);
        var a = Mx.Array(v, new[] { 2, 2, 3 }, DType.Float32);
        H.Close(SoftmaxRef(v.Select(x => (double)(float)x).ToArray()), Mx.Softmax(a));
        var r = Mx.Softmax(a, new[] { 1, 2 }).ToArray<double>();
        var expected = v.Chunk(6).SelectMany(c => SoftmaxRef(c.Select(x => (double)(float)x).ToArray())).ToArray();
        H.Close(expected, r);
    }

    [Fact]
    public void LogsumexpValues()
    {
        var v = new[] { 1.0, 2, 3 };
        Assert.Equal(Math.Log(v.Sum(Math.Exp)), Mx.Logsumexp(Mx.Array(v, DType.Float32)).Item<float>(), 5);
        Assert.Equal(1000 + Math.Log(2), Mx.Logsumexp(Mx.Array(new[] { 1000f, 1000f })).Item<float>(), 3);
        Assert.Equal(double.NegativeInfinity, Mx.Logsumexp(Mx.Array(new[] { double.NegativeInfinity, double.NegativeInfinity })).Item<double>());
        Assert.Equal(double.PositiveInfinity, Mx.Logsumexp(Mx.Array(new[] { double.PositiveInfinity, 1.0 })).Item<double>());
        Assert.True(double.IsNaN(Mx.Logsumexp(Mx.Array(new[] { double.NaN, 1.0 })).Item<double>()));
        var m = Mx.Array(new[] { 0f, 0, 1, 1, 2, 2 }, new[] { 3, 2 });
        H.Close(new[] { Math.Log(2), 1 + Math.Log(2), 2 + Math.Log(2) }, Mx.Logsumexp(m, 1));
        H.Shape(new[] { 3, 1 }, Mx.Logsumexp(m, 1, keepDims: true));
        H.Shape(new[] { 2 }, Mx.Logsumexp(m, 0));
        Assert.Equal(DType.Float32, Mx.Logsumexp(Mx.Array(new[] { 1, 2 })).DType);
        Assert.Throws<ArgumentException>(() => Mx.Logsumexp(Mx.Zeros(new[] { 2, 0 }), 1));
    }

    [Theory]
    [InlineData(100)]
    [InlineData(2049)]
    [InlineData(4097)]
    [InlineData(8193)]
    public void MostlyNegativeInfinityRows(int n)
    {
        var v = Enumerable.Repeat(float.NegativeInfinity, n).ToArray();
        v[^1] = 0;
        var r = Mx.Softmax(Mx.Array(v), -1).ToArray<float>();
        Assert.DoesNotContain(r, float.IsNaN);
        Assert.All(r.Take(n - 1), x => Assert.True(x < 1e-9));
        Assert.Equal(1f, r[^1]);
    }

    [Fact]
    public void EmptyInputs()
    {
        H.Shape(new[] { 0, 3 }, Mx.Softmax(Mx.Zeros(new[] { 0, 3 }), -1));
        Assert.Empty(Mx.Softmax(Mx.Zeros(new[] { 0, 3 }), -1).ToArray<float>());
        Assert.Empty(Mx.Softmax(Mx.Zeros(new[] { 3, 0 }), -1).ToArray<float>());
        Assert.Empty(Mx.Softmax(Mx.Zeros(new[] { 0, 3 }, DType.Float16), -1).ToArray<float>());
        Assert.Empty(Mx.Logsumexp(Mx.Zeros(new[] { 0, 3 }), 1).ToArray<float>());
    }
}
