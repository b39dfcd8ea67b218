namespace Mlx.Kernels.Tests;

/// <summary>The vectorized float32 exp against double-precision exp over its whole range.</summary>
public class ExpFloatTests
{
    [Fact]
    public void WithinTwoUlpOverTheWholeRangeAndExactAtTheEdges()
    {
        // A sweep from deep underflow (subnormal results) to overflow, random points, and special values.
        var xs = new List<float>();
        for (double v = -110; v <= 92; v += 0.0137) xs.Add((float)v);
        var rng = new System.Random(5);
        for (int i = 0; i < 100_000; i++) xs.Add((float)(rng.NextDouble() * 20 - 10));
        xs.AddRange(new[] { 0f, -0f, 1f, -1f, 88.7228f, 88.72284f, 88.8f, -87.33655f, -87.4f, -103.2f, -103.98f, -104.5f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, float.MinValue, 1e-30f, -1e-30f });
        xs.Add(7f); // a count that leaves a tail after the vectors
        var x = xs.ToArray();
        var o = new float[x.Length];
        ExpFloat.Run(x, o);
        // Subnormal results have fewer bits: 2 ulp there too (absolute at the subnormal spacing).
        Ulp.AssertWithin("exp", x, o, Math.Exp);
        Assert.Equal(1f, o[xs.IndexOf(0f)]);
        Assert.Equal(float.PositiveInfinity, o[xs.IndexOf(float.PositiveInfinity)]);
        Assert.Equal(0f, o[xs.IndexOf(float.NegativeInfinity)]);
        Assert.True(float.IsNaN(o[xs.FindIndex(float.IsNaN)]));
    }
}
