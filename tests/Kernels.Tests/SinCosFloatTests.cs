namespace Mlx.Kernels.Tests;

/// <summary>The vectorized float32 sine and cosine against double precision, from tiny angles to 2^24 and beyond.</summary>
public class SinCosFloatTests
{
    private static float[] Inputs()
    {
        var xs = new List<float>();
        var rng = new System.Random(23);
        // Every exponent from 2^-30 to 2^30 with random mantissas and both signs.
        for (int e = 97; e < 157; e++)
            for (int k = 0; k < 300; k++)
                xs.Add(BitConverter.Int32BitsToSingle((e << 23) | rng.Next(0, 1 << 23)) * (k % 2 == 0 ? 1 : -1));
        // The floats nearest to multiples of pi/2 (sin or cos nearly 0: the reduction must keep every bit), up to 10^6.
        foreach (double m in new double[] { 1, 2, 3, 4, 5, 10, 100, 1000, 12345, 100000, 654321, 1e6, 1e7 })
        {
            float c = (float)(m * Math.PI / 2);
            for (int d = -3; d <= 3; d++) xs.Add(BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(c) + d));
        }
        // RoPE-like angles: positions times geometric frequencies.
        for (int p = 0; p < 40000; p += 997)
            for (int f = 0; f < 32; f++)
                xs.Add((float)(p * Math.Pow(10000, -f / 32.0)));
        xs.AddRange(new[] { 0f, -0f, float.Epsilon, -float.Epsilon, 16777215f, 16777216f, -16777216f, 3e9f, float.MaxValue,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1f });
        xs.Add(0.5f); // a tail after the vectors
        return xs.ToArray();
    }

    [Fact]
    public void SineWithinTwoUlp()
    {
        var x = Inputs();
        Assert.NotEqual(0, x.Length % 8);
        var o = new float[x.Length];
        SinCosFloat.Sin(x, o);
        Ulp.AssertWithin("sin", x, o, Math.Sin);
        int minusZero = Array.FindIndex(x, v => BitConverter.SingleToInt32Bits(v) == int.MinValue);
        Assert.True(float.IsNegative(o[minusZero]) && o[minusZero] == 0, "sin(-0) = -0");
        Assert.True(float.IsNaN(o[Array.IndexOf(x, float.PositiveInfinity)]));
    }

    [Fact]
    public void CosineWithinTwoUlp()
    {
        var x = Inputs();
        var o = new float[x.Length];
        SinCosFloat.Cos(x, o);
        Ulp.AssertWithin("cos", x, o, Math.Cos);
        Assert.Equal(1f, o[Array.IndexOf(x, 0f)]);
        Assert.True(float.IsNaN(o[Array.IndexOf(x, float.NaN)]));
    }
}
