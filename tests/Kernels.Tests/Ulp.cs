namespace Mlx.Kernels.Tests;

internal static class Ulp
{
    /// <summary>How many floats lie between a and b (0 when equal, -0 and +0 included; NaN only matches NaN).</summary>
    public static long Distance(float a, float b)
    {
        if (float.IsNaN(a) || float.IsNaN(b)) return float.IsNaN(a) && float.IsNaN(b) ? 0 : long.MaxValue;
        if (a == b) return 0;
        int ia = BitConverter.SingleToInt32Bits(a), ib = BitConverter.SingleToInt32Bits(b);
        long la = ia < 0 ? int.MinValue - (long)ia : ia, lb = ib < 0 ? int.MinValue - (long)ib : ib;
        return Math.Abs(la - lb);
    }

    /// <summary>Asserts o[i] is within <paramref name="ulps"/> of <paramref name="exact"/>(x[i]) rounded to float, for every i.</summary>
    public static void AssertWithin(string name, float[] x, float[] o, Func<double, double> exact, int ulps = 2)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float want = (float)exact(x[i]);
            Assert.True(Distance(o[i], want) <= ulps, $"{name}({x[i]:R}) = {o[i]:R}, want {want:R}");
        }
    }
}
