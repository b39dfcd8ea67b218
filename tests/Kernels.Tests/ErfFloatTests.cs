namespace Mlx.Kernels.Tests;

/// <summary>The vectorized float32 erf against MathNet's double-precision erf over its whole range.</summary>
public class ErfFloatTests
{
    private static float[] Points()
    {
        var xs = new List<float>();
        for (double v = -6; v <= 6; v += 0.000731) xs.Add((float)v);
        // Tiny arguments (erf is 2x/sqrt(pi) there, relative accuracy matters), the seams at 1 and 4, random points.
        for (double v = 1e-30; v < 1; v *= 1.37) { xs.Add((float)v); xs.Add((float)-v); }
        foreach (float seam in new[] { 1f, 4f })
            for (int k = -64; k <= 64; k++) xs.Add(BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(seam) + k));
        var rng = new System.Random(11);
        for (int i = 0; i < 200_000; i++) xs.Add((float)(rng.NextDouble() * 10 - 5));
        xs.AddRange(new[] { 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, float.MinValue, float.Epsilon, -float.Epsilon, 1e-38f });
        xs.Add(0.5f); // leaves a tail after the vectors
        return xs.ToArray();
    }

    [Fact]
    public void VectorAndScalarPathsAreWithinTwoUlpOfTheExactValue()
    {
        var x = Points();
        Assert.NotEqual(0, x.Length % 8);
        var o = new float[x.Length];
        ErfFloat.Run(x, o);
        long worst = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float want = float.IsNaN(x[i]) ? float.NaN : (float)MathNet.Numerics.SpecialFunctions.Erf(x[i]);
            long d = Ulp.Distance(o[i], want);
            worst = Math.Max(worst, d);
            Assert.True(d <= 2, $"erf({x[i]:R}) = {o[i]:R}, want {want:R}");
            Assert.True(Ulp.Distance(ErfFloat.Erf(x[i]), want) <= 2, $"scalar erf({x[i]:R}) = {ErfFloat.Erf(x[i]):R}, want {want:R}");
        }
        Assert.Equal(0f, o[Array.IndexOf(x, 0f)]);
        Assert.True(float.IsNegative(o[Array.FindIndex(x, v => v == 0 && float.IsNegative(v))]));
        Assert.Equal(1f, o[Array.IndexOf(x, float.PositiveInfinity)]);
        Assert.Equal(-1f, o[Array.IndexOf(x, float.NegativeInfinity)]);
        Assert.True(float.IsNaN(o[Array.FindIndex(x, float.IsNaN)]));
    }

    [Fact]
    public void IsOddAndMonotone()
    {
        var x = new float[4097];
        for (int i = 0; i < x.Length; i++) x[i] = -4.5f + 9f * i / (x.Length - 1);
        var o = new float[x.Length];
        ErfFloat.Run(x, o);
        for (int i = 1; i < x.Length; i++) Assert.True(o[i] >= o[i - 1], $"erf not monotone at {x[i]}");
        for (int i = 0; i < x.Length; i++) Assert.Equal(-o[i], o[x.Length - 1 - i]);
    }
}
