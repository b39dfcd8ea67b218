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
}
