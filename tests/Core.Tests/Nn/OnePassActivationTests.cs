namespace Mlx.Core.Tests.Nn;

/// <summary>silu and the gelus as one-pass CPU nodes: dtypes, views, transforms, gradients by finite differences.</summary>
public class OnePassActivationTests
{
    private static readonly (string Name, Func<MxArray, MxArray> F, Func<double, double> Exact)[] Fns =
    {
        ("Silu", Mlx.Nn.Nn.Silu, x => x / (1 + Math.Exp(-x))),
        ("Gelu", Mlx.Nn.Nn.Gelu, x => x * 0.5 * (1 + MathNet.Numerics.SpecialFunctions.Erf(x / Math.Sqrt(2)))),
        ("GeluApprox", Mlx.Nn.Nn.GeluApprox, x => x * 0.5 * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))),
        ("GeluFastApprox", Mlx.Nn.Nn.GeluFastApprox, x => x / (1 + Math.Exp(-1.702 * x))),
    };

    [Fact]
    public void DtypesViewsAndTransforms()
    {
        var r = new System.Random(3);
        var v = Enumerable.Range(0, 9 * 11).Select(_ => r.NextDouble() * 8 - 4).ToArray();
        var x64 = Mx.Array(v, new[] { 9, 11 });
        foreach (var (name, f, exact) in Fns)
        {
            Assert.Equal(name, f(x64).Primitive!.Name);
            // float64: the exact formulas.
            var d = f(x64).ToArray<double>();
            for (int i = 0; i < v.Length; i++) Assert.True(Math.Abs(d[i] - exact(v[i])) <= 1e-12 * (1 + Math.Abs(d[i])), $"{name} float64 [{i}]");
            // A transposed float32 view, and the half types through float32.
            var t = f(Mx.Transpose(Mx.AsType(x64, DType.Float32))).ToArray<float>();
            for (int a = 0; a < 11; a++)
                for (int b = 0; b < 9; b++)
                    Assert.True(Math.Abs(t[a * 9 + b] - exact(v[b * 11 + a])) <= 2e-6, $"{name} view [{a},{b}]");
            foreach (var dt in new[] { DType.Float16, DType.BFloat16 })
            {
                var h = f(Mx.AsType(x64, dt));
                Assert.Equal(dt, h.DType);
                var hv = Mx.AsType(h, DType.Float64).ToArray<double>();
                var hx = Mx.AsType(Mx.AsType(x64, dt), DType.Float64).ToArray<double>();
                for (int i = 0; i < v.Length; i++) Assert.True(Math.Abs(hv[i] - exact(hx[i])) <= 1e-2 * (1 + Math.Abs(hv[i])), $"{name} {dt} [{i}]");
            }
            // Gradient against central differences (float64), JVP against the VJP (the Jacobian is diagonal), vmap.
            var g = Mx.Grad(a => Mx.Sum(f(a)))(x64).ToArray<double>();
            for (int i = 0; i < v.Length; i += 5)
            {
                double numeric = (exact(v[i] + 1e-6) - exact(v[i] - 1e-6)) / 2e-6;
                Assert.True(Math.Abs(numeric - g[i]) <= 1e-6 * (1 + Math.Abs(numeric)), $"{name}' at {v[i]}: {g[i]} vs {numeric}");
            }
            var (_, jvp) = Mx.Jvp(a => new[] { f(a[0]) }, new[] { x64 }, new[] { Mx.OnesLike(x64) });
            var jv = jvp[0].ToArray<double>();
            for (int i = 0; i < v.Length; i++) Assert.True(Math.Abs(jv[i] - g[i]) <= 1e-12 * (1 + Math.Abs(g[i])), $"{name} jvp [{i}]");
            Assert.Equal(d, Mx.Vmap(f)(x64).ToArray<double>());
        }
        // Integer input: the composition, promoted as before.
        Assert.Equal(DType.Float32, Mlx.Nn.Nn.Gelu(Mx.Array(new[] { 1, 2 })).DType);
    }
}
