using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

/// <summary>Shared helpers for the layer tests: float64 arrays, parameter setting, finite differences.</summary>
internal static class L
{
    public static MxArray A(double[] data, params int[] shape) => Mx.Array(data, shape);

    public static void Set(Module m, string name, double[] data, params int[] shape) =>
        m.Update(new Dictionary<string, MxArray> { [name] = Mx.Array(data, shape) });

    /// <summary>Sets every parameter of <paramref name="m"/> to deterministic float64 values; returns them by name.</summary>
    public static Dictionary<string, double[]> Randomize(Module m, int seed, double lo = -1, double hi = 1)
    {
        var result = new Dictionary<string, double[]>();
        var updates = new Dictionary<string, MxArray>();
        int s = seed;
        foreach (var (k, v) in m.Parameters())
        {
            var data = H.Rand((int)v.Size, s++, lo, hi);
            result[k] = data;
            updates[k] = Mx.Array(data, v.Shape);
        }
        m.Update(updates);
        return result;
    }

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>Checks d f / d x against central differences (float64).</summary>
    public static void CheckGrad(Func<MxArray, MxArray> f, double[] x, int[] shape, double tol = 1e-6, double h = 1e-6)
    {
        var analytic = Mx.Grad(f)(Mx.Array(x, shape)).ToArray<double>();
        Assert.Equal(x.Length, analytic.Length);
        for (int i = 0; i < x.Length; i++)
        {
            var xp = (double[])x.Clone();
            var xm = (double[])x.Clone();
            xp[i] += h;
            xm[i] -= h;
            double numeric = (f(Mx.Array(xp, shape)).Item<double>() - f(Mx.Array(xm, shape)).Item<double>()) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic[i]) <= tol * (1 + Math.Abs(numeric)), $"element {i}: numeric {numeric} vs analytic {analytic[i]}");
        }
    }
}
