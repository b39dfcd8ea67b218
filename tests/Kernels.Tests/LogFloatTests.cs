namespace Mlx.Kernels.Tests;

/// <summary>The vectorized float32 log against double precision over the whole float range.</summary>
public class LogFloatTests
{
    [Fact]
    public void WithinTwoUlpFromSubnormalsToInfinity()
    {
        var xs = new List<float>();
        // Every exponent (subnormals included), with mantissas spread over [1, 2), and the seam at sqrt(1/2).
        var rng = new System.Random(17);
        for (int e = 0; e < 255; e++)
            for (int k = 0; k < 200; k++)
                xs.Add(BitConverter.Int32BitsToSingle((e << 23) | rng.Next(0, 1 << 23)));
        for (int k = -200; k <= 200; k++) xs.Add(BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(0.70710678f) + k));
        for (int k = -200; k <= 200; k++) xs.Add(1f + k * 1e-7f);
        xs.AddRange(new[] { 0f, -0f, -1f, float.Epsilon, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1f, 2f, 0.5f });
        xs.Add(3f); // a tail after the vectors
        var x = xs.ToArray();
        Assert.NotEqual(0, x.Length % 8);
        var o = new float[x.Length];
        LogFloat.Run(x, o);
        Ulp.AssertWithin("log", x, o, Math.Log);
        Assert.Equal(float.NegativeInfinity, o[xs.IndexOf(0f)]);
        Assert.Equal(0f, o[xs.IndexOf(1f)]);
        Assert.True(float.IsNaN(o[xs.IndexOf(-1f)]));
        Assert.Equal(float.PositiveInfinity, o[xs.IndexOf(float.PositiveInfinity)]);
    }
}
