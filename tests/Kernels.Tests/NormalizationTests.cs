namespace Mlx.Kernels.Tests;

/// <summary>The row normalization kernels against statistics in double, on every ISA path the suite runs under.</summary>
public unsafe class NormalizationTests
{
    [Theory]
    [InlineData(1, 0.0)]
    [InlineData(7, 0.0)]
    [InlineData(8, 0.0)]
    [InlineData(9, 3.0)]
    [InlineData(33, 0.0)]
    [InlineData(1031, 1e4)]
    public void LayerNormAndRmsNormRows(int n, double offset)
    {
        const int rows = 5;
        var r = new System.Random(n);
        var x = Enumerable.Range(0, rows * n).Select(_ => (float)(offset + r.NextDouble() * 2 - 1)).ToArray();
        var w = Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() + 0.5)).ToArray();
        var b = Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() - 0.5)).ToArray();
        foreach (var (useW, useB) in new[] { (true, true), (true, false), (false, true), (false, false) })
        {
            var y = new float[x.Length];
            var yr = new float[x.Length];
            fixed (float* px = x, pw = w, pb = b, py = y, pr = yr)
            {
                Normalization.LayerNormRows(px, useW ? pw : null, useB ? pb : null, py, rows, n, 1e-5f);
                Normalization.RmsNormRows(px, useW ? pw : null, pr, rows, n, 1e-5f);
            }
            for (int row = 0; row < rows; row++)
            {
                var v = x.Skip(row * n).Take(n).Select(f => (double)f).ToArray();
                double mean = v.Average(), var = v.Average(t => (t - mean) * (t - mean)), ms = v.Average(t => t * t);
                for (int i = 0; i < n; i++)
                {
                    double want = (v[i] - mean) / Math.Sqrt(var + 1e-5) * (useW ? w[i] : 1) + (useB ? b[i] : 0);
                    Assert.True(Math.Abs(want - y[row * n + i]) <= 3e-6 * (1 + Math.Abs(want)), $"layer norm [{row}, {i}]: {y[row * n + i]} vs {want}");
                    double wantR = v[i] / Math.Sqrt(ms + 1e-5) * (useW ? w[i] : 1);
                    Assert.True(Math.Abs(wantR - yr[row * n + i]) <= 3e-6 * (1 + Math.Abs(wantR)), $"rms norm [{row}, {i}]: {yr[row * n + i]} vs {wantR}");
                }
            }
        }
    }
}
