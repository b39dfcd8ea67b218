namespace Mlx.Kernels.Tests;

/// <summary>The vectorized float32 sigmoid and tanh against double precision over their whole range.</summary>
public class SigmoidTanhFloatTests
{
    private static float[] Points()
    {
        var xs = new List<float>();
        for (double v = -100; v <= 100; v += 0.00731) xs.Add((float)v);
        for (double v = 1e-30; v < 2; v *= 1.21) { xs.Add((float)v); xs.Add((float)-v); }
        for (int k = -64; k <= 64; k++) { xs.Add(BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(0.625f) + k)); xs.Add(-xs[^1]); }
        var rng = new System.Random(13);
        for (int i = 0; i < 100_000; i++) xs.Add((float)(rng.NextDouble() * 24 - 12));
        xs.AddRange(new[] { 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, float.MinValue, float.Epsilon, -float.Epsilon });
        xs.Add(0.3f); // a tail after the vectors
        return xs.ToArray();
    }

    [Fact]
    public void TanhIsWithinTwoUlpAndOdd()
    {
        var x = Points();
        Assert.NotEqual(0, x.Length % 8);
        var o = new float[x.Length];
        SigmoidTanhFloat.Tanh(x, o);
        for (int i = 0; i < x.Length; i++)
        {
            float want = float.IsNaN(x[i]) ? float.NaN : (float)Math.Tanh(x[i]);
            Assert.True(Ulp.Distance(o[i], want) <= 2, $"tanh({x[i]:R}) = {o[i]:R}, want {want:R}");
            Assert.True(Ulp.Distance(SigmoidTanhFloat.Tanh(x[i]), want) <= 2, $"scalar tanh({x[i]:R}) = {SigmoidTanhFloat.Tanh(x[i]):R}, want {want:R}");
        }
        Assert.True(float.IsNegative(o[Array.FindIndex(x, v => v == 0 && float.IsNegative(v))]));
        Assert.Equal(1f, o[Array.IndexOf(x, float.PositiveInfinity)]);
        Assert.Equal(-1f, o[Array.IndexOf(x, float.NegativeInfinity)]);
    }

    [Fact]
    public void SigmoidIsWithinThreeUlp()
    {
        var x = Points();
        var o = new float[x.Length];
        SigmoidTanhFloat.Sigmoid(x, o);
        for (int i = 0; i < x.Length; i++)
        {
            double exact = 1 / (1 + Math.Exp(-(double)x[i]));
            float want = float.IsNaN(x[i]) ? float.NaN : (float)exact;
            // Where the exact value is subnormal, exp(-x) is near or past overflow: absolute accuracy only (0 past -88.72).
            if (exact < 1.1754944e-38) Assert.True(Math.Abs(o[i] - exact) <= 1.2e-38, $"sigmoid({x[i]:R}) = {o[i]:R}, exact {exact}");
            else Assert.True(Ulp.Distance(o[i], want) <= 3, $"sigmoid({x[i]:R}) = {o[i]:R}, want {want:R}");
        }
        Assert.Equal(1f, o[Array.IndexOf(x, float.PositiveInfinity)]);
        Assert.Equal(0f, o[Array.IndexOf(x, float.NegativeInfinity)]);
        Assert.Equal(0.5f, o[Array.IndexOf(x, 0f)]);
    }
}
