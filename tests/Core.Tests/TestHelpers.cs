using System.Globalization;

namespace Mlx.Core.Tests;

/// <summary>Shared comparisons and deterministic data for the Core op tests.</summary>
internal static class H
{
    /// <summary>Sizes that cross SIMD widths and tails.</summary>
    public static readonly int[] OddSizes = { 0, 1, 7, 17, 33, 1023 };

    public static IEnumerable<object[]> OddSizeData() => OddSizes.Select(n => new object[] { n });

    /// <summary>Deterministic values in [lo, hi).</summary>
    public static double[] Rand(int n, int seed = 1, double lo = -2, double hi = 2)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => lo + (hi - lo) * r.NextDouble()).ToArray();
    }

    public static float[] RandF(int n, int seed = 1, double lo = -2, double hi = 2) => Rand(n, seed, lo, hi).Select(v => (float)v).ToArray();

    public static float[] F(params double[] v) => v.Select(x => (float)x).ToArray();

    /// <summary>Asserts |actual - expected| <= atol + rtol * |expected| elementwise; NaN matches NaN; infinities match exactly.</summary>
    public static void Close(IReadOnlyList<double> expected, IReadOnlyList<double> actual, double rtol = 1e-5, double atol = 1e-6, string? what = null)
    {
        Assert.True(expected.Count == actual.Count, $"{what}: length {actual.Count}, expected {expected.Count}");
        for (int i = 0; i < expected.Count; i++)
        {
            double e = expected[i], a = actual[i];
            bool ok = double.IsNaN(e) ? double.IsNaN(a)
                : double.IsInfinity(e) ? e == a
                : Math.Abs(a - e) <= atol + rtol * Math.Abs(e);
            if (!ok)
            {
                Assert.Fail(string.Create(CultureInfo.InvariantCulture, $"{what} element {i}: expected {e:R}, got {a:R} (rtol {rtol}, atol {atol})"));
            }
        }
    }

    /// <summary>Compares an array (evaluated and read as float64) with expected values.</summary>
    public static void Close(IReadOnlyList<double> expected, MxArray actual, double rtol = 1e-5, double atol = 1e-6, string? what = null) =>
        Close(expected, actual.ToArray<double>(), rtol, atol, what);

    public static void Close(IReadOnlyList<float> expected, MxArray actual, double rtol = 1e-5, double atol = 1e-6, string? what = null) =>
        Close(expected.Select(v => (double)v).ToArray(), actual.ToArray<double>(), rtol, atol, what);

    /// <summary>Tolerances that suit each float dtype's precision.</summary>
    public static (double Rtol, double Atol) Tol(DType t) => t switch
    {
        DType.Float16 => (2e-3, 2e-3),
        DType.BFloat16 => (1.6e-2, 1.6e-2),
        DType.Float64 => (1e-12, 1e-12),
        _ => (2e-6, 1e-6),
    };

    /// <summary>Values rounded through a dtype, as the array would hold them.</summary>
    public static double[] RoundTo(IEnumerable<double> v, DType t) => t switch
    {
        DType.Float16 => v.Select(x => (double)(Half)x).ToArray(),
        DType.BFloat16 => v.Select(x => (double)(float)(BFloat16)(float)x).ToArray(),
        DType.Float32 => v.Select(x => (double)(float)x).ToArray(),
        _ => v.ToArray(),
    };

    public static void Shape(int[] expected, MxArray a) => Assert.Equal(expected, a.Shape);

    /// <summary>The same values as <paramref name="data"/> of shape (n,), but held reversed in memory and read through a negative-step view.</summary>
    public static MxArray ReversedView<T>(T[] data) where T : unmanaged
    {
        var rev = data.Reverse().ToArray();
        var a = Mx.Array(rev);
        var v = a[Idx.Slice(null, null, -1)];
        return v;
    }

    /// <summary>A (rows, cols) array whose memory is column-major: the transpose of a row-major (cols, rows) array.</summary>
    public static MxArray TransposedView(double[] rowMajor, int rows, int cols, DType dtype = DType.Float32)
    {
        var t = new double[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                t[j * rows + i] = rowMajor[i * cols + j];
        return Mx.Transpose(Mx.Array(t, new[] { cols, rows }, dtype));
    }
}
