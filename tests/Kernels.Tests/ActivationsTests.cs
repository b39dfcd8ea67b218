namespace Mlx.Kernels.Tests;

/// <summary>The one-pass activations against their formulas in double (gelu with the exact erf), on every ISA path.</summary>
public class ActivationsTests
{
    private static double Exact(ActivationFn fn, double x) => fn switch
    {
        ActivationFn.Silu => x / (1 + Math.Exp(-x)),
        ActivationFn.Gelu => x * 0.5 * (1 + MathNet.Numerics.SpecialFunctions.Erf(x / Math.Sqrt(2))),
        ActivationFn.GeluApprox => x * 0.5 * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        _ => x / (1 + Math.Exp(-1.702 * x)),
    };

    [Theory]
    [InlineData(ActivationFn.Silu)]
    [InlineData(ActivationFn.Gelu)]
    [InlineData(ActivationFn.GeluApprox)]
    [InlineData(ActivationFn.GeluFastApprox)]
    public void MatchTheFormulas(ActivationFn fn)
    {
        var xs = new List<float>();
        for (double v = -12; v <= 12; v += 0.00417) xs.Add((float)v);
        for (double v = 1e-20; v < 1; v *= 1.9) { xs.Add((float)v); xs.Add((float)-v); }
        xs.AddRange(new[] { 0f, -0f, 30f, -30f, 80f, -80f, float.NaN });
        var x = xs.ToArray();
        var o = new float[x.Length];
        Activations.Run(fn, x, o);
        for (int i = 0; i < x.Length; i++)
        {
            double want = Exact(fn, x[i]);
            if (double.IsNaN(want)) { Assert.True(float.IsNaN(o[i]), $"{fn}({x[i]}) = {o[i]}, want NaN"); continue; }
            // The gelus compute x/2 (1 + f) with f near -1 for negative x: the sum's rounding (an ulp of 1, 6e-8) and
            // gelu's erf (MLX's float approximation, absolute error 1.5e-7) scale by |x|/2; sigmoids are 3 ulp.
            double tol = (fn == ActivationFn.Gelu ? 1.5e-7 : 1e-7) * Math.Abs(x[i]) + 8e-7 * Math.Abs(want) + 1e-37;
            Assert.True(Math.Abs(o[i] - want) <= tol, $"{fn}({x[i]:R}) = {o[i]:R}, want {want:R}");
            Assert.True(Math.Abs(Activations.Apply(fn, x[i]) - want) <= tol, $"scalar {fn}({x[i]:R}) = {Activations.Apply(fn, x[i]):R}, want {want:R}");
        }
    }
}
