namespace Mlx.Core.Tests.Transforms;

/// <summary>Jacobian-vector products against central finite differences of the directional derivative, in float64.</summary>
public class JvpTests
{
    private static double[] Rand(int n, int seed)
    {
        var r = new System.Random(seed);
        return Enumerable.Range(0, n).Select(_ => r.NextDouble() * 2 - 1).ToArray();
    }

    private static void Check(Func<MxArray, MxArray> f, int[] shape, int seed)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        var x = Rand(n, seed);
        var t = Rand(n, seed + 100);
        var (_, jvps) = Mx.Jvp(a => new[] { f(a[0]) }, new[] { Mx.Array(x, shape) }, new[] { Mx.Array(t, shape) });
        const double h = 1e-6;
        var plus = x.Select((v, i) => v + h * t[i]).ToArray();
        var minus = x.Select((v, i) => v - h * t[i]).ToArray();
        var fp = f(Mx.Array(plus, shape)).ToArray<double>();
        var fm = f(Mx.Array(minus, shape)).ToArray<double>();
        var got = jvps[0].ToArray<double>();
        Assert.Equal(fp.Length, got.Length);
        for (int i = 0; i < got.Length; i++)
        {
            double expected = (fp[i] - fm[i]) / (2 * h);
            Assert.True(Math.Abs(expected - got[i]) <= 1e-5 * (1 + Math.Abs(expected)), $"element {i}: {expected} vs {got[i]}");
        }
    }

    [Fact]
    public void ReductionsTakeConcatenateWhereCumsum()
    {
        int[] shape = { 3, 4, 5 };
        Check(x => Mx.Sum(Mx.Square(x), new[] { 0, 2 }), shape, 1);
        Check(x => Mx.Max(x, new[] { 1 }), shape, 2);
        Check(x => Mx.Min(x, new[] { 0, 1 }), shape, 3);
        Check(x => Mx.Take(Mx.Sin(x), Mx.Array(new[] { 3, 0, -1, 3 }), 1), shape, 4);
        Check(x => Mx.Concatenate(new[] { x, Mx.Exp(x) }, 2), shape, 5);
        Check(x => Mx.Where(Mx.Greater(x, Mx.Array(0.0)), Mx.Square(x), Mx.Multiply(x, 3.0)), shape, 6);
        Check(x => Mx.Cumsum(Mx.Tanh(x), 1), shape, 7);
        Check(x => Mx.Softmax(Mx.Transpose(x)[.., 1..3], -1), shape, 8);
    }

    [Fact]
    public void Convolution()
    {
        var w = Mx.Array(Rand(4 * 3 * 3 * 2, 9), new[] { 4, 3, 3, 2 });
        Check(x => Mx.Conv2d(x, w, (1, 2), (1, 1)), new[] { 2, 5, 6, 2 }, 10);
    }

    [Fact]
    public void ProductsAndScans()
    {
        int[] shape = { 3, 5, 7 };
        Check(x => Mx.Prod(x, new[] { 0, 2 }), shape, 11);
        Check(x => Mx.Prod(Mx.Transpose(x), new[] { 1 }), shape, 12);
        Check(x => Mx.Cumprod(Mx.Transpose(x), 1), shape, 13);
        Check(x => Mx.Cumprod(x, 2, reverse: true, inclusive: false), shape, 14);
        Check(x => Mx.Cummax(Mx.Transpose(x, new[] { 2, 0, 1 }), 0), shape, 15);
        Check(x => Mx.Cummin(x, 1, reverse: true), shape, 16);
        // An exclusive max or logaddexp scan starts at -inf, which has no finite difference: that element is left out.
        Check(x => Mx.Cummax(x, 2, inclusive: false)[.., .., 1..], shape, 17);
        Check(x => Mx.Logcumsumexp(Mx.Transpose(x), 0), shape, 18);
        Check(x => Mx.Logcumsumexp(x, 1, reverse: true, inclusive: false)[.., ..^1, ..], shape, 19);
    }

    [Fact]
    public void ProductsAreExactAtZeros()
    {
        // MLX's case: grad of sum(cumprod(x)) at [2, 0, 2, 2, 3] is [1, 38, 0, 0, 0], so the JVP along e_1 is 38.
        var x = Mx.Array(new double[] { 2, 0, 2, 2, 3 });
        var e1 = Mx.Array(new double[] { 0, 1, 0, 0, 0 });
        var (_, jvp) = Mx.Jvp(a => new[] { Mx.Sum(Mx.Cumprod(a[0])) }, new[] { x }, new[] { e1 });
        Assert.Equal(38.0, jvp[0].Item<double>());
        var ones = Mx.OnesLike(x);
        (_, jvp) = Mx.Jvp(a => new[] { Mx.Sum(Mx.Cumprod(a[0])) }, new[] { x }, new[] { ones });
        Assert.Equal(39.0, jvp[0].Item<double>());
        // prod([2, 0, 3]): only the zero's derivative (6) survives, forward and reverse.
        var y = Mx.Array(new double[] { 2, 0, 3 });
        (_, jvp) = Mx.Jvp(a => new[] { Mx.Prod(a[0]) }, new[] { y }, new[] { Mx.OnesLike(y) });
        Assert.Equal(6.0, jvp[0].Item<double>());
        Assert.Equal(new double[] { 0, 6, 0 }, Mx.Grad(a => Mx.Prod(a))(y).ToArray<double>());
    }

    [Fact]
    public void SortAndPartitions()
    {
        int[] shape = { 3, 5, 7 };
        Check(x => Mx.Sort(Mx.Transpose(x), 1), shape, 20);
        Check(x => Mx.Sort(x, null), shape, 21);
        Check(x => Mx.TopK(Mx.Exp(x), 3, 0), shape, 22);
        Check(x => Mx.Partition(x, 2, 1), shape, 23);
        // Indices are piecewise constant: only the product rule's other factor contributes.
        Check(x => Mx.Multiply(Mx.AsType(Mx.ArgSort(x, 2), DType.Float64), x), shape, 24);
        Check(x => Mx.Multiply(Mx.AsType(Mx.ArgMax(x, 1, keepDims: true), DType.Float64), x), shape, 25);
    }

    [Fact]
    public void ScattersAndUpdates()
    {
        int[] shape = { 3, 5, 7 };
        var idx = Mx.Array(new[] { 1, 3, 1 });
        Check(x => Mx.ScatterAdd(Mx.Sin(x), idx, Mx.Exp(x[.., 0..3, ..]), 1), shape, 26);
        // Duplicate indices without a combine: the last write wins, in the tangent as in the value.
        Check(x => Mx.Scatter(Mx.Transpose(x), Mx.Array(new[] { 4, 0, 4 }), Mx.Square(Mx.Transpose(x)[.., 1..4, ..]), 1), shape, 27);
        var order = Mx.ArgSort(Mx.Array(Rand(3 * 5 * 7, 28), shape), 1)[.., 0..2, ..];
        Check(x => Mx.PutAlongAxis(Mx.Sin(x), order, Mx.Square(x[.., 2..4, ..]), 1), shape, 29);
        Check(x => Mx.TakeAlongAxis(Mx.Transpose(x, new[] { 0, 2, 1 }), Mx.Transpose(order, new[] { 0, 2, 1 }), 2), shape, 30);
        Check(x => Mx.SliceUpdate(Mx.Sin(x), Mx.Square(x[.., 0..2, 1..4]), new[] { 0, 1, 2 }, new[] { 3, 5, 7 }, new[] { 1, 2, 2 }), shape, 31);
        Check(x => Mx.Pad(Mx.Transpose(x), new[] { (1, 2), (0, 1), (2, 0) }, 0.5), shape, 32);
        Check(x => Mx.Transpose(x)[Mx.Array(new[] { 6, 0, -2, 0 }), 1..4], shape, 33);
        Check(x => Mx.ScatterMax(Mx.Sin(x), idx, Mx.Multiply(x[.., 0..3, ..], 2.0), 1), shape, 38);
        Check(x => Mx.ScatterMin(Mx.Transpose(x), Mx.Array(new[] { 4, 0, 4 }), Mx.Exp(Mx.Transpose(x)[.., 1..4, ..]), 1), shape, 39);
    }

    [Fact]
    public void ConvolutionGradients()
    {
        // The JVP of a gradient runs through the two gradient primitives.
        var w = Mx.Array(Rand(4 * 3 * 3 * 2, 34), new[] { 4, 3, 3, 2 });
        Check(x => Mx.Grad(y => Mx.Sum(Mx.Square(Mx.Conv2d(y, w, (1, 2), (1, 1)))))(x), new[] { 2, 5, 6, 2 }, 35);
        var x0 = Mx.Array(Rand(2 * 5 * 6 * 2, 36), new[] { 2, 5, 6, 2 });
        Check(v => Mx.Grad(u => Mx.Sum(Mx.Square(Mx.Conv2d(x0, u, (1, 2), (1, 1)))))(v), new[] { 4, 3, 3, 2 }, 37);
    }
}
